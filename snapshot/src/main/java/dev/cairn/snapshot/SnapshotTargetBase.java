package dev.cairn.snapshot;

import dev.cairn.block.Bio;
import dev.cairn.block.BioStatus;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.Sectors;
import dev.cairn.dm.EndIoResult;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetContext;

/**
 * The dm glue that {@code snapshot} and {@code snapshot-merge} share: both are a {@link Snapshot}
 * seen through a table line, and differ only in how they map bios and in their life-cycle hooks.
 *
 * <p>Thread safety: see {@link Snapshot}.
 */
abstract sealed class SnapshotTargetBase implements Target, SnapshotStatus.Source permits SnapshotTarget, SnapshotMergeTarget {
    final TargetContext context;
    final Snapshot snapshot;

    SnapshotTargetBase(TargetContext context, Snapshot snapshot) {
        this.context = context;
        this.snapshot = snapshot;
    }

    final Snapshot snapshot() {
        return snapshot;
    }

    @Override
    public final EndIoResult endIo(Bio clone, BioStatus status) {
        return snapshot.endIo(clone, status);
    }

    /** dm core never hands {@code map} a bio that crosses a chunk ({@code dm_set_target_max_io_len}). */
    @Override
    public final long maxIoSectors() {
        return snapshot.chunkSectors;
    }

    @Override
    public final String statusInfo() {
        return snapshot.statusInfo();
    }

    @Override
    public final SnapshotStatus snapshotStatus() {
        return snapshot.status();
    }

    @Override
    public final String statusTable() {
        return snapshot.statusTable();
    }

    @Override
    public final void iterateDevices(DeviceVisitor visitor) {
        visitor.visit(snapshot.originRef, 0, context.lengthSectors());
        visitor.visit(snapshot.cowRef, 0, snapshot.cow.capacitySectors());
    }

    /** Discards only with {@code discard_zeroes_cow}, cut at chunks (Linux {@code snapshot_io_hints}); never write-zeroes. */
    @Override
    public final QueueLimits ioHints(QueueLimits limits) {
        QueueLimits l = limits.withWriteZeroes(0);
        if (!snapshot.discardZeroesCow) {
            return l.withDiscard(0, 0);
        }
        return l.withDiscard((int) Math.min(Integer.MAX_VALUE, Sectors.toBytes(snapshot.chunkSectors)), snapshot.chunkSectors);
    }

    @Override
    public final void close() {
        snapshot.close();
    }
}
