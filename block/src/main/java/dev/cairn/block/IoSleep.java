package dev.cairn.block;

import java.time.Duration;
import java.util.concurrent.locks.LockSupport;

/**
 * Sleeping in driver code (Linux {@code msleep}): runs the submitter's block hook first, like any
 * other way of sleeping, and is aborted with {@link IoAbortedException} when the submitter shuts down.
 *
 * <p>Thread safety: stateless.
 */
public final class IoSleep {
    private IoSleep() {}

    /** Sleeps for {@code duration} (at least; a zero or negative duration only runs the hook). */
    public static void sleep(Submitter submitter, Duration duration) {
        Blocker blocker = new Blocker(duration);
        ParkRecord record = submitter.parkBegin(blocker);
        try {
            long deadline = System.nanoTime() + duration.toNanos();
            long left;
            while ((left = deadline - System.nanoTime()) > 0) {
                LockSupport.parkNanos(blocker, left);
                if (Thread.interrupted()) {
                    if (submitter.isShutdown()) {
                        throw new IoAbortedException("shut down while sleeping");
                    }
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        } finally {
            submitter.parkEnd(record);
        }
    }

    private record Blocker(Duration duration) implements ParkRecord.Blocker {
        @Override
        public String describe() {
            return "sleep " + duration.toMillis() + " ms";
        }

        @Override
        public String describeHolders() {
            return "-";
        }
    }
}
