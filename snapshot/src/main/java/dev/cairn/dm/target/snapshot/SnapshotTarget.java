package dev.cairn.dm.target.snapshot;

import dev.cairn.block.Bio;
import dev.cairn.block.BioStatus;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.Sectors;
import dev.cairn.dm.EndIoResult;
import dev.cairn.dm.MapResult;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetContext;

/**
 * {@code snapshot <origin> <cow> <P|PO|N> <chunk_sectors> [<#feat> discard_zeroes_cow
 * discard_passdown_origin]}: the origin as it was when the snapshot was taken, writable. The work
 * is in {@link Snapshot}; this class is the dm glue.
 *
 * <p>Thread safety: see {@link Snapshot}.
 */
final class SnapshotTarget implements Target {
    private final TargetContext context;
    private final Snapshot snapshot;

    SnapshotTarget(TargetContext context, Snapshot snapshot) {
        this.context = context;
        this.snapshot = snapshot;
    }

    Snapshot snapshot() {
        return snapshot;
    }

    @Override
    public MapResult map(Bio clone) {
        return snapshot.mapSnapshot(clone, context.targetOffset(clone.sector()));
    }

    @Override
    public EndIoResult endIo(Bio clone, BioStatus status) {
        return snapshot.endIo(clone, status);
    }

    /** dm core never hands {@code map} a bio that crosses a chunk ({@code dm_set_target_max_io_len}). */
    @Override
    public long maxIoSectors() {
        return snapshot.chunkSectors;
    }

    @Override
    public int numDiscardBios() {
        return snapshot.discardPassdownOrigin ? 2 : 1;
    }

    @Override
    public String statusInfo() {
        return snapshot.statusInfo();
    }

    @Override
    public String statusTable() {
        return snapshot.statusTable();
    }

    @Override
    public void iterateDevices(DeviceVisitor visitor) {
        visitor.visit(snapshot.originRef, 0, context.lengthSectors());
        visitor.visit(snapshot.cowRef, 0, snapshot.cow.capacitySectors());
    }

    @Override
    public QueueLimits ioHints(QueueLimits limits) {
        return hints(snapshot, limits);
    }

    /** Discards only with {@code discard_zeroes_cow}, cut at chunks (Linux {@code snapshot_io_hints}); never write-zeroes. */
    static QueueLimits hints(Snapshot snapshot, QueueLimits limits) {
        QueueLimits l = limits.withWriteZeroes(0);
        if (!snapshot.discardZeroesCow) {
            return l.withDiscard(0, 0);
        }
        return l.withDiscard((int) Math.min(Integer.MAX_VALUE, Sectors.toBytes(snapshot.chunkSectors)), snapshot.chunkSectors);
    }

    @Override
    public void resume() {
        snapshot.activate();
    }

    @Override
    public void close() {
        snapshot.close();
    }

    @Override
    public String toString() {
        return "snapshot " + snapshot.statusTable();
    }
}
