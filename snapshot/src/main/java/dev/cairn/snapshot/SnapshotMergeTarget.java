package dev.cairn.snapshot;

import dev.cairn.block.Bio;
import dev.cairn.dm.MapResult;
import dev.cairn.dm.TargetContext;

/**
 * {@code snapshot-merge <origin> <cow> <P|PO> <chunk_sectors>}: takes the origin's place while the
 * snapshot's exceptions are copied back into it, last exceptions first (Linux
 * {@code snapshot_merge_map} and the merge loop). Chunks not merged yet are read from the COW;
 * writes to the chunks being merged wait until their merge is committed; other writes go to the
 * origin and make the origin's other snapshots copy out first. A restart simply continues with
 * what is left on the COW. The INFO status shows the progress: it is finished when
 * {@code allocated == metadata}. The dm glue shared with {@code snapshot} is in
 * {@link SnapshotTargetBase}.
 *
 * <p>Thread safety: see {@link Snapshot}.
 */
final class SnapshotMergeTarget extends SnapshotTargetBase {
    SnapshotMergeTarget(TargetContext context, Snapshot snapshot) {
        super(context, snapshot);
    }

    @Override
    public MapResult map(Bio clone) {
        return snapshot.mapMerge(clone, context.targetOffset(clone.sector()),
                snapshot.registry.minimumChunkSectors(snapshot.origin));
    }

    /** Leg 0 flushes the origin, leg 1 the COW. */
    @Override
    public int numFlushBios() {
        return 2;
    }

    @Override
    public void presuspend() {
        snapshot.stopMerge();
    }

    @Override
    public void resume() {
        snapshot.activate();
        snapshot.startMerge();
    }

    @Override
    public String toString() {
        return "snapshot-merge " + snapshot.statusTable();
    }
}
