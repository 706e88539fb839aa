package dev.cairn.dm.targets.zero;

import dev.cairn.dm.TableException;
import dev.cairn.dm.TargetArgs;

/** Arguments of {@code zero}: none. */
public record ZeroConfig() {
    public static ZeroConfig parse(TargetArgs args) throws TableException {
        args.expectEnd();
        return new ZeroConfig();
    }

    /** The TABLE status form: empty. */
    public String toTable() {
        return "";
    }
}
