package dev.cairn.dm.targets.linear;

import dev.cairn.dm.DeviceRef;
import dev.cairn.dm.TableException;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetArgs;
import dev.cairn.dm.TargetContext;
import dev.cairn.dm.TargetType;
import dev.cairn.dm.TargetVersion;

/** {@code linear <dev> <offset>}: maps the target's range onto a range of another device. */
public final class LinearTargetType implements TargetType {
    @Override
    public String name() {
        return "linear";
    }

    @Override
    public TargetVersion version() {
        return TargetVersion.of(1, 0, 0);
    }

    @Override
    public Target create(TargetContext ctx, TargetArgs args) throws TableException {
        LinearConfig config = LinearConfig.parse(args);
        DeviceRef dev = args.openDevice("dev", config.device());
        return new LinearTarget(ctx, config, dev);
    }
}
