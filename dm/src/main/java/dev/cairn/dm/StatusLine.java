package dev.cairn.dm;

import java.util.Objects;

/**
 * One line of a status: {@code <start> <length> <target> <params>}.
 *
 * @param params the target's INFO or TABLE parameters (may be empty)
 */
public record StatusLine(long startSector, long lengthSectors, String targetName, String params) {
    public StatusLine {
        Objects.requireNonNull(targetName, "targetName");
        Objects.requireNonNull(params, "params");
    }

    /** As dmsetup prints it: {@code 0 2048 linear base 0}; no trailing space when params is empty. */
    @Override
    public String toString() {
        return startSector + " " + lengthSectors + " " + targetName + (params.isEmpty() ? "" : " " + params);
    }
}
