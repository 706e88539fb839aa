package dev.cairn.block;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.WeakHashMap;
import java.util.function.Consumer;

/**
 * The hung-I/O detector (like the kernel's hung-task detector): a daemon thread that wakes four times
 * per threshold, advances the submitter's coarse clock, and reports threads that have waited in a
 * blocking primitive longer than the threshold, and pooled bios in flight longer than it. Each stuck
 * wait is reported once. It turns a deadlock into a diagnosis instead of a silent hang.
 *
 * <p>Thread safety: runs on its own thread; reads only concurrent collections and racy diagnostic fields.
 */
final class Watchdog implements AutoCloseable {
    private final Submitter submitter;
    private final long thresholdNanos;
    private final long periodMillis;
    private final Consumer<WatchdogReport> reporter;
    private final Set<ParkRecord> reported = Collections.newSetFromMap(new WeakHashMap<>());
    private volatile boolean stopped;
    private volatile long reports; // written by the watchdog thread only
    private Thread thread;

    Watchdog(Submitter submitter, Duration threshold, Consumer<WatchdogReport> reporter) {
        this.submitter = submitter;
        this.thresholdNanos = threshold.toNanos();
        this.periodMillis = Math.max(1, threshold.toMillis() / 4);
        this.reporter = reporter;
    }

    void start() {
        thread = Thread.ofPlatform().daemon().name("cairn-watchdog-" + submitter.name()).start(this::run);
    }

    private void run() {
        long lastBioReportTick = -1;
        while (!stopped) {
            try {
                Thread.sleep(periodMillis);
            } catch (InterruptedException e) {
                return;
            }
            long tick = ++submitter.tick;
            long now = System.nanoTime();
            List<WatchdogReport.StuckThread> stuck = new ArrayList<>();
            for (ParkRecord r : submitter.parkedThreads()) {
                long waited = now - r.sinceNanos();
                if (waited >= thresholdNanos && reported.add(r)) {
                    stuck.add(describe(r, waited));
                }
            }
            List<String> bios = new ArrayList<>();
            long oldTick = tick - 4;
            if (oldTick > lastBioReportTick) {
                for (BioSet set : submitter.bioSets()) {
                    bios.addAll(set.inUseSince(oldTick));
                }
                if (!bios.isEmpty()) {
                    lastBioReportTick = tick;
                }
            }
            if (!stuck.isEmpty() || !bios.isEmpty()) {
                reports++;
                try {
                    reporter.accept(new WatchdogReport(submitter.name(), thresholdNanos / 1_000_000, stuck, bios));
                } catch (RuntimeException e) {
                    System.getLogger("dev.cairn.block.Watchdog").log(System.Logger.Level.ERROR, "watchdog reporter failed", e);
                }
            }
        }
    }

    /** Reports made so far. */
    long reportCount() {
        return reports;
    }

    private static WatchdogReport.StuckThread describe(ParkRecord r, long waitedNanos) {
        List<String> stack = new ArrayList<>();
        for (StackTraceElement e : r.thread().getStackTrace()) {
            stack.add(e.toString());
            if (stack.size() == 24) {
                break;
            }
        }
        return new WatchdogReport.StuckThread(r.thread().getName(), r.thread().getState().toString(),
                r.primitive().describe(), r.primitive().describeHolders(), waitedNanos / 1_000_000, r.parkedBios(), stack);
    }

    @Override
    public void close() {
        stopped = true;
        if (thread != null) {
            thread.interrupt();
        }
    }
}
