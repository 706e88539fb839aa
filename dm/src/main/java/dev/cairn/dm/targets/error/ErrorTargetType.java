package dev.cairn.dm.targets.error;

import dev.cairn.dm.TableException;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetArgs;
import dev.cairn.dm.TargetContext;
import dev.cairn.dm.TargetType;
import dev.cairn.dm.TargetVersion;

/** {@code error}: every I/O fails with EIO. */
public final class ErrorTargetType implements TargetType {
    @Override
    public String name() {
        return "error";
    }

    @Override
    public TargetVersion version() {
        return TargetVersion.of(1, 0, 0);
    }

    @Override
    public Target create(TargetContext ctx, TargetArgs args) throws TableException {
        ErrorConfig.parse(args);
        return new ErrorTarget();
    }
}
