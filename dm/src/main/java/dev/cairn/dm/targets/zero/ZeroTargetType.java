package dev.cairn.dm.targets.zero;

import dev.cairn.dm.TableException;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetArgs;
import dev.cairn.dm.TargetContext;
import dev.cairn.dm.TargetType;
import dev.cairn.dm.TargetVersion;

/** {@code zero}: reads return zeros, writes and discards are accepted and dropped. */
public final class ZeroTargetType implements TargetType {
    @Override
    public String name() {
        return "zero";
    }

    @Override
    public TargetVersion version() {
        return TargetVersion.of(1, 0, 0);
    }

    @Override
    public Target create(TargetContext ctx, TargetArgs args) throws TableException {
        ZeroConfig.parse(args);
        return new ZeroTarget();
    }
}
