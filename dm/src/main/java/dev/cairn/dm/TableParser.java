package dev.cairn.dm;

import dev.cairn.block.Sectors;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Parses the dmsetup table format: one {@code <start> <length> <target> [<args>...]} per line, in
 * 512-byte sectors. Blank lines and lines whose first non-blank character is {@code #} are ignored.
 * The lines must tile the device from sector 0, in order, without gaps or overlaps; the device's
 * capacity is the end of the last line, at most {@link Sectors#MAX_DEVICE_SECTORS} (2^63 - 512 bytes):
 * every sector and byte offset of a device then fits a long, so no later arithmetic on it can wrap.
 *
 * <p>Errors name the line ({@code line 3: start: 100 (expected: 96, the end of line 2)}). Target
 * names are checked when the table is built, against the registered target types.
 *
 * <p>Thread safety: stateless.
 */
public final class TableParser {
    private TableParser() {}

    /** Parses and checks the tiling of {@code text}. */
    public static List<TableLine> parse(String text) throws TableException {
        List<TableLine> lines = new ArrayList<>();
        String[] raw = text.split("\r?\n|\r", -1);
        long expectedStart = 0;
        int previousLine = 0;
        for (int i = 0; i < raw.length; i++) {
            int n = i + 1;
            String line = raw[i].strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            String[] fields = line.split("\\s+");
            if (fields.length < 3) {
                throw lineError(n, "line", "\"" + line + "\"", "<start> <length> <target> [<args>...]");
            }
            long start = TargetArgs.parseUnsigned(fields[0]);
            if (start < 0) {
                throw lineError(n, "start", fields[0], "a sector number");
            }
            long length = TargetArgs.parseUnsigned(fields[1]);
            if (length <= 0) {
                throw lineError(n, "length", fields[1], "a number of sectors > 0");
            }
            if (start != expectedStart) {
                throw lineError(n, "start", fields[0],
                        previousLine == 0 ? "0, the first line starts the device" : expectedStart + ", the end of line " + previousLine);
            }
            // start <= MAX_DEVICE_SECTORS here (it is the end of the previous line), so the subtraction cannot wrap.
            if (length > Sectors.MAX_DEVICE_SECTORS - start) {
                throw lineError(n, "length", fields[1], "at most " + (Sectors.MAX_DEVICE_SECTORS - start)
                        + ", so the device stays within " + Sectors.MAX_DEVICE_SECTORS + " sectors (2^63 - 512 bytes)");
            }
            String target = fields[2];
            lines.add(new TableLine(n, start, length, target, Arrays.asList(fields).subList(3, fields.length)));
            expectedStart = start + length;
            previousLine = n;
        }
        if (lines.isEmpty()) {
            throw new TableException("table: empty (expected: at least one line <start> <length> <target> [<args>...])");
        }
        return lines;
    }

    private static TableException lineError(int n, String what, String value, String expected) {
        return new TableException(n, "line " + n + ": " + what + ": " + value + " (expected: " + expected + ")");
    }

    /** Formats lines back to table text, one per line, each ending with a newline. */
    public static String format(List<TableLine> lines) {
        StringBuilder sb = new StringBuilder();
        for (TableLine l : lines) {
            sb.append(l).append('\n');
        }
        return sb.toString();
    }
}
