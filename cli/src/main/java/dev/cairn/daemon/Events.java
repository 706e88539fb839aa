package dev.cairn.daemon;

import java.util.function.BooleanSupplier;

/**
 * Where {@code wait} requests sleep: woken after every change of the state and on cancellation, and
 * at least once a second so that events a target raises on its own are seen.
 *
 * <p>Thread safety: thread-safe (a monitor).
 */
final class Events {
    private final Object monitor = new Object();

    /** Wakes every waiter. */
    void signal() {
        synchronized (monitor) {
            monitor.notifyAll();
        }
    }

    /**
     * Waits until {@code done} holds, {@code check} throws (a cancelled or removed wait) or {@code deadlineNanos}
     * ({@link System#nanoTime}) passes; returns false on the deadline.
     */
    boolean await(BooleanSupplier done, Runnable check, long deadlineNanos) throws InterruptedException {
        synchronized (monitor) {
            while (!done.getAsBoolean()) {
                check.run();
                long left = deadlineNanos - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                monitor.wait(Math.max(1, Math.min(1000, left / 1_000_000)));
            }
            return true;
        }
    }
}
