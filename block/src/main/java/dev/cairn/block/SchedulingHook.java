package dev.cairn.block;

import java.util.function.BooleanSupplier;

/**
 * Where a controlled-concurrency explorer takes over the scheduling of a submitter's threads. The block
 * layer's blocking primitives ({@link IoMutex}, {@link IoRwSemaphore}, {@link IoCompletion},
 * {@link IoSleep}, {@link BioSet#alloc()}) and the BioSet rescuer's wait for work are the only places where
 * driver code may sleep, so they are the scheduling points: each calls {@link #beforeUse} on entry (before
 * its fast path), and {@link #beforePark} once it has decided to park, after the submitter's block hook
 * has run (so bios punted to a rescuer are already there). A rescuer is announced with
 * {@link #threadStarting} before it starts.
 *
 * <p>Set with {@link SubmitterConfig#withSchedulingHook}; production leaves it null, and each primitive
 * then pays one read of a final field and a null check. A hook may delay the calling thread (that is its
 * purpose) but must not change what the primitive does: after {@link #beforePark} returns, the primitive
 * waits for real as it would have, which returns at once when the hook waited until {@code ready} held.
 *
 * <p>Thread safety: called from every thread that uses the submitter's primitives; implementations must be
 * thread-safe.
 */
public interface SchedulingHook {
    /**
     * The calling thread is about to use {@code primitive} (take a lock, wait for a completion, take a bio,
     * sleep), which may or may not block: another thread may be run first. Called before the fast path.
     */
    void beforeUse(Object primitive);

    /**
     * The calling thread is about to park in {@code primitive} and will go on once {@code ready} is true.
     * {@code ready} reads the primitive's state without changing it and may be called from any thread; while
     * no other thread of the submitter runs, a true answer means the real wait that follows returns at once.
     * A timed wait's timeout is not part of {@code ready}: a hook may treat timed waits as untimed.
     */
    void beforePark(Object primitive, BooleanSupplier ready);

    /** {@code thread}, which serves the submitter's I/O (a BioSet's rescuer), is about to be started. */
    void threadStarting(Thread thread);
}
