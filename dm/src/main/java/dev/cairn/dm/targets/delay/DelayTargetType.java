package dev.cairn.dm.targets.delay;

import dev.cairn.dm.DeviceRef;
import dev.cairn.dm.TableException;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetArgs;
import dev.cairn.dm.TargetContext;
import dev.cairn.dm.TargetType;
import dev.cairn.dm.TargetVersion;

/** {@code delay}: like linear, but holds each bio for a fixed time before passing it on. */
public final class DelayTargetType implements TargetType {
    @Override
    public String name() {
        return "delay";
    }

    @Override
    public TargetVersion version() {
        return TargetVersion.of(1, 0, 0);
    }

    @Override
    public Target create(TargetContext ctx, TargetArgs args) throws TableException {
        DelayConfig config = DelayConfig.parse(args);
        DeviceRef read = args.openDevice("dev", config.read().device());
        DeviceRef write = config.classes().size() >= 2 ? args.openDevice("wdev", config.write().device()) : read;
        DeviceRef flush = config.classes().size() >= 3 ? args.openDevice("fdev", config.flush().device()) : write;
        return new DelayTarget(ctx, config, read, write, flush);
    }
}
