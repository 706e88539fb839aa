package dev.cairn.dm.targets.delay;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.Extents;
import dev.cairn.block.IoMutex;
import dev.cairn.block.Submitter;
import dev.cairn.dm.DeviceRef;
import dev.cairn.dm.MapResult;
import dev.cairn.dm.ShiftRemap;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetContext;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;

/**
 * The delay target (Linux {@code dm-delay.c}). Each clone is remapped like linear to its class's
 * device (READ to the read class; a FLUSH or PREFLUSH to the flush class; every other write-type
 * operation to the write class). With a delay of 0 it goes down at once; otherwise {@code map} queues
 * it with a deadline from the injected clock and returns SUBMITTED, and a scheduler thread submits it
 * once the deadline has passed. Nothing ever sleeps in {@code map}.
 *
 * <p>Suspend: {@code presuspend} stops delaying and submits everything queued at once (so the suspend
 * can drain); {@code resume} starts delaying again.
 *
 * <p>Status: INFO is {@code <reads> <writes> <flushes>}, the bios of each class queued right now;
 * TABLE is the constructor arguments as given (3, 6 or 9).
 *
 * <p>The scheduler re-reads the injected clock at least every {@value #MAX_PARK_MILLIS} ms, so a test
 * that advances a fake clock sees queued bios released within that time.
 *
 * <p>Thread safety: the queues and counters are guarded by an {@link IoMutex}; bios are submitted
 * outside it. The scheduler's idle wait is a plain park: it runs outside any submission, so it has no
 * parked bios for the block layer's before-block hook to flush.
 */
final class DelayTarget implements Target {
    static final long MAX_PARK_MILLIS = 20;

    private final DelayConfig config;
    private final Klass read;
    private final Klass write;
    private final Klass flush;
    private final Submitter submitter;
    private final InstantSource clock;
    private final IoMutex lock;

    // guarded by lock
    private final ArrayDeque<Held> queue = new ArrayDeque<>();
    private boolean mayDelay = true;
    private boolean closed;

    private final Thread scheduler;

    /** One class: its remap and its delay; {@code ops} counts bios queued now (guarded by lock). */
    private static final class Klass {
        final ShiftRemap remap;
        final Duration delay;
        int ops;

        Klass(ShiftRemap remap, long delayMillis) {
            this.remap = remap;
            this.delay = Duration.ofMillis(delayMillis);
        }
    }

    private record Held(Bio bio, Klass klass, Instant deadline) {}

    DelayTarget(TargetContext ctx, DelayConfig config, DeviceRef readDev, DeviceRef writeDev, DeviceRef flushDev) {
        this.config = config;
        this.read = new Klass(new ShiftRemap(ctx, readDev, config.read().offsetSectors()), config.read().delayMillis());
        this.write = new Klass(new ShiftRemap(ctx, writeDev, config.write().offsetSectors()), config.write().delayMillis());
        this.flush = new Klass(new ShiftRemap(ctx, flushDev, config.flush().offsetSectors()), config.flush().delayMillis());
        this.submitter = ctx.submitter();
        this.clock = ctx.clock();
        this.lock = new IoMutex(submitter, "delay " + ctx);
        this.scheduler = Thread.ofPlatform().daemon().name("cairn-delay-" + ctx.deviceName() + "-" + ctx.lineNumber())
                .start(this::schedule);
    }

    @Override
    public MapResult map(Bio clone) {
        Klass k;
        if (clone.op() == BioOp.READ) {
            k = read;
        } else if (clone.op() == BioOp.FLUSH || clone.hasFlag(BioFlags.PREFLUSH)) {
            k = flush;
        } else {
            k = write;
        }
        k.remap.apply(clone);
        if (k.delay.isZero()) {
            return MapResult.REMAPPED;
        }
        Instant deadline = clock.instant().plus(k.delay);
        lock.lock();
        try {
            if (!mayDelay) {
                return MapResult.REMAPPED;
            }
            k.ops++;
            queue.addLast(new Held(clone, k, deadline));
        } finally {
            lock.unlock();
        }
        LockSupport.unpark(scheduler);
        return MapResult.SUBMITTED;
    }

    private void schedule() {
        while (true) {
            List<Bio> due = new ArrayList<>();
            long parkNanos;
            lock.lock();
            try {
                if (closed) {
                    return;
                }
                Instant now = clock.instant();
                Instant next = null;
                var it = queue.iterator();
                while (it.hasNext()) {
                    Held h = it.next();
                    if (!h.deadline().isAfter(now)) {
                        it.remove();
                        h.klass().ops--;
                        due.add(h.bio());
                    } else if (next == null || h.deadline().isBefore(next)) {
                        next = h.deadline();
                    }
                }
                long wait = next == null ? MAX_PARK_MILLIS * 1_000_000 : Duration.between(now, next).toNanos();
                parkNanos = Math.max(1, Math.min(wait, MAX_PARK_MILLIS * 1_000_000));
            } finally {
                lock.unlock();
            }
            for (Bio b : due) {
                submitter.submit(b);
            }
            if (due.isEmpty()) {
                LockSupport.parkNanos(this, parkNanos);
            }
        }
    }

    /** Submits every queued bio now, in arrival order (presuspend and close). */
    private void flushAll(boolean stopDelaying, boolean close) {
        List<Bio> all = new ArrayList<>();
        lock.lock();
        try {
            if (stopDelaying) {
                mayDelay = false;
            }
            if (close) {
                closed = true;
            }
            for (Held h : queue) {
                h.klass().ops--;
                all.add(h.bio());
            }
            queue.clear();
        } finally {
            lock.unlock();
        }
        for (Bio b : all) {
            submitter.submit(b);
        }
    }

    @Override
    public void presuspend() {
        flushAll(true, false);
    }

    @Override
    public void resume() {
        lock.lock();
        try {
            mayDelay = true;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void close() {
        flushAll(true, true);
        LockSupport.unpark(scheduler);
    }

    @Override
    public String statusInfo() {
        lock.lock();
        try {
            return read.ops + " " + write.ops + " " + flush.ops;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public String statusTable() {
        return config.toTable();
    }

    @Override
    public void iterateDevices(DeviceVisitor visitor) {
        DeviceRef r = read.remap.device();
        DeviceRef w = write.remap.device();
        read.remap.visit(visitor);
        if (w != r) {
            write.remap.visit(visitor);
        }
        if (flush.remap.device() != w && flush.remap.device() != r) {
            flush.remap.visit(visitor);
        }
    }

    @Override
    public void queryExtents(long sector, long sectors, Extents.Sink sink) {
        read.remap.queryExtents(sector, sectors, sink);
    }
}
