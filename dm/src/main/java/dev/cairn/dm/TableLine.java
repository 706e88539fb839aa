package dev.cairn.dm;

import java.util.List;
import java.util.Objects;

/**
 * One parsed line of a table: {@code start length target args...}.
 *
 * @param lineNumber    1-based line in the table text (comments and blank lines count)
 * @param startSector   first sector of the mapped device covered by this line
 * @param lengthSectors number of sectors covered (> 0)
 * @param targetName    the target type, e.g. {@code linear}
 * @param args          the target's arguments, split at whitespace
 */
public record TableLine(int lineNumber, long startSector, long lengthSectors, String targetName, List<String> args) {
    public TableLine {
        Objects.requireNonNull(targetName, "targetName");
        args = List.copyOf(args);
    }

    /** The line in canonical dmsetup form: fields separated by one space. */
    @Override
    public String toString() {
        return startSector + " " + lengthSectors + " " + targetName + (args.isEmpty() ? "" : " " + String.join(" ", args));
    }
}
