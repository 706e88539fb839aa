package dev.cairn.dm;

import dev.cairn.block.Bio;
import dev.cairn.block.BioEndIo;
import dev.cairn.block.BioStatus;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * The per-bio target context of one clone (Linux {@code struct dm_target_io} plus per-bio data),
 * owned by dm core. Find it with {@link #of(Bio)}; it stays valid until the piece is finished, even
 * after the clone itself has gone back to its pool (so a target that returned
 * {@link EndIoResult#KEEP} can still {@link #finish} it later).
 *
 * <p>It is also the clone's end-io callback, which is why a target must never replace the clone's
 * end-io: dm core finds the context, runs {@link Target#endIo} and accounts the piece through it.
 *
 * <p>Thread safety: {@link #data()}/{@link #setData} are plain fields handed over with the clone
 * (submission and completion are happens-before edges); {@link #finish} may be called from any thread,
 * once.
 */
public final class TargetIo implements BioEndIo {
    private static final VarHandle FINISHED;

    static {
        try {
            FINISHED = MethodHandles.lookup().findVarHandle(TargetIo.class, "finished", boolean.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final DmIo io;
    private final TableTarget target;
    private final int leg;
    private Object data;
    /** Set when dm core ends the clone itself (Kill, Requeue): its completion must not reach endIo. */
    private BioStatus override;
    private boolean requeue;
    /** Sectors the target accepted through {@link #acceptPartial}, or -1. */
    private int accepted = -1;
    private boolean mapping;
    @SuppressWarnings("unused") // through FINISHED
    private volatile boolean finished;

    /** False for flush and multi-leg clones, which must be taken whole. */
    private final boolean partialAllowed;

    TargetIo(DmIo io, TableTarget target, int leg, boolean partialAllowed) {
        this.io = io;
        this.target = target;
        this.leg = leg;
        this.partialAllowed = partialAllowed;
    }

    /** The context of a clone dm core handed to {@link Target#map} or {@link Target#endIo}. */
    public static TargetIo of(Bio clone) {
        if (clone.endIo() instanceof TargetIo t) {
            return t;
        }
        throw new IllegalArgumentException("bio: " + clone + " (expected: a dm clone with its end-io untouched)");
    }

    /** The target this clone was mapped by. */
    public Target target() {
        return target.target();
    }

    /** The target's context (begin sector, length, devices). */
    public TargetContext context() {
        return target.context();
    }

    /**
     * Which leg this clone is for: {@code 0 .. numFlushBios()-1} for an empty flush,
     * {@code 0 .. numDiscardBios()-1} for DISCARD and WRITE_ZEROES, 0 for everything else.
     */
    public int leg() {
        return leg;
    }

    /**
     * The bio dm core received, for its operation and flags. It describes the whole request (the clone
     * may be a piece of it); never complete or change it.
     */
    public Bio original() {
        return io.received();
    }

    /** Whatever the target stored for this clone, or null. */
    @SuppressWarnings("unchecked")
    public <T> T data() {
        return (T) data;
    }

    public void setData(Object data) {
        this.data = data;
    }

    /**
     * From inside {@link Target#map} only: the target takes only the first {@code sectors} of the clone
     * (Linux {@code dm_accept_partial_bio}); dm core trims the clone and maps the rest as a new piece.
     * Not allowed for flushes or fanned-out discards.
     */
    public void acceptPartial(Bio clone, int sectors) {
        if (!mapping || !partialAllowed) {
            throw new IllegalStateException("acceptPartial: only inside map() of a data or single-leg piece");
        }
        if (sectors <= 0 || sectors > clone.sectors()) {
            throw new IllegalArgumentException("sectors: " + sectors + " (expected: in [1, " + clone.sectors() + "])");
        }
        clone.trim(0, sectors);
        accepted = sectors;
    }

    /**
     * Finishes a piece whose {@link Target#endIo} returned {@link EndIoResult#KEEP}. Exactly once.
     */
    public void finish(BioStatus status) {
        if (!FINISHED.compareAndSet(this, false, true)) {
            throw new IllegalStateException("piece finished twice: " + this);
        }
        io.pieceDone(status, false);
    }

    // ---------------------------------------------------------------- dm core side

    void beginMap() {
        mapping = true;
    }

    void endMap() {
        mapping = false;
    }

    int accepted() {
        return accepted;
    }

    /** Ends the clone without running the target's endIo: {@code status} (Kill) or a requeue. */
    void endWithoutTarget(Bio clone, BioStatus status, boolean requeue) {
        this.override = status;
        this.requeue = requeue;
        clone.complete(BioStatus.OK);
    }

    @Override
    public void endIo(Bio clone) {
        if (override != null) {
            FINISHED.setVolatile(this, true);
            io.pieceDone(override, requeue);
            return;
        }
        EndIoResult r;
        try {
            r = target.target().endIo(clone, clone.status());
        } catch (RuntimeException | Error e) {
            FINISHED.setVolatile(this, true);
            io.pieceDone(BioStatus.IOERR, false);
            throw e;
        }
        switch (r) {
            case EndIoResult.Done d -> {
                FINISHED.setVolatile(this, true);
                io.pieceDone(d.status(), false);
            }
            case EndIoResult.Requeue q -> {
                FINISHED.setVolatile(this, true);
                io.pieceDone(BioStatus.OK, true);
            }
            case EndIoResult.Keep k -> { }
        }
    }

    @Override
    public String toString() {
        return "TargetIo[" + target + " leg=" + leg + "]";
    }
}
