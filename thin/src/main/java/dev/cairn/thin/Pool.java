package dev.cairn.thin;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.IoAbortedException;
import dev.cairn.block.IoCompletion;
import dev.cairn.block.IoMutex;
import dev.cairn.block.Submitter;
import dev.cairn.dm.DmException;
import dev.cairn.dm.TargetIo;
import dev.cairn.dm.copy.CopyEngine;
import dev.cairn.pdata.MetadataException;
import dev.cairn.pdata.NoSpaceException;
import java.time.Duration;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicReference;

/**
 * One thin pool (Linux {@code struct pool}): the metadata, the data device, the worker that provisions
 * and commits, the bio prison and the copy engine. It outlives a table reload of its pool device: the
 * {@link PoolRegistry} hands the same pool to the new table.
 *
 * <h2>Implementation notes</h2>
 * <b>Threads.</b> {@code map} of a thin device takes the fast path when it can: a read, or a write to a
 * mapped block not shared with a snapshot, is remapped to the data device after a lookup under the
 * metadata lock. Everything else (provisioning, breaking sharing, discards, flushes that need a
 * commit) goes to the pool's worker thread, which never waits for a bio: it takes the block's cell,
 * starts the data I/O or the copy (copy engine), and continues when that completes (end-io and copy
 * callbacks post the next step back to the worker). The worker commits every second when anything
 * changed, and on FLUSH/FUA after a change.
 *
 * <p><b>Locks.</b> {@link #metadataLock} (an {@link IoMutex}, a blocking primitive) guards the
 * {@link ThinMetadata}; metadata I/O and the commit's data-device flush happen under it, as under the
 * kernel's {@code root_lock}, but it is never held while waiting for a data bio. The prison has its own
 * mutex with no I/O inside. So a thread parked in {@code map} on either lock never waits, through the
 * lock, for a bio parked on its own list, under any submit policy.
 *
 * <p><b>Crash consistency.</b> New data always goes to a newly allocated block; a mapping is inserted
 * only after its data is written, and a commit flushes the data device before the metadata, so after a
 * crash every committed mapping points at written data and every uncommitted one is simply absent.
 *
 * <p>This class is over 500 lines because the bio state machine (provision, break sharing, discard,
 * out-of-space queueing) shares the mode and commit logic with the messages and status; the pieces
 * are separated by section comments.
 *
 * <p><b>Failures.</b> Work for a bio runs on the worker as {@link PieceWork} steps; a step that throws
 * before handing its bio on ends the bio with EIO, releases its cell and degrades the pool like a
 * failed metadata operation, so every bio completes exactly once and the worker keeps running.
 *
 * <p>Thread safety: the mode is volatile; {@link ThinMetadata}, the no-space queue and the low-water
 * state are guarded by {@link #metadataLock}; the worker's queue is concurrent; the running step is
 * confined to the worker thread.
 */
final class Pool {
    private static final System.Logger LOG = System.getLogger(Pool.class.getName());
    static final Duration COMMIT_PERIOD = Duration.ofSeconds(1);
    static final Duration NO_SPACE_TIMEOUT = Duration.ofSeconds(60);
    private static final Duration IDLE_WAIT = Duration.ofMillis(100);

    final String name;
    final Submitter submitter;
    final BlockDevice metadataDevice;
    final BlockDevice dataDevice;
    final int blockSectors;
    private final InstantSource clock;
    final IoMutex metadataLock;
    /** @GuardedBy("metadataLock"). */
    private final ThinMetadata md;
    final Prison prison;
    private final CopyEngine copier;
    private volatile PoolConfig config;
    private volatile PoolMode mode;
    private volatile boolean noSpaceErroring;
    private volatile Runnable eventSink = () -> { };
    volatile ThinHooks hooks = ThinHooks.NONE;

    /** @GuardedBy("metadataLock"). */
    private final List<Parked> noSpaceQueue = new ArrayList<>();
    /** @GuardedBy("metadataLock"). */
    private long noSpaceDeadlineMillis;
    /** Set when the data low-water event was sent; cleared by a resume ({@code pool_resume}). @GuardedBy("metadataLock"). */
    private boolean lowWaterTriggered;
    /**
     * The metadata space map's free count at the last check, or -1 before the first; the metadata event
     * fires when the count falls to the threshold from above it ({@code check_threshold}). @GuardedBy("metadataLock").
     */
    private long lastMetadataFree = -1;
    /** @GuardedBy("metadataLock"). */
    private long lastCommitMillis;

    private final ConcurrentLinkedQueue<Runnable> work = new ConcurrentLinkedQueue<>();
    private final AtomicReference<IoCompletion> wake = new AtomicReference<>();
    private final Thread worker;
    /** The piece step the worker is running, or null; worker thread only. */
    private PieceWork running;
    private volatile boolean stopping;
    /** Tables (pool targets) using this pool; guarded by the registry. */
    int refs;

    Pool(String name, Submitter submitter, InstantSource clock, BlockDevice metadataDevice, BlockDevice dataDevice,
            PoolConfig config, long nrDataBlocks) throws MetadataException {
        this.name = name;
        this.submitter = submitter;
        this.clock = clock;
        this.metadataDevice = metadataDevice;
        this.dataDevice = dataDevice;
        this.blockSectors = config.blockSectors();
        this.config = config;
        this.metadataLock = new IoMutex(submitter, "thin-pool metadata " + name);
        this.md = ThinMetadata.open(submitter, metadataDevice, config.blockSectors(), nrDataBlocks, !config.readOnly(), 4096);
        this.prison = new Prison(submitter, name);
        this.mode = config.readOnly() || md.needsCheck() || md.hasReadOnlyFeatures() ? PoolMode.READ_ONLY : PoolMode.WRITE;
        this.lastCommitMillis = clock.millis();
        this.copier = new CopyEngine(submitter, "thin-" + name, 8);
        this.worker = Thread.ofPlatform().daemon().name("cairn-thin-" + name).start(this::run);
    }

    PoolConfig config() {
        return config;
    }

    void setConfig(PoolConfig c) {
        this.config = c;
        if (c.readOnly() && mode.ordinal() < PoolMode.READ_ONLY.ordinal()) {
            mode = PoolMode.READ_ONLY;
        }
    }

    void setEventSink(Runnable sink) {
        this.eventSink = sink;
    }

    PoolMode mode() {
        return mode;
    }

    long sectorsToBlock(long sector) {
        return sector / blockSectors;
    }

    // ---------------------------------------------------------------- metadata access

    /** Runs {@code op} under the metadata lock. */
    <T> T withMetadata(MetadataOp<T> op) throws MetadataException {
        metadataLock.lock();
        try {
            return op.run(md);
        } finally {
            checkMetadataThresholdLocked();
            metadataLock.unlock();
        }
    }

    /**
     * The metadata low-water threshold in blocks ({@code calc_metadata_threshold}): a quarter of the
     * metadata device, at most 1024 blocks (4 MiB).
     */
    long metadataThresholdBlocksLocked() {
        return Math.min(1024, md.metadataBlocks() / 4);
    }

    /**
     * Raises the metadata low-water event when the metadata space map's free count has fallen to the
     * threshold since the last check (Linux checks at each new metadata block; the pool checks after each
     * metadata operation, which sees the same crossings). The event fires again only after the count rose
     * above the threshold (blocks freed, or a larger metadata device).
     */
    private void checkMetadataThresholdLocked() {
        long free = md.freeMetadataBlocksWithReserve();
        long threshold = metadataThresholdBlocksLocked();
        boolean wasBelow = lastMetadataFree >= 0 && lastMetadataFree <= threshold;
        lastMetadataFree = free;
        if (free <= threshold && !wasBelow) {
            LOG.log(System.Logger.Level.WARNING, "thin-pool {0}: reached low water mark for metadata device: sending event", name);
            raiseEvent();
        }
    }

    /** Raises a dm event on the pool device ({@code dm_table_event}). */
    private void raiseEvent() {
        eventSink.run();
    }

    @FunctionalInterface
    interface MetadataOp<T> {
        T run(ThinMetadata md) throws MetadataException;
    }

    /** A thin target opened device {@code devId}: it cannot be deleted until closed. */
    void openThin(long devId) throws ThinRequestException {
        metadataLock.lock();
        try {
            md.openDevice(devId);
        } finally {
            metadataLock.unlock();
        }
    }

    /** True when the metadata changed since the last commit (a FLUSH or FUA then needs one). */
    boolean metadataChanged() {
        metadataLock.lock();
        try {
            return md.changed();
        } finally {
            metadataLock.unlock();
        }
    }

    /** A metadata operation failed: abort to the last commit, set needs_check, go read-only ({@code metadata_operation_failed}). */
    void metadataFailed(String op, Exception e) {
        LOG.log(System.Logger.Level.ERROR, "thin-pool " + name + ": metadata operation '" + op + "' failed: "
                + e.getMessage() + "; switching to read-only mode", e);
        metadataLock.lock();
        try {
            md.abort();
            md.setNeedsCheck();
            setMode(PoolMode.READ_ONLY);
        } catch (MetadataException | RuntimeException e2) {
            LOG.log(System.Logger.Level.ERROR, "thin-pool " + name + ": aborting the transaction failed; switching to fail mode", e2);
            setMode(PoolMode.FAIL);
        } finally {
            metadataLock.unlock();
        }
    }

    private void setMode(PoolMode m) {
        PoolMode old = mode;
        if (old == PoolMode.FAIL || old == m) {
            return;
        }
        if (m == PoolMode.WRITE && (config.readOnly() || md.needsCheck())) {
            return;
        }
        mode = m;
        if (m == PoolMode.OUT_OF_DATA_SPACE) {
            noSpaceErroring = config.errorIfNoSpace();
            noSpaceDeadlineMillis = clock.millis() + NO_SPACE_TIMEOUT.toMillis();
        }
        LOG.log(System.Logger.Level.WARNING, "thin-pool {0}: switching pool to {1} mode", name,
                m.name().toLowerCase(Locale.ROOT).replace('_', '-'));
        raiseEvent();
    }

    /** Commits under the lock: flushes the data device first, so committed mappings point at durable data. */
    void commitLocked() throws MetadataException {
        if (!md.changed()) {
            return;
        }
        if (mode.ordinal() >= PoolMode.READ_ONLY.ordinal()) {
            return;
        }
        BioStatus s = IoCompletion.submitAndWait(submitter, Bio.alloc().setDevice(dataDevice).setOp(BioOp.FLUSH));
        if (!s.isOk()) {
            throw new MetadataException("data device flush before commit failed: " + s);
        }
        md.commit();
        lastCommitMillis = clock.millis();
        if (mode == PoolMode.WRITE && md.freeMetadataBlocks() == 0) {
            setMode(PoolMode.OUT_OF_METADATA_SPACE);
        }
        hooks.afterCommit(md.commits());
    }

    /** Commits now (worker, messages, suspend); a failure degrades the pool. Returns false on failure. */
    boolean commit() {
        metadataLock.lock();
        try {
            commitLocked();
            return true;
        } catch (MetadataException | RuntimeException e) {
            metadataLock.unlock();
            try {
                metadataFailed("commit", e);
            } finally {
                metadataLock.lock();
            }
            return false;
        } finally {
            metadataLock.unlock();
        }
    }

    /**
     * Allocates a data block under the lock ({@code alloc_data_block}): on no space, commits (to free
     * blocks released in this transaction) and retries; then the pool goes out-of-data-space. Returns -1
     * when there is none.
     */
    long allocateLocked() throws MetadataException {
        if (md.freeMetadataBlocks() == 0) {
            commitLocked();
            if (md.freeMetadataBlocks() == 0) {
                setMode(PoolMode.OUT_OF_METADATA_SPACE);
                return -2;
            }
        }
        // As alloc_data_block: the low-water check sees the free count before this allocation.
        long free = md.freeDataBlocks();
        if (!lowWaterTriggered && free <= config.lowWaterBlocks()) {
            lowWaterTriggered = true;
            LOG.log(System.Logger.Level.WARNING, "thin-pool {0}: reached low water mark for data device: sending event", name);
            raiseEvent();
        }
        long b;
        try {
            b = md.allocDataBlock();
        } catch (NoSpaceException e) {
            commitLocked();
            try {
                b = md.allocDataBlock();
            } catch (NoSpaceException e2) {
                setMode(PoolMode.OUT_OF_DATA_SPACE);
                return -1;
            }
        }
        return b;
    }

    /**
     * A bio needs a data block and there is none: queue {@code retry} until space comes back (a resume
     * after growing the data device, or blocks freed and committed), or fail it with ENOSPC when
     * {@code error_if_no_space} is set or the no-space timeout passed.
     */
    void noSpaceLocked(Bio clone, PieceWork retry) {
        handedOff();
        if (noSpaceErroring || mode.ordinal() > PoolMode.OUT_OF_DATA_SPACE.ordinal()) {
            clone.complete(mode == PoolMode.OUT_OF_DATA_SPACE ? BioStatus.NOSPC : BioStatus.IOERR);
            return;
        }
        noSpaceQueue.add(new Parked(clone, retry));
        hooks.parkedForSpace(clone);
    }

    /**
     * A thin device is being suspended with noflush: takes its pieces parked for space out of the queue,
     * for the device to hand back to dm core (Linux {@code requeue_io} of the retry-on-resume list).
     */
    List<Bio> takeParked(ThinTarget owner) {
        List<Bio> mine = new ArrayList<>();
        metadataLock.lock();
        try {
            var it = noSpaceQueue.iterator();
            while (it.hasNext()) {
                Parked pk = it.next();
                if (TargetIo.of(pk.piece()).target() == owner) {
                    mine.add(pk.piece());
                    it.remove();
                }
            }
        } finally {
            metadataLock.unlock();
        }
        return mine;
    }

    /** A piece waiting for data space, and the step that takes it again. */
    record Parked(Bio piece, PieceWork retry) {}

    // ---------------------------------------------------------------- worker

    /** Runs {@code task} on the worker, after the tasks queued before it; throws when the pool is closing. */
    void post(Runnable task) {
        if (stopping) {
            throw new IoAbortedException("thin-pool " + name + " is closing");
        }
        work.add(task);
        IoCompletion w = wake.getAndSet(null);
        if (w != null) {
            w.complete();
        }
    }

    /** {@link #post}, or when the pool is closing, ends the step's piece with IOERR. */
    void postOrFail(PieceWork step) {
        try {
            post(step);
        } catch (IoAbortedException e) {
            step.end(BioStatus.IOERR);
        }
    }

    boolean isWorkerThread() {
        return Thread.currentThread() == worker;
    }

    /**
     * The running step handed its piece on (and with it any cell it held): from now on a failure of the
     * step is not the piece's. No-op off the worker (the map fast path owns its piece in dm core's terms).
     */
    void handedOff() {
        if (Thread.currentThread() != worker) {
            return;
        }
        PieceWork w = running;
        if (w != null) {
            w.handedOff = true;
            w.cell = null;
        }
    }

    /** The running step now holds {@code cell}: released if the step fails. */
    void holding(Prison.Cell cell) {
        if (Thread.currentThread() != worker) {
            return;
        }
        PieceWork w = running;
        if (w != null) {
            w.cell = cell;
        }
    }

    /**
     * Releases a cell (worker only) and hands its detained pieces back to the worker as steps of their own,
     * in arrival order ({@code cell_defer_no_holder}).
     */
    void releaseCell(Prison.Cell cell) {
        PieceWork w = running;
        if (w != null && w.cell == cell) {
            w.cell = null;
        }
        for (Bio b : prison.release(cell)) {
            ThinTarget owner = (ThinTarget) TargetIo.of(b).target();
            postOrFail(new PieceWork("process", b::complete, null, () -> owner.process(b)));
        }
    }

    /**
     * A step threw. If it still owned its piece, the piece ends with IOERR and the cell the step held is
     * released; the pool then degrades as after a failed metadata operation (abort to the last commit,
     * needs_check, read-only), because the step may have stopped half way through a metadata change
     * (a block allocated and not mapped) and only the last commit is known to be whole.
     */
    private void stepFailedSafely(Runnable task, Throwable e, boolean shuttingDown) {
        try {
            stepFailed(task, e, shuttingDown);
        } catch (RuntimeException | Error e2) {
            // The worker must survive: every other piece of the pool depends on it.
            if (e2 != e) {
                e2.addSuppressed(e);
            }
            LOG.log(System.Logger.Level.ERROR, "thin-pool " + name + ": handling a failed step failed too", e2);
        }
    }

    private void stepFailed(Runnable task, Throwable e, boolean shuttingDown) {
        if (!(task instanceof PieceWork w)) {
            LOG.log(System.Logger.Level.ERROR, "thin-pool " + name + ": task failed", e);
            return;
        }
        if (w.handedOff) {
            LOG.log(System.Logger.Level.ERROR, "thin-pool " + name + ": " + w.what + " failed after handing its I/O on", e);
            return;
        }
        LOG.log(System.Logger.Level.ERROR, "thin-pool " + name + ": " + w.what + " failed; failing its I/O", e);
        Prison.Cell cell = w.cell;
        w.handedOff = true;
        w.cell = null;
        if (!shuttingDown) {
            metadataFailed(w.what, e instanceof Exception x ? x : new IllegalStateException(e.toString(), e));
        }
        try {
            w.end(BioStatus.IOERR);
        } finally {
            if (cell != null) {
                releaseCell(cell);
            }
        }
    }

    CopyEngine copier() {
        return copier;
    }

    private void run() {
        while (!stopping) {
            Runnable task = work.poll();
            if (task == null) {
                IoCompletion w = new IoCompletion(submitter, "thin-pool " + name + " work");
                wake.set(w);
                task = work.poll();
                if (task == null) {
                    try {
                        w.await(IDLE_WAIT);
                    } catch (IoAbortedException e) {
                        return;
                    }
                    periodic();
                    continue;
                }
            }
            running = task instanceof PieceWork w ? w : null;
            try {
                task.run();
            } catch (IoAbortedException e) {
                boolean down = submitter.isShutdown();
                stepFailedSafely(task, e, down);
                if (down) {
                    return;
                }
            } catch (RuntimeException | Error e) {
                stepFailedSafely(task, e, false);
            } finally {
                running = null;
            }
            periodic();
        }
    }

    /** The waker ({@code do_waker}, {@code do_no_space_timeout}): commit every second; end the no-space wait. */
    private void periodic() {
        long now = clock.millis();
        List<Parked> failNow = null;
        boolean due;
        metadataLock.lock();
        try {
            due = md.changed() && now - lastCommitMillis >= COMMIT_PERIOD.toMillis();
            if (mode == PoolMode.OUT_OF_DATA_SPACE && !noSpaceErroring && now >= noSpaceDeadlineMillis) {
                LOG.log(System.Logger.Level.WARNING, "thin-pool {0}: no space timeout: switching to error_if_no_space", name);
                noSpaceErroring = true;
                failNow = new ArrayList<>(noSpaceQueue);
                noSpaceQueue.clear();
            }
        } finally {
            metadataLock.unlock();
        }
        if (due) {
            commit();
        }
        if (failNow != null) {
            // Each retry sees noSpaceErroring and fails its bio with ENOSPC.
            failNow.forEach(pk -> postOrFail(pk.retry()));
        }
    }

    /**
     * The pool device resumed ({@code pool_resume}): the data low-water event may fire again, and bios
     * queued for space are driven again.
     */
    void resumed() {
        metadataLock.lock();
        try {
            lowWaterTriggered = false;
        } finally {
            metadataLock.unlock();
        }
        retryNoSpace();
    }

    /** Re-drives bios queued for space (after a resume or when blocks came back). */
    void retryNoSpace() {
        List<Parked> again;
        metadataLock.lock();
        try {
            if (mode == PoolMode.OUT_OF_DATA_SPACE && md.freeDataBlocks() > 0) {
                mode = PoolMode.WRITE;
                noSpaceErroring = false;
            }
            again = new ArrayList<>(noSpaceQueue);
            noSpaceQueue.clear();
        } finally {
            metadataLock.unlock();
        }
        again.forEach(pk -> postOrFail(pk.retry()));
    }

    // ---------------------------------------------------------------- control (messages, status, resize)

    /** Handles a pool message ({@code pool_message}); success commits. */
    String message(String... args) throws DmException {
        String cmd = args[0].toLowerCase(Locale.ROOT);
        int argc = switch (cmd) {
            case "create_thin", "delete" -> 2;
            case "create_snap", "set_transaction_id" -> 3;
            case "reserve_metadata_snap", "release_metadata_snap" -> 1;
            default -> throw new DmException("unrecognised message received: " + String.join(" ", args));
        };
        if (args.length != argc) {
            throw new DmException(cmd + ": " + (args.length - 1) + " arguments (expected: " + (argc - 1) + ")");
        }
        if (mode.ordinal() >= PoolMode.OUT_OF_METADATA_SPACE.ordinal()) {
            throw new DmException(cmd + ": unable to service pool target messages in READ_ONLY or FAIL mode");
        }
        metadataLock.lock();
        try {
            switch (cmd) {
                case "create_thin" -> md.createThin(devId(cmd, args[1]));
                case "create_snap" -> md.createSnap(devId(cmd, args[1]), devId(cmd, args[2]));
                case "delete" -> md.deleteDevice(devId(cmd, args[1]));
                case "set_transaction_id" -> md.setTransactionId(number(cmd, args[1]), number(cmd, args[2]));
                case "reserve_metadata_snap" -> md.reserveMetadataSnap();
                case "release_metadata_snap" -> md.releaseMetadataSnap();
                default -> throw new AssertionError(cmd);
            }
            commitLocked();
            checkMetadataThresholdLocked();
            return "";
        } catch (ThinRequestException e) {
            throw new DmException(cmd + ": " + e.getMessage(), e);
        } catch (MetadataException | RuntimeException e) {
            metadataLock.unlock();
            try {
                metadataFailed(cmd, e);
            } finally {
                metadataLock.lock();
            }
            throw new DmException(cmd + ": metadata operation failed: " + e.getMessage(), e);
        } finally {
            metadataLock.unlock();
        }
    }

    private static long devId(String cmd, String s) throws DmException {
        long v = number(cmd, s);
        if (v > ThinMetadata.MAX_DEV_ID) {
            throw new DmException(cmd + ": device id: " + s + " (expected: 0 to " + ThinMetadata.MAX_DEV_ID + ")");
        }
        return v;
    }

    private static long number(String cmd, String s) throws DmException {
        if (!s.matches("[0-9]{1,19}")) {
            throw new DmException(cmd + ": " + s + " (expected: a decimal number)");
        }
        return Long.parseLong(s);
    }

    /**
     * The INFO status line ({@code pool_status}); commits first, as the kernel does to keep the
     * statistics current. Every item is followed by one space.
     */
    String statusInfo() {
        PoolMode m = mode;
        if (m == PoolMode.FAIL) {
            return "Fail";
        }
        if (m.ordinal() < PoolMode.READ_ONLY.ordinal()) {
            commit();
        }
        metadataLock.lock();
        try {
            long totalMeta = md.metadataBlocks();
            long usedMeta = totalMeta - md.freeMetadataBlocks();
            long totalData = md.dataBlocks();
            long usedData = totalData - md.freeDataBlocks();
            PoolConfig c = config;
            StringBuilder sb = new StringBuilder();
            sb.append(md.transactionId()).append(' ');
            sb.append(usedMeta).append('/').append(totalMeta).append(' ');
            sb.append(usedData).append('/').append(totalData).append(' ');
            sb.append(md.heldRoot() == 0 ? "-" : Long.toString(md.heldRoot())).append(' ');
            sb.append(switch (mode) {
                case OUT_OF_DATA_SPACE -> "out_of_data_space";
                case OUT_OF_METADATA_SPACE, READ_ONLY -> "ro";
                default -> "rw";
            }).append(' ');
            sb.append(c.ignoreDiscard() ? "ignore_discard" : passdownEffective() ? "discard_passdown" : "no_discard_passdown").append(' ');
            sb.append(c.errorIfNoSpace() ? "error_if_no_space" : "queue_if_no_space").append(' ');
            sb.append(md.needsCheck() ? "needs_check" : "-").append(' ');
            sb.append(metadataThresholdBlocksLocked()).append(' ');
            return sb.toString();
        } finally {
            metadataLock.unlock();
        }
    }

    /** Discard passdown is on unless disabled, the data device cannot discard, or its discards are below one block. */
    boolean passdownEffective() {
        PoolConfig c = config;
        if (c.ignoreDiscard() || c.noDiscardPassdown()) {
            return false;
        }
        var l = dataDevice.limits();
        return l.supportsDiscard() && l.maxDiscardSectors() >= blockSectors;
    }

    /** Preresume: grow the data and metadata space maps to the devices' sizes ({@code maybe_resize_*}). */
    void resize(long nrDataBlocks) throws DmException {
        metadataLock.lock();
        try {
            long curData = md.dataBlocks();
            long metaBlocks = ThinMetadata.usableMetadataBlocks(metadataDevice.capacitySectors() / 8);
            boolean grow = nrDataBlocks != curData || metaBlocks > md.metadataBlocks();
            if (!grow) {
                return;
            }
            if (nrDataBlocks < curData) {
                throw new DmException("pool target (" + nrDataBlocks + " blocks) too small: expected " + curData);
            }
            if (md.needsCheck()) {
                throw new DmException("pool metadata needs checking (needs_check): cannot resize until it is repaired");
            }
            if (mode.ordinal() >= PoolMode.READ_ONLY.ordinal()) {
                throw new DmException("cannot resize a pool in read-only or fail mode");
            }
            md.resizeData(nrDataBlocks);
            md.resizeMetadata(metaBlocks);
            commitLocked();
            checkMetadataThresholdLocked();
            if ((mode == PoolMode.OUT_OF_DATA_SPACE && md.freeDataBlocks() > 0)
                    || (mode == PoolMode.OUT_OF_METADATA_SPACE && md.freeMetadataBlocks() > 0)) {
                mode = PoolMode.WRITE;
                noSpaceErroring = false;
            }
        } catch (MetadataException e) {
            throw new DmException("resize failed: " + e.getMessage(), e);
        } finally {
            metadataLock.unlock();
        }
    }

    /** The thin device's INFO status: mapped sectors and the highest mapped sector, or {@code -}. */
    String thinStatus(long devId) {
        if (mode == PoolMode.FAIL) {
            return "Fail";
        }
        metadataLock.lock();
        try {
            if (!md.deviceExists(devId)) {
                return "-";
            }
            long mapped = md.mappedBlocks(devId);
            var highest = md.highestMapped(devId);
            return (mapped * blockSectors) + " "
                    + (highest.isPresent() ? Long.toString((highest.getAsLong() + 1) * blockSectors - 1) : "-");
        } catch (MetadataException e) {
            return "Error";
        } finally {
            metadataLock.unlock();
        }
    }

    /** Stops the worker and the copy engine after a final commit (the last table using the pool is gone). */
    void close() {
        commit();
        stopping = true;
        IoCompletion w = wake.getAndSet(null);
        if (w != null) {
            w.complete();
        }
        if (Thread.currentThread() != worker) {
            try {
                worker.join(10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        Runnable r;
        while ((r = work.poll()) != null) {
            LOG.log(System.Logger.Level.WARNING, "thin-pool {0}: dropping work at close: {1}", name, r);
        }
        copier.close();
    }

    @Override
    public String toString() {
        return "Pool[" + name + " " + mode + "]";
    }
}
