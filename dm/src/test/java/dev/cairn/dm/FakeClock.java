package dev.cairn.dm;

import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * An {@link InstantSource} that moves only when the test says so, and counts how often it was read (so a test
 * can wait until a thread that polls the clock has seen a new time). Thread-safe.
 */
public final class FakeClock implements InstantSource {
    private final AtomicReference<Instant> now = new AtomicReference<>(Instant.parse("2025-01-01T00:00:00Z"));

    private final AtomicLong reads = new AtomicLong();

    @Override
    public Instant instant() {
        reads.incrementAndGet();
        return now.get();
    }

    /** How often {@link #instant()} was called so far. */
    public long reads() {
        return reads.get();
    }

    public void advance(Duration d) {
        now.updateAndGet(i -> i.plus(d));
    }
}
