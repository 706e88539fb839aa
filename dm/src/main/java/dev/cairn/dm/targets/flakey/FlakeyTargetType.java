package dev.cairn.dm.targets.flakey;

import dev.cairn.dm.DeviceRef;
import dev.cairn.dm.TableException;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetArgs;
import dev.cairn.dm.TargetContext;
import dev.cairn.dm.TargetType;
import dev.cairn.dm.TargetVersion;

/** {@code flakey}: like linear, but unreliable for {@code down_seconds} of every cycle. */
public final class FlakeyTargetType implements TargetType {
    @Override
    public String name() {
        return "flakey";
    }

    @Override
    public TargetVersion version() {
        return TargetVersion.of(1, 0, 0);
    }

    @Override
    public Target create(TargetContext ctx, TargetArgs args) throws TableException {
        FlakeyConfig config = FlakeyConfig.parse(args);
        DeviceRef dev = args.openDevice("dev", config.device());
        return new FlakeyTarget(ctx, config, dev);
    }
}
