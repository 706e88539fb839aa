package dev.cairn.snapshot;

import dev.cairn.block.Bio;
import dev.cairn.dm.MapResult;
import dev.cairn.dm.TargetContext;

/**
 * {@code snapshot <origin> <cow> <P|PO|N> <chunk_sectors> [<#feat> discard_zeroes_cow
 * discard_passdown_origin]}: the origin as it was when the snapshot was taken, writable. The work
 * is in {@link Snapshot}; this class is the dm glue (the part shared with {@code snapshot-merge} is
 * in {@link SnapshotTargetBase}).
 *
 * <p>Thread safety: see {@link Snapshot}.
 */
final class SnapshotTarget extends SnapshotTargetBase {
    SnapshotTarget(TargetContext context, Snapshot snapshot) {
        super(context, snapshot);
    }

    @Override
    public MapResult map(Bio clone) {
        return snapshot.mapSnapshot(clone, context.targetOffset(clone.sector()));
    }

    @Override
    public int numDiscardBios() {
        return snapshot.discardPassdownOrigin ? 2 : 1;
    }

    @Override
    public void resume() {
        snapshot.activate();
    }

    @Override
    public String toString() {
        return "snapshot " + snapshot.statusTable();
    }
}
