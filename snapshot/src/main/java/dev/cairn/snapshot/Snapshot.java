package dev.cairn.snapshot;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.IoAbortedException;
import dev.cairn.block.IoCompletion;
import dev.cairn.block.IoRwSemaphore;
import dev.cairn.block.IoSleep;
import dev.cairn.block.Submitter;
import dev.cairn.dm.DeviceRef;
import dev.cairn.dm.EndIoResult;
import dev.cairn.dm.MapResult;
import dev.cairn.dm.TargetContext;
import dev.cairn.dm.TargetIo;
import dev.cairn.dm.copy.CopyEngine;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * One snapshot (Linux {@code struct dm_snapshot}): the state shared by the {@code snapshot} and
 * {@code snapshot-merge} targets, and the origin-write logic the {@code snapshot-origin} target
 * drives through {@link OriginRegistry#doOrigin}.
 *
 * <h2>Implementation notes</h2>
 * <b>Locking: the structure of the patch's era (Linux 3.x), kept on purpose.</b> One
 * {@link IoRwSemaphore} per snapshot ({@code s->lock}):
 * <ul>
 *   <li>{@code map} takes it <em>for write</em> for every bio (the "FIXME: should only take write
 *       lock if we need to copy an exception" of {@code snapshot_map});</li>
 *   <li>{@link #pendingComplete} takes it for write and, <em>while holding it</em>, sleeps in 1 ms
 *       steps until no snapshot read of the chunk is in flight ({@code __check_for_conflicting_io});</li>
 *   <li>an origin write takes each snapshot's lock in turn to find or create its pending exception.</li>
 * </ul>
 * That is exactly the deadlock of the patch: a reader maps piece 1 of a bio that crosses a chunk
 * boundary (tracked, remapped to the origin, parked on the reader's bio list), then blocks on the
 * lock for piece 2, while {@code pendingComplete} holds the lock and waits for piece 1. The lock is
 * an {@link IoRwSemaphore} and the wait an {@link IoSleep}, both blocking primitives: under
 * {@code FLUSH_ON_BLOCK} the reader's parked bios go to their bio set's rescuer the moment it
 * blocks, piece 1 completes and the cycle never closes. Under {@code DEPTH_FIRST} dm core maps
 * piece 2 only after piece 1 has completed. Under {@code LEGACY} it hangs, and the watchdog says
 * why. Linux later dropped the wait under the lock (65fc7c370477); Cairn keeps the old form because
 * this is the locking that the block layer's flush-on-block fix makes safe.
 *
 * <p><b>Life of an exception.</b> A write (to the snapshot, or to the origin while the chunk is
 * uncopied) creates a {@link PendingException} with a chunk allocated in the store. The copy
 * engine copies the origin chunk to the COW (a whole-chunk snapshot write is sent instead of the
 * copy), then the store commits the record ({@link #copyCallback}), then {@link #pendingComplete}
 * moves the exception to the completed table and releases the waiting bios: snapshot writes go to
 * the COW, origin writes are retried. All of that runs on the snapshot's copy worker.
 *
 * <p>Thread safety: the tables, the pending map, {@code valid}/{@code overflowed}/{@code active}
 * and the merge range are guarded by {@link #lock}; the flags are also volatile for cheap reads;
 * tracked chunks are a concurrent multiset.
 */
final class Snapshot {
    private static final System.Logger LOG = System.getLogger(Snapshot.class.getName());
    private static final Duration CONFLICT_SLEEP = Duration.ofMillis(1);

    /** Which target this snapshot belongs to. */
    enum Kind {
        SNAPSHOT,
        MERGE
    }

    /** Per-clone data: a snapshot read remapped to the origin, tracked until it completes. */
    private record Tracked(long chunk) {}

    /** Per-clone data: a whole-chunk write sent instead of a copy. */
    private record FullChunkWrite(PendingException pe) {}

    final Kind kind;
    final String name;
    final OriginRegistry registry;
    final Submitter submitter;
    final TargetContext context;
    final DeviceRef originRef;
    final DeviceRef cowRef;
    final BlockDevice origin;
    final BlockDevice cow;
    final int chunkSectors;
    private final int chunkShift;
    private final long chunkMask;
    final boolean discardZeroesCow;
    final boolean discardPassdownOrigin;
    private final ExceptionStore store;
    final IoRwSemaphore lock;
    final CopyEngine engine;
    private final TrackedChunks tracked = new TrackedChunks();
    /** How often pendingComplete found a tracked read and had to wait for it (the patch's race). */
    private final AtomicLong conflictWaits = new AtomicLong();
    /** Pending exceptions allocated and not freed ({@code pending_exceptions_count}). */
    private final AtomicInteger pendingCount = new AtomicInteger();

    /** @GuardedBy("lock"). */
    private final ChunkMap complete;
    /** @GuardedBy("lock"). */
    private final Map<Long, PendingException> pending = new HashMap<>();
    private volatile boolean valid = true;
    private volatile boolean overflowed;
    private volatile boolean active;
    private volatile boolean mergeFailed;

    // Merge state; @GuardedBy("lock") except the run flags.
    private long firstMergingChunk;
    private int numMergingChunks;
    private final List<Bio> queuedDuringMerge = new ArrayList<>();
    private volatile boolean mergeRunning;
    private volatile boolean mergeShutdown;
    private volatile IoCompletion mergeStopped;
    private volatile long mergedChunks;

    volatile SnapshotHooks hooks = SnapshotHooks.NONE;

    private Snapshot(Kind kind, TargetContext context, OriginRegistry registry, DeviceRef originRef, DeviceRef cowRef,
            ExceptionStore store, boolean discardZeroesCow, boolean discardPassdownOrigin, int maxCopiesInFlight,
            Map<Long, Long> loaded, boolean loadedValid) {
        this.kind = kind;
        this.context = context;
        this.name = context.deviceName() + "-" + context.lineNumber();
        this.registry = registry;
        this.submitter = context.submitter();
        this.originRef = originRef;
        this.cowRef = cowRef;
        this.origin = originRef.device();
        this.cow = cowRef.device();
        this.store = store;
        this.chunkSectors = store.chunkSectors();
        this.chunkShift = Integer.numberOfTrailingZeros(chunkSectors);
        this.chunkMask = chunkSectors - 1L;
        this.discardZeroesCow = discardZeroesCow;
        this.discardPassdownOrigin = discardPassdownOrigin;
        this.lock = new IoRwSemaphore(submitter, "snapshot " + name);
        this.complete = new ChunkMap(Math.max(1024, loaded.size()));
        loaded.forEach(complete::put);
        this.valid = loadedValid;
        // A snapshot's engine copies one chunk (or less, at the origin's end) per job: buffers of the
        // chunk size, if smaller than a sub-job. A merge copies runs of chunks: full sub-jobs.
        int bufferSectors = kind == Kind.MERGE ? CopyEngine.SUB_JOB_SECTORS : Math.min(chunkSectors, CopyEngine.SUB_JOB_SECTORS);
        this.engine = new CopyEngine(submitter, name, maxCopiesInFlight, bufferSectors);
    }

    /**
     * Builds a snapshot over a store that already read its metadata (Linux {@code snapshot_ctr}
     * after {@code read_metadata}): fills the completed table and registers with the origin.
     */
    static Snapshot create(Kind kind, TargetContext context, OriginRegistry registry, DeviceRef originRef,
            DeviceRef cowRef, ExceptionStore store, boolean discardZeroesCow, boolean discardPassdownOrigin,
            int maxCopiesInFlight, Map<Long, Long> loaded, boolean loadedValid) {
        Snapshot s = new Snapshot(kind, context, registry, originRef, cowRef, store, discardZeroesCow,
                discardPassdownOrigin, maxCopiesInFlight, loaded, loadedValid);
        registry.register(s);
        return s;
    }

    long chunkOf(long sector) {
        return sector >>> chunkShift;
    }

    long chunkToSector(long chunk) {
        return chunk << chunkShift;
    }

    boolean isValid() {
        return valid;
    }

    boolean isOverflowed() {
        return overflowed;
    }

    boolean isActive() {
        return active;
    }

    boolean isMergeFailed() {
        return mergeFailed;
    }

    ExceptionStore store() {
        return store;
    }

    /** Completed exceptions now in memory. */
    int completedExceptions() {
        lock.lockRead();
        try {
            return complete.size();
        } finally {
            lock.unlockRead();
        }
    }

    /** The COW chunk of {@code oldChunk}, or -1 (for tests and status). */
    long lookup(long oldChunk) {
        lock.lockRead();
        try {
            return complete.get(oldChunk);
        } finally {
            lock.unlockRead();
        }
    }

    int pendingExceptions() {
        return pendingCount.get();
    }

    /** How often pendingComplete had to wait for a snapshot read of its chunk. */
    long conflictWaits() {
        return conflictWaits.get();
    }

    /** True while a snapshot read of {@code chunk} is in flight to the origin. */
    boolean isTracked(long chunk) {
        return tracked.contains(chunk);
    }

    // ---------------------------------------------------------------- snapshot map

    /** {@code snapshot_map}: {@code sector} is the clone's sector as an offset into the target. */
    MapResult mapSnapshot(Bio clone, long sector) {
        TargetIo io = TargetIo.of(clone);
        BioOp op = clone.op();
        if (op == BioOp.FLUSH) {
            clone.setDevice(cow);
            return MapResult.REMAPPED;
        }
        long chunk = chunkOf(sector);
        // Full snapshots are not usable. To get here the table must be live, so active is set.
        if (!valid) {
            return MapResult.kill(BioStatus.IOERR);
        }
        hooks.beforeMapLock(clone, chunk);
        PendingException toCopy = null;
        Bio completeAfter = null;
        // The patch's era: the write lock for every bio, reads included.
        lock.lockWrite();
        try {
            if (!valid || (overflowed && op.isWrite())) {
                return MapResult.kill(BioStatus.IOERR);
            }
            if (op == BioOp.DISCARD && discardPassdownOrigin && io.leg() == 1) {
                // Pass the discard down to the origin without triggering copies: freeing origin
                // space is the point of the feature.
                clone.setDevice(origin).setSector(sector);
                tracked.add(chunk);
                io.setData(new Tracked(chunk));
                return MapResult.REMAPPED;
            }
            if (op == BioOp.DISCARD && (sector & chunkMask) + clone.sectors() > chunkSectors) {
                // Fanned-out discards (passdown) are not cut at chunks by dm core; one that crosses a
                // chunk cannot be remapped to one COW chunk. A discard may do nothing: skip it.
                completeAfter = clone;
                return MapResult.SUBMITTED;
            }
            long newChunk = complete.get(chunk);
            if (newChunk >= 0) {
                remapToCow(clone, newChunk, sector);
                if (op == BioOp.DISCARD && clone.sectors() == chunkSectors) {
                    zeroExceptionLater(clone);
                    return MapResult.SUBMITTED;
                }
                return MapResult.REMAPPED;
            }
            if (op == BioOp.DISCARD) {
                // No exception: nothing of the snapshot's own to discard, and a copy-out would defeat it.
                // Completed once the lock is dropped: its end-io runs target code.
                completeAfter = clone;
                return MapResult.SUBMITTED;
            }
            if (op.isWrite()) {
                PendingException pe = pending.get(chunk);
                if (pe == null) {
                    pe = newPendingException(chunk);
                    if (pe == null) {
                        if (store.userspaceSupportsOverflow()) {
                            if (!overflowed) {
                                overflowed = true;
                                LOG.log(System.Logger.Level.ERROR, "{0}: snapshot overflowed: unable to allocate exception", name);
                                context.triggerEvent();
                            }
                        } else {
                            invalidate("unable to allocate exception");
                        }
                        return MapResult.kill(BioStatus.IOERR);
                    }
                }
                remapToCow(clone, pe.newChunk, sector);
                if (!pe.started && clone.sectors() == chunkSectors) {
                    // A whole-chunk write replaces the copy (start_full_bio).
                    pe.started = true;
                    pe.fullBio = io;
                    io.setData(new FullChunkWrite(pe));
                    return MapResult.REMAPPED;
                }
                pe.snapshotBios.add(clone);
                if (!pe.started) {
                    pe.started = true;
                    toCopy = pe;
                }
                return MapResult.SUBMITTED;
            }
            clone.setDevice(origin).setSector(sector);
            tracked.add(chunk);
            io.setData(new Tracked(chunk));
            return MapResult.REMAPPED;
        } finally {
            lock.unlockWrite();
            if (toCopy != null) {
                startCopy(toCopy);
            }
            if (completeAfter != null) {
                completeAfter.complete(BioStatus.OK);
            }
        }
    }

    private void zeroExceptionLater(Bio clone) {
        // dm_kcopyd_zero: the discarded chunk of the COW reads as zeros afterwards.
        engine.zero(new CopyEngine.Region(cow, clone.sector(), chunkSectors),
                (readError, writeError) -> clone.complete(writeError ? BioStatus.IOERR : BioStatus.OK));
    }

    private void remapToCow(Bio clone, long newChunk, long sector) {
        clone.setDevice(cow).setSector(chunkToSector(newChunk) + (sector & chunkMask));
    }

    /**
     * Allocates a pending exception for {@code chunk} in the store; null when the COW is full.
     * Linux drops the lock around {@code alloc_pending_exception} because a mempool allocation may
     * sleep, then looks again; a Java allocation never blocks, so the lock is simply kept.
     * @GuardedBy("lock").
     */
    private PendingException newPendingException(long chunk) {
        long newChunk = store.prepareException();
        if (newChunk < 0) {
            return null;
        }
        PendingException pe = new PendingException(this, chunk, newChunk);
        pending.put(chunk, pe);
        pendingCount.incrementAndGet();
        return pe;
    }

    /** {@code snapshot_end_io}: stops tracking a read; hands a whole-chunk write's completion to the copy worker. */
    EndIoResult endIo(Bio clone, BioStatus status) {
        Object data = TargetIo.of(clone).data();
        if (data instanceof Tracked t) {
            tracked.remove(t.chunk());
        } else if (data instanceof FullChunkWrite f) {
            boolean writeError = !status.isOk();
            engine.post(() -> copyCallback(f.pe(), false, writeError));
            return EndIoResult.KEEP;
        }
        return EndIoResult.done(status);
    }

    // ---------------------------------------------------------------- copy, commit, complete

    /** {@code start_copy}: copies the origin chunk (cut at the origin's end) to the COW chunk. */
    private void startCopy(PendingException pe) {
        long start = chunkToSector(pe.oldChunk);
        long sectors = Math.min(chunkSectors, origin.capacitySectors() - start);
        engine.copy(new CopyEngine.Region(origin, start, sectors),
                new CopyEngine.Region(cow, chunkToSector(pe.newChunk), sectors),
                (readError, writeError) -> copyCallback(pe, readError, writeError));
    }

    /**
     * {@code copy_callback}, on the copy worker: the data is on the COW; record the exception. The
     * copy result goes to the store as Linux does since 385277bfb57f, so that a failed copy still
     * decrements the store's in-flight count (3.x skipped the commit, leaving batched commits stuck).
     */
    private void copyCallback(PendingException pe, boolean readError, boolean writeError) {
        store.commitException(pe.oldChunk, pe.newChunk, !(readError || writeError), ok -> pendingComplete(pe, ok));
    }

    /**
     * {@code pending_complete} of Linux 3.x, on the copy worker: the exception is durable; make it
     * complete and release the bios waiting for it.
     */
    void pendingComplete(PendingException pe, boolean success) {
        boolean error = false;
        IoAbortedException aborted = null;
        List<Bio> snapshotBios;
        List<Bio> originBios;
        TargetIo fullBio;
        lock.lockWrite();
        try {
            hooks.pendingCompleteLocked(pe.oldChunk);
            if (!success) {
                invalidate("error reading/writing");
                error = true;
            } else if (!valid) {
                error = true;
            } else {
                // The patch's era: wait for snapshot reads of this chunk still in flight to the origin,
                // holding the lock (see the class comment). Made safe by the block layer's
                // flush-on-block: a mapper that blocks on this lock hands its parked reads to a rescuer.
                try {
                    if (tracked.contains(pe.oldChunk)) {
                        conflictWaits.incrementAndGet();
                    }
                    long chunk = pe.oldChunk;
                    IoSleep.until(submitter, () -> !tracked.contains(chunk), CONFLICT_SLEEP,
                            "no read of chunk " + chunk + " of " + name + " is in flight");
                    complete.put(pe.oldChunk, pe.newChunk);
                } catch (IoAbortedException e) {
                    // The stack is being torn down (a hung LEGACY stack, say): end the waiting bios.
                    aborted = e;
                    error = true;
                }
            }
            pending.remove(pe.oldChunk);
            snapshotBios = List.copyOf(pe.snapshotBios);
            originBios = List.copyOf(pe.originBios);
            fullBio = pe.fullBio;
            registry.pendingExceptionDone();
        } finally {
            lock.unlockWrite();
        }
        if (aborted != null) {
            endAll(fullBio, snapshotBios, originBios, BioStatus.ABORTED);
            pendingCount.decrementAndGet();
            throw aborted;
        }
        if (error) {
            if (fullBio != null) {
                fullBio.finish(BioStatus.IOERR);
            }
            for (Bio b : snapshotBios) {
                b.complete(BioStatus.IOERR);
            }
        } else {
            if (fullBio != null) {
                fullBio.finish(BioStatus.OK);
            }
            for (Bio b : snapshotBios) {
                submitter.submit(b);
            }
        }
        retryOriginBios(originBios);
        pendingCount.decrementAndGet();
    }

    private static void endAll(TargetIo fullBio, List<Bio> snapshotBios, List<Bio> originBios, BioStatus status) {
        if (fullBio != null) {
            fullBio.finish(status);
        }
        for (Bio b : snapshotBios) {
            b.complete(status);
        }
        for (Bio b : originBios) {
            b.complete(status);
        }
    }

    private void retryOriginBios(List<Bio> bios) {
        for (Bio b : bios) {
            if (registry.doOrigin(origin, b.sector(), b) == MapResult.REMAPPED) {
                submitter.submit(b);
            }
        }
    }

    /** {@code __invalidate_snapshot}: marks the store invalid on disk and the snapshot unusable. @GuardedBy("lock"). */
    private void invalidate(String why) {
        if (!valid) {
            return;
        }
        LOG.log(System.Logger.Level.ERROR, "{0}: invalidating snapshot: {1}", name, why);
        store.dropSnapshot();
        valid = false;
        context.triggerEvent();
    }

    // ---------------------------------------------------------------- origin writes

    /**
     * {@code __origin_write}: for each active snapshot (largest chunk first) that has not copied the
     * chunk at {@code sector}, find or create its pending exception. The origin bio waits on the
     * first such exception, whose copy is started last to give the others a head start.
     */
    static MapResult originWrite(List<Snapshot> snapshots, long sector, Bio bio) {
        MapResult r = MapResult.REMAPPED;
        PendingException startLast = null;
        for (Snapshot snap : snapshots) {
            if (snap.kind == Kind.MERGE) {
                // A merging snapshot has effectively been deleted: no new exceptions in it.
                continue;
            }
            PendingException startNow = null;
            snap.lock.lockWrite();
            try {
                if (!snap.valid || !snap.active) {
                    continue;
                }
                if (sector >= snap.context.lengthSectors()) {
                    continue;
                }
                long chunk = snap.chunkOf(sector);
                if (snap.complete.get(chunk) >= 0) {
                    continue;
                }
                PendingException pe = snap.pending.get(chunk);
                if (pe == null) {
                    pe = snap.newPendingException(chunk);
                    if (pe == null) {
                        snap.invalidate("unable to allocate exception");
                        continue;
                    }
                }
                r = MapResult.SUBMITTED;
                if (bio != null) {
                    pe.originBios.add(bio);
                    bio = null;
                    if (!pe.started) {
                        pe.started = true;
                        startLast = pe;
                    }
                }
                if (!pe.started) {
                    pe.started = true;
                    startNow = pe;
                }
            } finally {
                snap.lock.unlockWrite();
            }
            if (startNow != null) {
                snap.startCopy(startNow);
            }
        }
        if (startLast != null) {
            startLast.snapshot.startCopy(startLast);
        }
        return r;
    }

    // ---------------------------------------------------------------- merge map

    /** {@code snapshot_merge_map}. */
    MapResult mapMerge(Bio clone, long sector, int splitSectors) {
        TargetIo io = TargetIo.of(clone);
        BioOp op = clone.op();
        if (op == BioOp.FLUSH) {
            clone.setDevice(io.leg() == 0 ? origin : cow);
            return MapResult.REMAPPED;
        }
        if (op == BioOp.DISCARD) {
            // Once merging, discards no longer effect change.
            clone.complete(BioStatus.OK);
            return MapResult.SUBMITTED;
        }
        long chunk = chunkOf(sector);
        lock.lockWrite();
        boolean locked = true;
        try {
            if (valid) {
                long newChunk = complete.get(chunk);
                if (newChunk >= 0) {
                    if (op.isWrite() && chunk >= firstMergingChunk && chunk < firstMergingChunk + numMergingChunks) {
                        clone.setDevice(origin).setSector(sector);
                        queuedDuringMerge.add(clone);
                        hooks.queuedBehindMerge(clone, chunk);
                        return MapResult.SUBMITTED;
                    }
                    remapToCow(clone, newChunk, sector);
                    if (op.isWrite()) {
                        tracked.add(chunk);
                        io.setData(new Tracked(chunk));
                    }
                    return MapResult.REMAPPED;
                }
            }
            clone.setDevice(origin).setSector(sector);
            if (!op.isWrite()) {
                return MapResult.REMAPPED;
            }
            lock.unlockWrite();
            locked = false;
            return OriginTarget.mapOriginWrite(registry, origin, clone, sector, splitSectors);
        } finally {
            if (locked) {
                lock.unlockWrite();
            }
        }
    }

    // ---------------------------------------------------------------- merge loop

    /** {@code start_merge}: runs the merge on the copy worker unless it is already running. */
    void startMerge() {
        lock.lockWrite();
        try {
            if (mergeRunning) {
                return;
            }
            mergeRunning = true;
            mergeShutdown = false;
            mergeStopped = new IoCompletion(submitter, "merge of " + name + " to stop");
        } finally {
            lock.unlockWrite();
        }
        engine.post(this::mergeNextChunks);
    }

    /** {@code stop_merge}: asks the merge to stop after the run in progress and waits for it. */
    void stopMerge() {
        IoCompletion stopped = mergeStopped;
        if (!mergeRunning || stopped == null) {
            return;
        }
        mergeShutdown = true;
        hooks.mergeStopRequested();
        if (engine.isWorkerThread()) {
            return;
        }
        stopped.await();
    }

    boolean isMergeRunning() {
        return mergeRunning;
    }

    /** Chunks merged back into the origin since this target was built. */
    long mergedChunks() {
        return mergedChunks;
    }

    private void mergeShut() {
        mergeRunning = false;
        IoCompletion stopped = mergeStopped;
        if (stopped != null) {
            stopped.complete();
        }
    }

    /** {@code snapshot_merge_next_chunks}, on the copy worker. */
    private void mergeNextChunks() {
        if (mergeShutdown) {
            mergeShut();
            return;
        }
        if (!valid) {
            LOG.log(System.Logger.Level.ERROR, "{0}: snapshot is invalid: can't merge", name);
            mergeShut();
            return;
        }
        ExceptionStore.MergeRun run;
        try {
            run = store.prepareMerge();
        } catch (IOException e) {
            LOG.log(System.Logger.Level.ERROR, name + ": read error in exception store: shutting down merge", e);
            setMergeFailed();
            mergeShut();
            return;
        }
        if (run == null) {
            mergeShut();
            return;
        }
        long oldChunk = run.firstOldChunk();
        long newChunk = run.firstNewChunk();
        int count = run.count();
        long ioSectors = (long) count * chunkSectors;
        long destSector = chunkToSector(oldChunk);
        long sectors = Math.min(ioSectors, origin.capacitySectors() - destSector);

        // Copy-out to the other snapshots first, then wait until none of them is still copying
        // this range (woken by every pending exception that completes, anywhere).
        int step = Math.max(1, registry.minimumChunkSectors(origin));
        long previous = registry.pendingDoneCount();
        while (registry.originWriteExtent(origin, destSector, ioSectors, step)) {
            registry.awaitPendingDone(previous);
            previous = registry.pendingDoneCount();
        }
        lock.lockWrite();
        try {
            firstMergingChunk = oldChunk;
            numMergingChunks = count;
        } finally {
            lock.unlockWrite();
        }
        // Writes to these chunks through the merge target were tracked: let them drain.
        for (int i = 0; i < count; i++) {
            long chunk = oldChunk + i;
            IoSleep.until(submitter, () -> !tracked.contains(chunk), CONFLICT_SLEEP,
                    "no write to merging chunk " + chunk + " of " + name + " is in flight");
        }
        hooks.beforeMergeCopy(oldChunk, count);
        engine.copy(new CopyEngine.Region(cow, chunkToSector(newChunk), sectors),
                new CopyEngine.Region(origin, destSector, sectors),
                (readError, writeError) -> mergeCallback(oldChunk, count, readError, writeError));
    }

    /** {@code merge_callback}: the run is on the origin; drop it from the store, then go on. */
    private void mergeCallback(long oldChunk, int count, boolean readError, boolean writeError) {
        if (readError || writeError) {
            LOG.log(System.Logger.Level.ERROR, "{0}: {1} error: shutting down merge", name, readError ? "read" : "write");
            failMerge();
            return;
        }
        try {
            // The merged data must be durable on the origin before the records that point at it are
            // cleared from the COW (Linux flush_data(), added in 4.18: the two may be different disks).
            ChunkIo.flush(submitter, origin);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.ERROR, name + ": flush after merge failed: shutting down merge", e);
            failMerge();
            return;
        }
        try {
            store.commitMerge(count);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.ERROR, name + ": write error in exception store: shutting down merge", e);
            failMerge();
            return;
        }
        List<Bio> released;
        lock.lockWrite();
        try {
            for (long c = oldChunk + count - 1; c >= oldChunk; c--) {
                if (!complete.remove(c)) {
                    LOG.log(System.Logger.Level.ERROR, "{0}: corruption detected: exception for chunk {1} is on disk but not in memory",
                            name, c);
                }
            }
            released = releaseQueuedBiosAfterMerge();
        } finally {
            lock.unlockWrite();
        }
        for (Bio b : released) {
            submitter.submit(b);
        }
        mergedChunks += count;
        hooks.afterMergeCommit(oldChunk, count);
        mergeNextChunks();
    }

    private void failMerge() {
        List<Bio> released;
        lock.lockWrite();
        try {
            mergeFailed = true;
            released = releaseQueuedBiosAfterMerge();
        } finally {
            lock.unlockWrite();
        }
        for (Bio b : released) {
            b.complete(BioStatus.IOERR);
        }
        mergeShut();
    }

    private void setMergeFailed() {
        lock.lockWrite();
        try {
            mergeFailed = true;
        } finally {
            lock.unlockWrite();
        }
    }

    /** @GuardedBy("lock"). */
    private List<Bio> releaseQueuedBiosAfterMerge() {
        firstMergingChunk = 0;
        numMergingChunks = 0;
        List<Bio> out = List.copyOf(queuedDuringMerge);
        queuedDuringMerge.clear();
        return out;
    }

    // ---------------------------------------------------------------- life cycle and status

    /** {@code snapshot_resume}: origin writes start making exceptions in this snapshot. */
    void activate() {
        lock.lockWrite();
        try {
            active = true;
        } finally {
            lock.unlockWrite();
        }
    }

    /** {@code snapshot_status} INFO. */
    String statusInfo() {
        return status().toInfo();
    }

    /** {@code snapshot_status} INFO, typed. */
    SnapshotStatus status() {
        lock.lockWrite();
        try {
            if (!valid) {
                return new SnapshotStatus(SnapshotStatus.State.INVALID, 0, 0, 0);
            }
            if (mergeFailed) {
                return new SnapshotStatus(SnapshotStatus.State.MERGE_FAILED, 0, 0, 0);
            }
            if (overflowed) {
                return new SnapshotStatus(SnapshotStatus.State.OVERFLOW, 0, 0, 0);
            }
            ExceptionStore.Usage u = store.usage();
            return new SnapshotStatus(SnapshotStatus.State.ACTIVE, u.allocatedSectors(), u.totalSectors(), u.metadataSectors());
        } finally {
            lock.unlockWrite();
        }
    }

    /** {@code snapshot_status} TABLE. */
    String statusTable() {
        StringBuilder sb = new StringBuilder();
        sb.append(originRef.spec()).append(' ').append(cowRef.spec()).append(' ').append(store.tableArgs());
        int features = (discardZeroesCow ? 1 : 0) + (discardPassdownOrigin ? 1 : 0);
        if (features > 0) {
            sb.append(' ').append(features);
            if (discardZeroesCow) {
                sb.append(" discard_zeroes_cow");
            }
            if (discardPassdownOrigin) {
                sb.append(" discard_passdown_origin");
            }
        }
        return sb.toString();
    }

    /**
     * {@code snapshot_dtr}: stops a merge, unregisters (no new exceptions can start), waits for the
     * pending exceptions to finish, then stops the copy worker.
     */
    void close() {
        if (kind == Kind.MERGE) {
            stopMerge();
        }
        registry.unregister(this);
        while (pendingCount.get() > 0 && !submitter.isShutdown()) {
            IoSleep.sleep(submitter, CONFLICT_SLEEP);
        }
        engine.close();
        if (submitter.isShutdown()) {
            abortPending();
        }
        store.close();
    }

    /** After a shutdown the copy worker is gone: end every bio still waiting for an exception. */
    private void abortPending() {
        if (!lock.tryLockWrite()) {
            return;
        }
        List<PendingException> left;
        try {
            left = List.copyOf(pending.values());
            pending.clear();
        } finally {
            lock.unlockWrite();
        }
        for (PendingException pe : left) {
            endAll(pe.fullBio, List.copyOf(pe.snapshotBios), List.copyOf(pe.originBios), BioStatus.ABORTED);
        }
    }

    @Override
    public String toString() {
        return "Snapshot[" + name + ", " + kind + ", chunk " + chunkSectors + (valid ? "" : ", invalid")
                + (overflowed ? ", overflowed" : "") + "]";
    }
}
