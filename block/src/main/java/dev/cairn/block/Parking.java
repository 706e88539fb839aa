package dev.cairn.block;

import java.util.function.BooleanSupplier;

/**
 * The slow path every blocking primitive shares once it has decided to park: the submitter's block
 * hook and watchdog registration ({@link Submitter#parkBegin}), then a wait that an interrupt does not
 * end (driver waits are uninterruptible, like Linux's D state) unless the submitter is shutting down,
 * which turns it into {@link IoAbortedException}. An interrupt that arrived meanwhile is restored.
 * With a {@link SchedulingHook}, the hook is told right before the wait ({@code ready}: would the wait
 * end now).
 *
 * <p>Thread safety: stateless.
 */
final class Parking {
    /** The actual wait: true when acquired or done, false when it timed out. */
    @FunctionalInterface
    interface Wait {
        boolean await() throws InterruptedException;
    }

    private Parking() {}

    /** {@code ready} is for the submitter's scheduling hook (may be null when it has none). */
    static boolean park(Submitter submitter, ParkRecord.Blocker blocker, BooleanSupplier ready, Wait wait) {
        ParkRecord record = submitter.parkBegin(blocker);
        boolean interrupted = false;
        try {
            SchedulingHook hook = submitter.hook;
            if (hook != null) {
                hook.beforePark(blocker, ready);
            }
            while (true) {
                try {
                    return wait.await();
                } catch (InterruptedException e) {
                    if (submitter.isShutdown()) {
                        throw new IoAbortedException("shut down while waiting in " + blocker.describe());
                    }
                    interrupted = true;
                }
            }
        } finally {
            submitter.parkEnd(record);
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
