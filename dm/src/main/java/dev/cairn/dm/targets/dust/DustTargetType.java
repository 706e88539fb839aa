package dev.cairn.dm.targets.dust;

import dev.cairn.dm.DeviceRef;
import dev.cairn.dm.TableException;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetArgs;
import dev.cairn.dm.TargetContext;
import dev.cairn.dm.TargetType;
import dev.cairn.dm.TargetVersion;

/** {@code dust <dev> <offset> <blksz>}: linear, with bad blocks added and removed by messages. */
public final class DustTargetType implements TargetType {
    @Override
    public TargetVersion version() {
        return TargetVersion.of(1, 0, 0);
    }

    @Override
    public String name() {
        return "dust";
    }

    @Override
    public Target create(TargetContext ctx, TargetArgs args) throws TableException {
        DustConfig config = DustConfig.parse(args, ctx.lengthSectors());
        DeviceRef dev = args.openDevice("dev", config.device());
        return new DustTarget(ctx, config, dev);
    }
}
