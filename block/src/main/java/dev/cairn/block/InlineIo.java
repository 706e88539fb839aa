package dev.cairn.block;

import java.util.concurrent.Callable;

/**
 * Marks a platform thread whose job is to issue I/O and wait for it, so a store may do a bio's blocking
 * system calls right on it instead of handing the bio to its worker threads (Linux: a process that
 * submits and then sleeps in the submission, rather than a context that must not sleep).
 *
 * <p>It saves two thread hand-offs per bio (to a worker and back to whoever waits for the end-io) where
 * nothing is lost by blocking: the NBD server's request loop while a client streams large writes runs on
 * a platform thread of its own, and the next request it would read is already waiting behind this one.
 * A store honours it only on platform threads ({@link #allowedHere}): a virtual thread blocked in a native
 * call holds its carrier.
 *
 * <p>Blocking here is a plain system call, not a block-layer primitive, so bios parked on the thread's
 * submission list wait for it rather than going to the rescuer. Stores therefore honour it only for I/O
 * that does not wait on other bios (a file's read or write), never for work that might.
 *
 * <p>Thread safety: a {@link ScopedValue}, bound per thread for the extent of {@link #call}.
 */
public final class InlineIo {
    private static final ScopedValue<Boolean> ALLOWED = ScopedValue.newInstance();

    private InlineIo() {}

    /** Runs {@code op} with inline blocking I/O allowed on this thread (if it is a platform thread). */
    public static <T> T call(Callable<T> op) throws Exception {
        return ScopedValue.where(ALLOWED, Boolean.TRUE).call(op::call);
    }

    /** True on a platform thread inside {@link #call}. */
    public static boolean allowedHere() {
        return ALLOWED.isBound() && !Thread.currentThread().isVirtual();
    }
}
