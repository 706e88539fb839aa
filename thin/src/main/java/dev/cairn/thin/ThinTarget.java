package dev.cairn.thin;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.Sectors;
import dev.cairn.dm.DeviceRef;
import dev.cairn.dm.EndIoResult;
import dev.cairn.dm.MapResult;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetContext;
import dev.cairn.dm.TargetIo;
import dev.cairn.dm.copy.CopyEngine;
import dev.cairn.pdata.MetadataException;
import java.util.List;

/**
 * The {@code thin} target: {@code thin <pool dev> <dev id> [<external origin dev>]} (Linux
 * {@code thin_ctr}, {@code thin_bio_map} and the pool worker's {@code process_*} for this device).
 *
 * <h2>Implementation notes</h2>
 * {@code map} gets pieces of at most one data block (dm core splits at the block size). The fast
 * path counts the piece as in flight on its (device, block) key in the prison <em>before</em> the
 * lookup, so the worker cannot free the block under it; a read of a mapped block and a write to a
 * mapped, unshared block are remapped to the data device; a read of an unmapped block reads zeros (or
 * the external origin). The rest goes to the pool's worker ({@link #process}), which takes the block's
 * cell, waits for the block's in-flight pieces to end, and then provisions (zeroing or copying from the
 * origin through the copy engine unless the write covers the block), breaks sharing (copying the old
 * block), or unmaps (discard, with passdown of blocks no longer used). A provisioned write completes only
 * after its mapping is inserted; with FUA, after a commit.
 *
 * <p>Thread safety: {@code map} and {@code endIo} run concurrently; shared state is in the {@link Pool}
 * (metadata lock, prison) and in each bio's own context.
 */
final class ThinTarget implements Target {
    private static final System.Logger LOG = System.getLogger(ThinTarget.class.getName());
    private final TargetContext ctx;
    private final Pool pool;
    private final PoolRegistry registry;
    private final DeviceRef poolRef;
    private final long devId;
    private final DeviceRef originRef;
    private final BlockDevice origin;
    private final BlockDevice data;
    private final int bs;

    /** Per-piece state: remapped on the fast path, tracked on its key. */
    private record Tracked(Prison.Key key) {}

    /** Per-piece state: a write to a newly allocated block, to be mapped when it completes. */
    private record Provision(Prison.Key key, Prison.Cell cell, long dataBlock, boolean fua) {}

    /** Per-piece state: a write remapped by the worker while it holds the cell. */
    private record Held(Prison.Cell cell) {}

    /** Per-piece state: handed back to dm core during a noflush suspend, to be replayed after the resume. */
    private record Requeued() {}

    private static final Requeued REQUEUED = new Requeued();

    /**
     * Set by a noflush suspend until it has drained ({@code tc->requeue_mode}): pieces that reach {@code map}
     * or the worker, and those parked for space, are handed back to dm core instead of waiting here.
     */
    private volatile boolean requeueMode;

    ThinTarget(TargetContext ctx, PoolRegistry registry, Pool pool, DeviceRef poolRef, long devId, DeviceRef originRef) {
        this.ctx = ctx;
        this.registry = registry;
        this.pool = pool;
        this.poolRef = poolRef;
        this.devId = devId;
        this.originRef = originRef;
        this.origin = originRef == null ? null : originRef.device();
        this.data = pool.dataDevice;
        this.bs = pool.blockSectors;
    }

    long devId() {
        return devId;
    }

    Pool pool() {
        return pool;
    }

    @Override
    public long maxIoSectors() {
        return bs;
    }

    @Override
    public QueueLimits ioHints(QueueLimits limits) {
        // Uncommitted mappings are a volatile write cache even over devices without one: FLUSH and FUA
        // must reach map() to commit them.
        QueueLimits l = limits.withWriteZeroes(0).withCache(true, true);
        if (pool.config().ignoreDiscard()) {
            return l.withDiscard(0, 0);
        }
        return l.withDiscard((int) Math.min(Integer.MAX_VALUE, Sectors.toBytes(bs)), bs);
    }

    @Override
    public void iterateDevices(DeviceVisitor visitor) {
        visitor.visit(poolRef, 0, poolRef.capacitySectors());
        if (originRef != null) {
            visitor.visit(originRef, 0, originRef.capacitySectors());
        }
    }

    // ---------------------------------------------------------------- map (fast path)

    @Override
    public MapResult map(Bio clone) {
        if (requeueMode) {
            return MapResult.REQUEUE;
        }
        PoolMode mode = pool.mode();
        if (mode == PoolMode.FAIL) {
            return MapResult.kill(BioStatus.IOERR);
        }
        switch (clone.op()) {
            case FLUSH -> {
                if (pool.metadataChanged()) {
                    defer(clone);
                    return MapResult.SUBMITTED;
                }
                clone.setDevice(data);
                return MapResult.REMAPPED;
            }
            case DISCARD, WRITE_ZEROES -> {
                defer(clone);
                return MapResult.SUBMITTED;
            }
            default -> {
                fastPath(clone);
                return MapResult.SUBMITTED;
            }
        }
    }

    /**
     * Maps a READ or WRITE piece without the worker when it can; otherwise hands it to the worker.
     * Always takes ownership: the piece is submitted, completed, detained or deferred.
     */
    private void fastPath(Bio clone) {
        long offset = ctx.targetOffset(clone.sector());
        long vblock = offset / bs;
        Prison.Key key = new Prison.Key(devId, vblock);
        boolean write = clone.op() == BioOp.WRITE;
        if (write && clone.hasFlag(BioFlags.FUA) && pool.metadataChanged()) {
            defer(clone);
            return;
        }
        if (pool.prison.detainOrTrack(key, clone, true)) {
            pool.handedOff();
            return; // held in the block's cell; the worker processes it on release
        }
        ThinMetadata.Mapping m;
        try {
            pool.hooks.beforeMapLookup(clone, devId, vblock);
            m = pool.withMetadata(md -> md.lookup(devId, vblock));
        } catch (MetadataException | RuntimeException e) {
            // As dm-thin: a failed lookup fails the bio and leaves the pool's mode alone.
            LOG.log(System.Logger.Level.ERROR, "thin " + ctx.deviceName() + ": lookup of block " + vblock + " failed", e);
            untrack(key);
            end(clone, BioStatus.IOERR);
            return;
        }
        if (m != null && (!write || !m.shared())) {
            TargetIo.of(clone).setData(new Tracked(key));
            clone.setDevice(data).setSector(m.dataBlock() * bs + offset % bs);
            submitPiece(clone);
            return;
        }
        untrack(key);
        if (write) {
            defer(clone);
            return;
        }
        readUnmapped(clone, offset);
    }

    private void untrack(Prison.Key key) {
        PieceWork r = pool.prison.untrack(key);
        if (r != null) {
            pool.postOrFail(r);
        }
    }

    /** An unmapped read: the external origin's data where it has some, zeros elsewhere. */
    private void readUnmapped(Bio clone, long offset) {
        if (origin != null) {
            long originSectors = origin.capacitySectors();
            if (offset < originSectors) {
                long inside = Math.min(clone.sectors(), originSectors - offset);
                if (inside < clone.sectors()) {
                    clone.fill(Sectors.toBytes(inside), Sectors.toBytes(clone.sectors() - inside), (byte) 0);
                    // The part inside the origin goes through a buffer: the clone's data vector is not ours to cut.
                    java.lang.foreign.MemorySegment buffer =
                            java.lang.foreign.MemorySegment.ofArray(new byte[(int) Sectors.toBytes(inside)]);
                    Bio front = Bio.alloc().setDevice(origin).setOp(BioOp.READ).setSector(offset).setData(buffer);
                    front.setEndIo(b -> {
                        if (b.status().isOk()) {
                            clone.copyFrom(buffer, 0, 0, buffer.byteSize());
                        }
                        clone.complete(b.status());
                    });
                    pool.handedOff();
                    pool.submitter.submit(front);
                    return;
                }
                clone.setDevice(origin).setSector(offset);
                submitPiece(clone);
                return;
            }
        }
        clone.fill(0, clone.sizeBytes(), (byte) 0);
        end(clone, BioStatus.OK);
    }

    /** Hands the piece to the worker as a step of its own. */
    private void defer(Bio clone) {
        pool.handedOff();
        pool.postOrFail(new PieceWork("process", clone::complete, null, () -> process(clone)));
    }

    /** Ends the piece (marking it handed on first: its step no longer owns it). */
    private void end(Bio clone, BioStatus status) {
        pool.handedOff();
        clone.complete(status);
    }

    /** Submits the piece to its lower device (marking it handed on first). */
    private void submitPiece(Bio clone) {
        pool.handedOff();
        pool.submitter.submit(clone);
    }

    @Override
    public EndIoResult endIo(Bio clone, BioStatus status) {
        Object d = TargetIo.of(clone).data();
        switch (d) {
            case Tracked t -> untrack(t.key());
            case Provision p -> {
                TargetIo tio = TargetIo.of(clone);
                pool.postOrFail(new PieceWork("map provisioned block", tio::finish, p.cell(),
                        () -> provisionWritten(tio, p, status)));
                return EndIoResult.KEEP;
            }
            case Requeued r -> {
                return EndIoResult.REQUEUE;
            }
            case Held h -> {
                TargetIo tio = TargetIo.of(clone);
                pool.postOrFail(new PieceWork("end write", tio::finish, h.cell(), () -> {
                    releaseCell(h.cell());
                    pool.handedOff();
                    tio.finish(status);
                }));
                return EndIoResult.KEEP;
            }
            case null, default -> { }
        }
        return EndIoResult.done(status);
    }

    // ---------------------------------------------------------------- worker

    /** On the worker: the slow path for any piece of this device. */
    void process(Bio clone) {
        if (requeueMode) {
            requeue(clone);
            return;
        }
        if (pool.mode() == PoolMode.FAIL) {
            end(clone, BioStatus.IOERR);
            return;
        }
        switch (clone.op()) {
            case FLUSH -> {
                end(clone, pool.commit() ? BioStatus.OK : BioStatus.IOERR);
                return;
            }
            case WRITE_ZEROES -> {
                end(clone, BioStatus.NOTSUPP);
                return;
            }
            default -> { }
        }
        long offset = ctx.targetOffset(clone.sector());
        long vblock = offset / bs;
        Prison.Key key = new Prison.Key(devId, vblock);
        if (clone.op() == BioOp.READ) {
            fastPath(clone);
            return;
        }
        if (clone.op() == BioOp.WRITE && clone.hasFlag(BioFlags.FUA) && pool.metadataChanged()) {
            if (!pool.commit()) {
                end(clone, BioStatus.IOERR);
                return;
            }
        }
        Prison.Cell cell = pool.prison.detain(key, clone);
        if (cell == null) {
            pool.handedOff();
            return; // detained behind the block's current operation
        }
        pool.holding(cell);
        if (pool.prison.drainedOrWait(cell, new PieceWork("process", clone::complete, cell,
                () -> processHeld(clone, cell, offset, vblock)))) {
            processHeld(clone, cell, offset, vblock);
        } else {
            pool.handedOff(); // the last in-flight piece on the block posts the step
        }
    }

    /** On the worker, holding the block's cell with no fast-path I/O in flight on it. */
    private void processHeld(Bio clone, Prison.Cell cell, long offset, long vblock) {
        pool.hooks.cellHeld(clone, devId, vblock);
        if (clone.op() == BioOp.DISCARD) {
            discard(clone, cell, offset, vblock);
            return;
        }
        PoolMode mode = pool.mode();
        ThinMetadata.Mapping[] found = new ThinMetadata.Mapping[1];
        long newBlock;
        try {
            newBlock = pool.withMetadata(md -> {
                found[0] = md.lookup(devId, vblock);
                if (found[0] != null && !found[0].shared()) {
                    return -3L;
                }
                if (mode.ordinal() >= PoolMode.OUT_OF_METADATA_SPACE.ordinal()) {
                    return -4L;
                }
                long b = pool.allocateLocked();
                if (b == -1 && requeueMode) {
                    return -6L;
                }
                if (b == -1) {
                    pool.noSpaceLocked(clone, new PieceWork("retry after no space", clone::complete, null,
                            () -> process(clone)));
                    return -5L;
                }
                if (b >= 0) {
                    pool.hooks.provisioningLocked(devId, vblock, b);
                }
                return b;
            });
        } catch (MetadataException | RuntimeException e) {
            pool.metadataFailed("provision", e);
            releaseCell(cell);
            end(clone, BioStatus.IOERR);
            return;
        }
        ThinMetadata.Mapping m = found[0];
        if (newBlock == -3) {
            // Mapped and unshared by now: remap while holding the cell, then release.
            TargetIo.of(clone).setData(new Held(cell));
            clone.setDevice(data).setSector(m.dataBlock() * bs + offset % bs);
            submitPiece(clone);
            return;
        }
        if (newBlock == -6) {
            releaseCell(cell);
            requeue(clone);
            return;
        }
        if (newBlock == -5) {
            releaseCell(cell); // queued for space (handed off): it comes back through process()
            return;
        }
        if (newBlock < 0) {
            releaseCell(cell);
            end(clone, BioStatus.IOERR);
            return;
        }
        long b = newBlock;
        Provision p = new Provision(cell.key, cell, b, clone.hasFlag(BioFlags.FUA));
        long blockStart = vblock * bs;
        boolean whole = offset % bs == 0 && clone.sectors() == bs;
        CopyEngine copier = pool.copier();
        CopyEngine.Region dst = new CopyEngine.Region(data, b * bs, bs);
        if (whole) {
            issueProvision(clone, p, offset);
            return;
        }
        // The copy's callback carries the piece on as a new step; it runs only after this step ends
        // (one worker), so the piece is marked handed off once the copy has started.
        if (m != null) {
            copier.copy(new CopyEngine.Region(data, m.dataBlock() * bs, bs), dst, (re, we) -> copiedStep(clone, p, offset, re || we));
        } else if (origin != null && blockStart < origin.capacitySectors()) {
            long inside = Math.min(bs, origin.capacitySectors() - blockStart);
            Runnable copyOrigin = () -> copier.copy(new CopyEngine.Region(origin, blockStart, inside),
                    new CopyEngine.Region(data, b * bs, inside), (re, we) -> copiedStep(clone, p, offset, re || we));
            if (inside < bs && !pool.config().skipBlockZeroing()) {
                copier.zero(new CopyEngine.Region(data, b * bs + inside, bs - inside), (re, we) -> {
                    if (re || we) {
                        copiedStep(clone, p, offset, true);
                    } else {
                        copyOrigin.run();
                    }
                });
            } else {
                copyOrigin.run();
            }
        } else if (!pool.config().skipBlockZeroing()) {
            copier.zero(dst, (re, we) -> copiedStep(clone, p, offset, re || we));
        } else {
            issueProvision(clone, p, offset);
            return;
        }
        pool.handedOff();
    }

    private void copiedStep(Bio clone, Provision p, long offset, boolean failed) {
        pool.postOrFail(new PieceWork("provision after copy", clone::complete, p.cell(), () -> copied(clone, p, offset, failed)));
    }

    /** The new block was zeroed or filled with the old data: issue the write. */
    private void copied(Bio clone, Provision p, long offset, boolean failed) {
        if (failed) {
            abandon(p);
            end(clone, BioStatus.IOERR);
            return;
        }
        issueProvision(clone, p, offset);
    }

    private void issueProvision(Bio clone, Provision p, long offset) {
        TargetIo.of(clone).setData(p);
        clone.setDevice(data).setSector(p.dataBlock() * bs + offset % bs);
        submitPiece(clone);
    }

    /** On the worker: the provisioned write ended; map the block, then complete (after a commit for FUA). */
    private void provisionWritten(TargetIo tio, Provision p, BioStatus status) {
        if (!status.isOk()) {
            abandon(p);
            pool.handedOff();
            tio.finish(status);
            return;
        }
        if (pool.mode().ordinal() >= PoolMode.READ_ONLY.ordinal()) {
            // The transaction that allocated the block was aborted meanwhile: the block is not ours to map.
            releaseCell(p.cell());
            pool.handedOff();
            tio.finish(BioStatus.IOERR);
            return;
        }
        boolean fua = p.fua();
        try {
            pool.withMetadata(md -> {
                md.insert(devId, p.key().vblock(), p.dataBlock());
                if (fua) {
                    pool.commitLocked();
                }
                return null;
            });
        } catch (MetadataException | RuntimeException e) {
            pool.metadataFailed("insert", e);
            releaseCell(p.cell());
            pool.handedOff();
            tio.finish(BioStatus.IOERR);
            return;
        }
        // The cell goes first: whoever waits for this bio may come straight back to the block.
        releaseCell(p.cell());
        pool.handedOff();
        tio.finish(BioStatus.OK);
    }

    /** Gives back a block allocated for a provision that failed, and releases the cell. */
    private void abandon(Provision p) {
        if (pool.mode().ordinal() >= PoolMode.READ_ONLY.ordinal()) {
            releaseCell(p.cell()); // aborted meanwhile: the allocation went with the transaction
            return;
        }
        try {
            pool.withMetadata(md -> {
                md.decDataBlock(p.dataBlock());
                return null;
            });
        } catch (MetadataException | RuntimeException e) {
            pool.metadataFailed("free block", e);
        }
        releaseCell(p.cell());
    }

    /** Releases a cell and runs its detained pieces again, in order. */
    private void releaseCell(Prison.Cell cell) {
        pool.releaseCell(cell);
    }

    /** A discard piece (at most one block): whole blocks are unmapped, with passdown of blocks now unused. */
    private void discard(Bio clone, Prison.Cell cell, long offset, long vblock) {
        boolean whole = offset % bs == 0 && clone.sectors() == bs;
        if (!whole || pool.mode().ordinal() >= PoolMode.OUT_OF_METADATA_SPACE.ordinal()) {
            releaseCell(cell);
            end(clone, BioStatus.OK);
            return;
        }
        long passdown;
        try {
            passdown = pool.withMetadata(md -> {
                ThinMetadata.Mapping m = md.lookup(devId, vblock);
                if (m == null) {
                    return -1L;
                }
                md.remove(devId, vblock);
                if (pool.passdownEffective() && md.dataBlockRefCount(m.dataBlock()) == 0) {
                    md.incDataBlock(m.dataBlock()); // held until the passdown discard ends
                    return m.dataBlock();
                }
                return -1L;
            });
        } catch (MetadataException | RuntimeException e) {
            pool.metadataFailed("discard", e);
            releaseCell(cell);
            end(clone, BioStatus.IOERR);
            return;
        }
        releaseCell(cell);
        if (passdown < 0) {
            end(clone, BioStatus.OK);
            return;
        }
        long held = passdown;
        Bio d = Bio.alloc().setDevice(data).setOp(BioOp.DISCARD).setSector(held * bs)
                .setSizeBytes((int) Sectors.toBytes(bs));
        d.setEndIo(x -> pool.postOrFail(new PieceWork("end discard passdown", clone::complete, null, () -> {
            try {
                pool.withMetadata(md -> {
                    md.decDataBlock(held);
                    return null;
                });
            } catch (MetadataException | RuntimeException e) {
                pool.metadataFailed("discard passdown", e);
            }
            end(clone, BioStatus.OK);
        })));
        pool.handedOff();
        pool.submitter.submit(d);
    }

    // ---------------------------------------------------------------- suspend

    /** Hands a piece back to dm core, which holds it for the resume (noflush) or fails it (flush suspend). */
    private void requeue(Bio clone) {
        TargetIo.of(clone).setData(REQUEUED);
        end(clone, BioStatus.OK);
    }

    /**
     * A noflush suspend ({@code thin_presuspend}, {@code do_noflush_start}): pieces waiting for data space
     * would keep the suspend from draining, so they, and any that get here until the suspend has drained,
     * go back to dm core, which replays them after the resume (when a larger pool has room for them).
     * A flush suspend waits for them as Linux does, up to the pool's no-space timeout.
     */
    @Override
    public void presuspend() {
        if (!ctx.noflushSuspending()) {
            return;
        }
        requeueMode = true;
        for (Bio b : pool.takeParked(this)) {
            requeue(b);
        }
    }

    @Override
    public void postsuspend() {
        requeueMode = false; // do_noflush_stop: drained, and the gate holds everything new
    }

    @Override
    public void resume() {
        requeueMode = false; // also ends an aborted suspend's requeue mode
    }

    // ---------------------------------------------------------------- status and life cycle

    @Override
    public String statusInfo() {
        return pool.thinStatus(devId);
    }

    @Override
    public String statusTable() {
        return poolRef.spec() + " " + devId + (originRef == null ? "" : " " + originRef.spec());
    }

    @Override
    public void close() {
        try {
            pool.withMetadata(md -> {
                md.closeDevice(devId);
                return null;
            });
        } catch (MetadataException e) {
            throw new AssertionError("closeDevice does no I/O", e);
        }
        registry.release(pool);
    }
}
