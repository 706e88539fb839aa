package dev.cairn.dm;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioSet;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.Extents;
import dev.cairn.block.IoMutex;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.SpliceSink;
import dev.cairn.block.Submitter;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A device-mapper device (Linux {@code struct mapped_device}): a block device whose I/O goes through a
 * live table of targets. It also holds an inactive table loaded for the next resume.
 *
 * <h2>Implementation notes</h2>
 * <b>I/O path.</b> {@link #submitBio} counts the bio in flight, checks the gate (suspended, replaying)
 * and maps the bio through the live table: it splits at target boundaries and at each target's
 * {@link Target#maxIoSectors()}, makes one clone per piece from the device's clone {@link BioSet}
 * (so under FLUSH_ON_BLOCK a clone parked on a thread that blocks goes to the set's rescuer), and
 * hands each clone to its target. Under LEGACY and FLUSH_ON_BLOCK all pieces are mapped in one call
 * (Linux before 4.16); under DEPTH_FIRST only the first piece is mapped, the front is split off and
 * the rest is resubmitted, to be mapped after the first piece's whole subtree (Linux 4.16+). Empty
 * flushes fan out to every target and leg; a data bio with PREFLUSH is sent as that fan-out first and
 * as data (without PREFLUSH) from the device's worker once the flush succeeded.
 *
 * <p><b>Suspend.</b> Targets' {@code presuspend} runs, then the {@link SuspendGate} closes (new bios
 * are held in arrival order) and the suspender waits until the bios in flight have drained.
 *
 * <p><b>Resume.</b> The inactive table (if any) goes live, targets' {@code resume} runs, then the gate
 * opens and replays the held bios in order on the resuming thread, so everything held goes to the new
 * table and nothing overtakes it.
 *
 * <p>Thread safety: {@link #submitBio} and {@link #queryExtents} from any thread, concurrently.
 * Control operations (load, suspend, resume, message, status) are serialized by the control mutex, an
 * {@link IoMutex}; the gate has its own (see {@link SuspendGate}), so every wait in dm core goes through
 * the block layer's primitives.
 */
public final class MappedDevice implements BlockDevice {
    private static final System.Logger LOG = System.getLogger(MappedDevice.class.getName());
    private static final QueueLimits NO_TABLE = Table.STACKING;

    private final String name;
    private final DeviceRegistry registry;
    private final Submitter submitter;
    private final BioSet cloneSet;
    private final BioSet splitSet;
    private final DmWorker worker;
    private final IoMutex controlLock;
    /** Serializes suspend, resume and removal for their whole length (Linux's suspend_lock). */
    private final IoMutex suspendLock;
    private final IoStats ioStats = new IoStats();
    private final SuspendGate gate;

    // ---- I/O path state
    /** The live table; swapped only while suspended and drained. */
    private volatile Table live;
    /** Set while suspending or suspended; decides what a requeue does. */
    private volatile SuspendMode suspendMode;
    /** After a removal: the capacity the device had, so users still stacked on it get IOERR, not INVALID. */
    private volatile long removedCapacity;

    // ---- guarded by controlLock
    private Table inactive;
    private DeviceState state = DeviceState.ACTIVE;

    private final AtomicLong eventNumber = new AtomicLong();
    private final AtomicInteger opens = new AtomicInteger();

    MappedDevice(String name, DeviceRegistry registry, int cloneCapacity) {
        this.name = name;
        this.registry = registry;
        this.submitter = registry.submitter();
        this.cloneSet = submitter.newBioSet("dm-" + name + "-clone", cloneCapacity);
        this.splitSet = submitter.newBioSet("dm-" + name + "-split", 64);
        this.worker = new DmWorker(name, submitter);
        this.controlLock = new IoMutex(submitter, "dm " + name + " control");
        this.suspendLock = new IoMutex(submitter, "dm " + name + " suspend");
        this.gate = new SuspendGate(submitter, name);
    }

    // ================================================================ BlockDevice

    @Override
    public String name() {
        return name;
    }

    /** The live table's size; 0 without a live table. */
    @Override
    public long capacitySectors() {
        Table t = live;
        return t == null ? removedCapacity : t.capacitySectors();
    }

    /** The limits stacked from the live table's devices and targets. */
    @Override
    public QueueLimits limits() {
        Table t = live;
        return t == null ? NO_TABLE : t.limits();
    }

    @Override
    public void submitBio(Bio bio) {
        switch (gate.enter(bio)) {
            case ADMITTED -> { }
            case HELD -> {
                return;
            }
            case DEAD -> {
                // Completion runs the caller's end-io: never under a lock of ours (the gate returned first).
                bio.complete(BioStatus.IOERR);
                endInflight();
                return;
            }
        }
        Table t = live;
        if (t == null) {
            bio.complete(BioStatus.IOERR);
            endInflight();
            return;
        }
        BioOp op = bio.op();
        if (op == BioOp.FLUSH) {
            flushFanOut(bio, t, DmIo.Stage.DATA);
        } else if (bio.hasFlag(BioFlags.PREFLUSH) && bio.sizeBytes() > 0 && t.limits().writeCache()) {
            // Without a volatile cache below, a preflush has nothing to do (Linux drops the flag then too).
            flushFanOut(bio, t, DmIo.Stage.PREFLUSH);
        } else {
            mapData(bio, t);
        }
    }

    private void endInflight() {
        gate.exit();
    }

    // ---------------------------------------------------------------- mapping

    private void flushFanOut(Bio bio, Table t, DmIo.Stage stage) {
        DmIo io = new DmIo(this, bio, stage);
        int keep = bio.flags() & BioFlags.SYNC;
        for (int i = 0; i < t.size(); i++) {
            TableTarget tt = t.target(i);
            for (int leg = 0; leg < tt.numFlushBios; leg++) {
                Bio c = cloneSet.alloc();
                c.setDevice(this).setOp(BioOp.FLUSH).setFlags(keep).setSector(tt.beginSector);
                mapClone(io, tt, leg, c, false);
            }
        }
        io.pieceDone(BioStatus.OK, false);
    }

    private void mapData(Bio bio, Table t) {
        BioOp op = bio.op();
        boolean abnormal = op == BioOp.DISCARD || op == BioOp.WRITE_ZEROES;
        boolean depthFirst = submitter.policy().splitsDepthFirst() && Submitter.inSubmission();
        long start = bio.sector();
        int total = bio.sectors();
        int done = 0;
        DmIo io = null;
        while (done < total) {
            long sector = start + done;
            TableTarget tt = t.find(sector);
            int legs = abnormal ? tt.numDiscardBios : 1;
            boolean fanned = legs > 1;
            if (io == null) {
                io = new DmIo(this, bio, DmIo.Stage.DATA);
            }
            int len = (int) Math.min(total - done, tt.maxPieceSectors(sector, fanned));
            int accepted = len;
            if (legs == 0) {
                io.setError(BioStatus.NOTSUPP);
            }
            SpliceSink splice = tt.passesSpliceReads && op == BioOp.READ ? bio.spliceSink() : null;
            for (int leg = 0; leg < legs; leg++) {
                Bio c = bio.clone(cloneSet);
                c.trim(done, len);
                c.setSpliceSink(splice);
                int a = mapClone(io, tt, leg, c, !fanned);
                if (!fanned && a > 0) {
                    accepted = a;
                }
            }
            done += accepted;
            if (depthFirst && done < total) {
                // Linux 4.16+: the first piece goes down (and is handled completely) before the rest is mapped.
                io.original = bio.split(done, splitSet);
                submitter.submit(bio);
                break;
            }
        }
        io.pieceDone(BioStatus.OK, false);
    }

    /** Maps one clone and acts on the result; returns the sectors the target accepted (0 when all). */
    private int mapClone(DmIo io, TableTarget tt, int leg, Bio clone, boolean partialAllowed) {
        TargetIo tio = new TargetIo(io, tt, leg, partialAllowed);
        clone.setEndIo(tio);
        io.addPiece();
        MapResult r;
        tio.beginMap();
        try {
            r = tt.target().map(clone);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "map() of " + tt + " in " + name + " threw; failing the piece", e);
            r = MapResult.kill(BioStatus.IOERR);
        } finally {
            tio.endMap();
        }
        int accepted = tio.accepted();
        switch (r) {
            case MapResult.Remapped m -> submitter.submit(clone);
            case MapResult.Submitted s -> { }
            case MapResult.Kill k -> tio.endWithoutTarget(clone, k.status(), false);
            case MapResult.Requeue q -> tio.endWithoutTarget(clone, BioStatus.OK, true);
        }
        return Math.max(accepted, 0);
    }

    /** The last piece of {@code io} ended. */
    void ioDone(DmIo io) {
        Bio orig = io.original;
        BioStatus st = io.status();
        try {
            if (io.requeued() && st.isOk()) {
                requeue(orig);
            } else if (io.stage() == DmIo.Stage.PREFLUSH && st.isOk()) {
                orig.clearFlags(BioFlags.PREFLUSH);
                worker.add(orig);
            } else {
                // Read before complete(): the bio may go back to its pool and be reused at once.
                BioOp op = orig.op();
                long sizeBytes = orig.sizeBytes();
                orig.complete(st);
                ioStats.record(op, sizeBytes, System.nanoTime() - io.startNanos, !st.isOk());
            }
        } finally {
            endInflight();
        }
    }

    /** A target asked to retry {@code bio}: held for resume (noflush), failed (flush suspend) or resubmitted. */
    private void requeue(Bio bio) {
        SuspendMode mode = suspendMode;
        if (mode == SuspendMode.NOFLUSH) {
            gate.requeue(bio);
        } else if (mode == SuspendMode.FLUSH) {
            bio.complete(BioStatus.IOERR);
        } else {
            worker.add(bio);
        }
    }

    // ---------------------------------------------------------------- extents

    /** Maps the query through the live table's targets; while suspended it answers "data" (always correct). */
    @Override
    public void queryExtents(long sector, long sectors, Extents.Sink sink) {
        boolean open = gate.enterQuery();
        try {
            Table t = live;
            if (!open || t == null) {
                sink.extent(sectors, 0);
                return;
            }
            long end = Math.min(sector + sectors, t.capacitySectors());
            long pos = sector;
            while (pos < end) {
                TableTarget tt = t.find(pos);
                long pieceEnd = Math.min(end, tt.endSector);
                long pieceStart = pos;
                long[] covered = {0};
                boolean[] stop = {false};
                tt.target().queryExtents(pos, pieceEnd - pos, (n, flags) -> {
                    long take = Math.min(n, pieceEnd - pieceStart - covered[0]);
                    if (take <= 0) {
                        return false;
                    }
                    covered[0] += take;
                    if (!sink.extent(take, flags)) {
                        stop[0] = true;
                        return false;
                    }
                    return true;
                });
                if (stop[0]) {
                    return;
                }
                if (covered[0] == 0) {
                    if (!sink.extent(pieceEnd - pos, 0)) {
                        return;
                    }
                    covered[0] = pieceEnd - pos;
                }
                pos += covered[0];
            }
        } finally {
            endInflight();
        }
    }

    // ================================================================ control

    /** The registry this device belongs to. */
    public DeviceRegistry registry() {
        return registry;
    }

    /** The submitter all I/O of this device goes through. */
    public Submitter submitter() {
        return submitter;
    }

    /**
     * Loads {@code tableText} into the inactive slot (dmsetup {@code load}), replacing a table loaded
     * before. The live table is untouched until {@link #resume()}. A bad table changes nothing.
     */
    public void load(String tableText) throws DmException {
        load(TableParser.parse(tableText));
    }

    /** Loads already parsed lines into the inactive slot; see {@link #load(String)}. */
    public void load(List<TableLine> lines) throws DmException {
        controlLock.lock();
        try {
            checkAlive();
            Table t = Table.build(this, registry.resolver(), registry.targetTypes(), lines);
            Table old = inactive;
            inactive = t;
            if (old != null) {
                old.close(registry.resolver(), this);
            }
        } finally {
            controlLock.unlock();
        }
    }

    /** Drops the inactive table, if any (dmsetup {@code clear}). */
    public void clearInactive() {
        controlLock.lock();
        try {
            Table old = inactive;
            inactive = null;
            if (old != null) {
                old.close(registry.resolver(), this);
            }
        } finally {
            controlLock.unlock();
        }
    }

    /**
     * Suspends the device (dmsetup {@code suspend [--noflush]}): targets' {@code presuspend}, then new
     * I/O is held in arrival order, then this waits until all in-flight I/O has finished, then
     * {@code postsuspend}. Does nothing when already suspended.
     */
    public void suspend(SuspendMode mode) throws DmException {
        suspend(mode, null);
    }

    /**
     * {@link #suspend(SuspendMode)} that gives up after {@code timeout} (null: never) or when
     * {@link #abortSuspend()} is called, with {@link SuspendAbortedException}; the device is then
     * active again with every held bio replayed, as if the suspend had not been asked.
     */
    public void suspend(SuspendMode mode, java.time.Duration timeout) throws DmException {
        Objects.requireNonNull(mode, "mode");
        suspendLock.lock();
        try {
            controlLock.lock();
            try {
                checkAlive();
                if (state == DeviceState.SUSPENDED) {
                    return;
                }
            } finally {
                controlLock.unlock();
            }
            suspendWaiting(mode, timeout);
        } finally {
            suspendLock.unlock();
        }
    }

    /**
     * Makes a suspend that is waiting for in-flight I/O give up (see {@link #suspend(SuspendMode, java.time.Duration)});
     * false when none is waiting. Any thread; does not block.
     */
    public boolean abortSuspend() {
        return gate.abortDrain();
    }

    /** A suspend is waiting for in-flight I/O to finish (for status displays; no lock). */
    public boolean isSuspendWaiting() {
        return gate.isDrainWaiting();
    }

    /**
     * The suspend, called with the suspend mutex held and the control mutex not held: the control mutex
     * is taken for the short sections only, so status, info, load and message answer while it waits.
     */
    private void suspendWaiting(SuspendMode mode, java.time.Duration timeout) throws DmException {
        Table t;
        controlLock.lock();
        try {
            checkAlive();
            t = live;
            // Set first, as Linux sets DMF_NOFLUSH_SUSPENDING before presuspend: a target that hands I/O
            // back from presuspend (dm-thin's bios waiting for space) gets it held for the resume.
            suspendMode = mode;
            if (t != null) {
                t.presuspend();
            }
            gate.close();
        } finally {
            controlLock.unlock();
        }
        SuspendGate.Drain drain = gate.awaitDrain(timeout);
        controlLock.lock();
        try {
            if (drain != SuspendGate.Drain.DRAINED) {
                suspendMode = null;
                long left = gate.inFlightCount();
                gate.openAndReplay(submitter::submit);
                if (t != null) {
                    t.resume();
                }
                throw new SuspendAbortedException("suspend: " + name + " ("
                        + (drain == SuspendGate.Drain.ABORTED ? "cancelled" : "timed out after " + timeout)
                        + " while " + left + " I/O " + (left == 1 ? "request was" : "requests were")
                        + " still in flight; the device is active again)");
            }
            if (t != null) {
                t.postsuspend();
            }
            state = DeviceState.SUSPENDED;
        } finally {
            controlLock.unlock();
        }
    }

    /**
     * Resumes the device (dmsetup {@code resume}): if a table was loaded it goes live (the device is
     * suspended first if it is not), then held I/O is replayed in order through the live table.
     * Without a loaded table it only resumes a suspended device. A target's {@code preresume} failure
     * leaves the device suspended with both tables as they were.
     */
    public void resume() throws DmException {
        suspendLock.lock();
        try {
            boolean needSuspend;
            controlLock.lock();
            try {
                checkAlive();
                needSuspend = inactive != null && state == DeviceState.ACTIVE;
            } finally {
                controlLock.unlock();
            }
            if (needSuspend) {
                suspendWaiting(SuspendMode.FLUSH, null);
            }
            controlLock.lock();
            try {
                resumeLocked();
            } finally {
                controlLock.unlock();
            }
        } finally {
            suspendLock.unlock();
        }
    }

    private void resumeLocked() throws DmException {
        checkAlive();
        Table next = inactive;
        if (next == null && state == DeviceState.ACTIVE) {
            return;
        }
        if (next == null && live == null) {
            throw new DmException("resume: " + name + " (expected: a device with a table; load one first)");
        }
        if (state == DeviceState.ACTIVE) {
            throw new DmException("resume: " + name + " (a table was loaded while it resumed; resume again)");
        }
        Table toResume = next != null ? next : live;
        toResume.preresume();
        Table old = null;
        if (next != null) {
            old = live;
            registry.publish(() -> {
                live = next;
                inactive = null;
            });
            eventNumber.incrementAndGet();
        }
        if (old != null) {
            old.close(registry.resolver(), this);
        }
        suspendMode = null;
        state = DeviceState.ACTIVE;
        toResume.resume();
        gate.openAndReplay(submitter::submit);
    }

    /**
     * Sends a message to the target at {@code sector} of the live table (dmsetup {@code message}) and
     * returns its reply.
     */
    public String message(long sector, String... args) throws DmException {
        controlLock.lock();
        try {
            checkAlive();
            Table t = live;
            if (t == null) {
                throw new DmException("message: " + name + " (expected: a device with a live table)");
            }
            if (sector < 0 || sector >= t.capacitySectors()) {
                throw new DmException("sector: " + sector + " (expected: a sector of the device, below " + t.capacitySectors() + ")");
            }
            if (args.length == 0) {
                throw new DmException("message: empty (expected: at least one word)");
            }
            TableTarget tt = t.find(sector);
            try {
                String reply = tt.target().message(args);
                return reply == null ? "" : reply;
            } catch (DmException e) {
                throw new DmException(tt.typeName() + ": " + e.getMessage(), e);
            }
        } finally {
            controlLock.unlock();
        }
    }

    /** The live table's status (dmsetup {@code status} for INFO, {@code table} for TABLE). */
    public DeviceStatus status(StatusType type) {
        controlLock.lock();
        try {
            Table t = live;
            return new DeviceStatus(name, type, t == null ? List.of() : t.status(type));
        } finally {
            controlLock.unlock();
        }
    }

    /**
     * The live table's targets that are a {@code type}, in table order (empty without a live table): for
     * reading a target's state typed, through an interface its module makes public (a snapshot's
     * {@code SnapshotStatus.Source}), instead of parsing its status text. The targets belong to the table;
     * a later resume may replace them, so read and drop, do not keep.
     */
    public <T> List<T> liveTargets(Class<T> type) {
        controlLock.lock();
        try {
            Table t = live;
            if (t == null) {
                return List.of();
            }
            List<T> out = new java.util.ArrayList<>();
            for (int i = 0; i < t.size(); i++) {
                Target target = t.target(i).target();
                if (type.isInstance(target)) {
                    out.add(type.cast(target));
                }
            }
            return List.copyOf(out);
        } finally {
            controlLock.unlock();
        }
    }

    /** The inactive (loaded) table's status (dmsetup {@code table --inactive}). */
    public DeviceStatus inactiveStatus(StatusType type) {
        controlLock.lock();
        try {
            Table t = inactive;
            return new DeviceStatus(name, type, t == null ? List.of() : t.status(type));
        } finally {
            controlLock.unlock();
        }
    }

    /**
     * The I/O gate now, without the control lock (so it answers while a suspend waits for in-flight I/O,
     * which {@link #info()} cannot): each figure is read on its own.
     */
    public DeviceIoStats gateStats() {
        return gate.stats();
    }

    /** I/O counters since the device was created (requests, bytes, errors, latency; {@code dmstats}). */
    public IoStats.Snapshot ioStats() {
        return ioStats.snapshot(Math.max(0, gate.inFlightCount()));
    }

    /** dmsetup {@code info}. */
    public DeviceInfo info() {
        controlLock.lock();
        try {
            Table t = live;
            int heldCount = gate.heldCount();
            return new DeviceInfo(name, state, t != null, inactive != null, t != null && t.limits().readOnly(),
                    openCount(), registry.holdersOf(this), eventNumber.get(), t == null ? 0 : t.capacitySectors(),
                    t == null ? 0 : t.size(), heldCount);
        } finally {
            controlLock.unlock();
        }
    }

    /** dmsetup {@code deps}: the references of the live and inactive tables. */
    public DeviceDeps deps() {
        controlLock.lock();
        try {
            Table t = live;
            Table i = inactive;
            return new DeviceDeps(name, t == null ? List.of() : t.refSpecs(), i == null ? List.of() : i.refSpecs());
        } finally {
            controlLock.unlock();
        }
    }

    public DeviceState state() {
        controlLock.lock();
        try {
            return state;
        } finally {
            controlLock.unlock();
        }
    }

    /**
     * True while a {@link SuspendMode#NOFLUSH} suspend is under way or in force (Linux
     * {@code dm_noflush_suspending}): a requeued bio is then held for the resume rather than failed.
     */
    public boolean isNoflushSuspending() {
        return suspendMode == SuspendMode.NOFLUSH;
    }

    public long eventNumber() {
        return eventNumber.get();
    }

    /**
     * Opens the device (an NBD export, a test): the device counts as in use until the handle is closed.
     */
    public OpenHandle open() throws DmException {
        checkAlive();
        opens.incrementAndGet();
        return new OpenHandle(this);
    }

    /** True once the device was removed from its registry; all I/O then fails. */
    public boolean isRemoved() {
        return gate.isDead();
    }

    @Override
    public String toString() {
        return "MappedDevice[" + name + ", " + capacitySectors() + " sectors]";
    }

    // ================================================================ package-private

    void closeOne() {
        opens.decrementAndGet();
    }

    int externalOpens() {
        return opens.get();
    }

    int openCount() {
        return opens.get() + registry.tableRefsTo(this);
    }

    void raiseEvent() {
        eventNumber.incrementAndGet();
    }

    /** The live and inactive tables, for the registry's graph (read under its lock via {@link DeviceRegistry#publish}). */
    Table liveTable() {
        return live;
    }

    Table inactiveTable() {
        return inactive;
    }

    private void checkAlive() throws DmException {
        if (gate.isDead()) {
            throw new NoSuchDeviceException(name);
        }
    }

    /**
     * Tears the device down for {@link DeviceRegistry#remove}: with {@code force}, new I/O fails at once;
     * otherwise the device is suspended (draining in-flight I/O) first. Held I/O fails with IOERR, the
     * tables are destroyed and the worker stops.
     */
    void destroy(boolean force) {
        suspendLock.lock();
        try {
            destroySuspended(force);
        } finally {
            suspendLock.unlock();
        }
    }

    private void destroySuspended(boolean force) {
        boolean suspendFirst;
        controlLock.lock();
        try {
            suspendFirst = !gate.isDead() && !force && state == DeviceState.ACTIVE;
        } finally {
            controlLock.unlock();
        }
        if (suspendFirst) {
            try {
                suspendWaiting(SuspendMode.FLUSH, null);
            } catch (DmException e) {
                // aborted (the daemon is stopping): go on with the removal, which fails what is left
            }
        }
        controlLock.lock();
        try {
            if (gate.isDead()) {
                return;
            }
            Table t = live;
            if (t != null && force && state == DeviceState.ACTIVE) {
                t.presuspend(); // release what targets hold back (delay queues) so the drain ends
            }
            gate.kill(b -> b.complete(BioStatus.IOERR));
            Table i = inactive;
            removedCapacity = t == null ? 0 : t.capacitySectors();
            registry.publish(() -> {
                live = null;
                inactive = null;
            });
            if (t != null) {
                t.close(registry.resolver(), this);
            }
            if (i != null) {
                i.close(registry.resolver(), this);
            }
            worker.stop();
            cloneSet.close();
            splitSet.close();
        } finally {
            controlLock.unlock();
        }
    }
}
