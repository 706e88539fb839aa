package dev.cairn.dm.targets.striped;

import dev.cairn.dm.DeviceRef;
import dev.cairn.dm.TableException;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetArgs;
import dev.cairn.dm.TargetContext;
import dev.cairn.dm.TargetType;
import dev.cairn.dm.TargetVersion;
import java.util.ArrayList;
import java.util.List;

/** {@code striped <#stripes> <chunk_sectors> (<dev> <offset>)+}: RAID-0 over several devices. */
public final class StripedTargetType implements TargetType {
    @Override
    public String name() {
        return "striped";
    }

    @Override
    public TargetVersion version() {
        return TargetVersion.of(1, 0, 0);
    }

    @Override
    public Target create(TargetContext ctx, TargetArgs args) throws TableException {
        StripedConfig config = StripedConfig.parse(args, ctx.lengthSectors());
        List<DeviceRef> devs = new ArrayList<>(config.stripes().size());
        for (StripedConfig.Stripe s : config.stripes()) {
            devs.add(args.openDevice("dev", s.device()));
        }
        return new StripedTarget(ctx, config, devs);
    }
}
