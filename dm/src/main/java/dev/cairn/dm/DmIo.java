package dev.cairn.dm;

import dev.cairn.block.Bio;
import dev.cairn.block.BioStatus;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * One bio dm core is working on (Linux {@code struct dm_io}): counts its pieces (clones) in flight,
 * keeps the first error, and when the last piece ends hands the result to the mapped device.
 *
 * <p>The count starts at 1, a guard held by the mapping thread while it creates pieces, so the io
 * cannot end before every piece has been mapped and {@link #original} is final.
 *
 * <p>Thread safety: pieces end concurrently; the count and status are atomic, and the decrement that
 * reaches zero sees every earlier write (the count is a volatile read-modify-write).
 */
final class DmIo {
    private static final VarHandle PENDING;
    private static final VarHandle STATUS;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            PENDING = l.findVarHandle(DmIo.class, "pending", int.class);
            STATUS = l.findVarHandle(DmIo.class, "status", BioStatus.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** What to do with the original once every piece has ended. */
    enum Stage {
        /** Complete the original. */
        DATA,
        /** This was the flush before a PREFLUSH data bio: on success, send the data on. */
        PREFLUSH
    }

    private final MappedDevice device;
    private final Bio received;
    private final Stage stage;
    /** The bio to end: the received one, or the split-off front under depth-first splitting. */
    Bio original;
    @SuppressWarnings("unused") // through PENDING
    private volatile int pending = 1;
    @SuppressWarnings("unused") // through STATUS
    private volatile BioStatus status = BioStatus.OK;
    private volatile boolean requeue;
    /** When the device received the bio, for its latency statistics. */
    final long startNanos = System.nanoTime();

    DmIo(MappedDevice device, Bio received, Stage stage) {
        this.device = device;
        this.received = received;
        this.original = received;
        this.stage = stage;
    }

    Bio received() {
        return received;
    }

    Stage stage() {
        return stage;
    }

    BioStatus status() {
        return status;
    }

    boolean requeued() {
        return requeue;
    }

    void addPiece() {
        PENDING.getAndAdd(this, 1);
    }

    void setError(BioStatus s) {
        if (!s.isOk()) {
            STATUS.compareAndSet(this, BioStatus.OK, s);
        }
    }

    /** One piece ended (or the mapping guard is dropped with OK). */
    void pieceDone(BioStatus s, boolean requeuePiece) {
        setError(s);
        if (requeuePiece) {
            requeue = true;
        }
        int before = (int) PENDING.getAndAdd(this, -1);
        if (before == 1) {
            device.ioDone(this);
        } else if (before < 1) {
            throw new AssertionError("dm io ended more often than it had pieces: " + received);
        }
    }
}
