package dev.cairn.block;

import java.time.Duration;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BooleanSupplier;

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
        SchedulingHook hook = submitter.hook;
        if (hook != null) {
            hook.beforeUse(blocker);
        }
        ParkRecord record = submitter.parkBegin(blocker);
        try {
            if (hook != null) {
                // Time passing is not modelled: a sleep only lets the other threads run first.
                hook.beforePark(blocker, () -> true);
            }
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

    /**
     * Sleeps in steps of {@code step} until {@code done} is true (a Linux {@code while (cond) msleep(n)}
     * loop): one wait as far as the watchdog is concerned, described by {@code what}, so a long polling
     * wait shows up in its reports instead of looking like many short sleeps. The block hook runs before
     * every step, as each {@code msleep} would. Returns at once when {@code done} is already true.
     */
    public static void until(Submitter submitter, BooleanSupplier done, Duration step, String what) {
        SchedulingHook hook = submitter.hook;
        if (hook != null) {
            hook.beforeUse("sleep-wait until " + what);
        }
        if (done.getAsBoolean()) {
            return;
        }
        ParkRecord.Blocker blocker = new Until(what);
        Parking.park(submitter, blocker, done, () -> {
            while (!done.getAsBoolean()) {
                Submitter.beforeBlock();
                LockSupport.parkNanos(blocker, step.toNanos());
                if (Thread.interrupted()) {
                    throw new InterruptedException();
                }
            }
            return true;
        });
    }

    private record Until(String what) implements ParkRecord.Blocker {
        @Override
        public String describe() {
            return "sleep-wait until " + what;
        }

        @Override
        public String describeHolders() {
            return "-";
        }

        @Override
        public String toString() {
            return describe();
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
