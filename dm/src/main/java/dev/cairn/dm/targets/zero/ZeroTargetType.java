package dev.cairn.dm.targets.zero;

import dev.cairn.dm.TableException;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetArgs;
import dev.cairn.dm.TargetContext;
import dev.cairn.dm.TargetType;

/** {@code zero}: reads return zeros, writes and discards are accepted and dropped. */
public final class ZeroTargetType implements TargetType {
    @Override
    public String name() {
        return "zero";
    }

    @Override
    public Target create(TargetContext ctx, TargetArgs args) throws TableException {
        ZeroConfig.parse(args);
        return new ZeroTarget();
    }
}
