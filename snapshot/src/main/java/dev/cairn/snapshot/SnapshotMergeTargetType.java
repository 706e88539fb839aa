package dev.cairn.snapshot;

import dev.cairn.dm.Target;
import dev.cairn.dm.TableException;
import dev.cairn.dm.TargetArgs;
import dev.cairn.dm.TargetContext;
import dev.cairn.dm.TargetType;
import dev.cairn.dm.TargetVersion;

/** The {@code snapshot-merge} target type; see {@link SnapshotMergeTarget}. */
public final class SnapshotMergeTargetType implements TargetType {
    @Override
    public String name() {
        return "snapshot-merge";
    }

    @Override
    public TargetVersion version() {
        return TargetVersion.of(1, 0, 0);
    }

    @Override
    public Target create(TargetContext ctx, TargetArgs args) throws TableException {
        return new SnapshotMergeTarget(ctx, SnapshotTargets.build(ctx, args, Snapshot.Kind.MERGE));
    }
}
