package dev.cairn.dm.targets.error;

import dev.cairn.dm.TableException;
import dev.cairn.dm.TargetArgs;

/** Arguments of {@code error}: none. */
public record ErrorConfig() {
    public static ErrorConfig parse(TargetArgs args) throws TableException {
        args.expectEnd();
        return new ErrorConfig();
    }

    /** The TABLE status form: empty. */
    public String toTable() {
        return "";
    }
}
