package dev.cairn.snapshot;

import dev.cairn.dm.DeviceRef;
import dev.cairn.dm.Target;
import dev.cairn.dm.TableException;
import dev.cairn.dm.TargetArgs;
import dev.cairn.dm.TargetContext;
import dev.cairn.dm.TargetType;
import dev.cairn.dm.TargetVersion;

/** The {@code snapshot-origin <origin>} target type; see {@link OriginTarget}. */
public final class OriginTargetType implements TargetType {
    @Override
    public String name() {
        return "snapshot-origin";
    }

    @Override
    public TargetVersion version() {
        return TargetVersion.of(1, 0, 0);
    }

    @Override
    public Target create(TargetContext ctx, TargetArgs args) throws TableException {
        args.expectCount("<origin>", 1);
        String spec = args.nextDeviceSpec("origin");
        args.expectEnd();
        DeviceRef origin = args.openDevice("origin", spec);
        return new OriginTarget(ctx, origin, SnapshotTargets.registry(ctx));
    }
}
