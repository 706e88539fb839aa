package dev.cairn.dm;

import dev.cairn.block.Sizes;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.OptionalLong;

/**
 * The one argument reader every target uses (instead of per-target argv parsing): numbers, sector
 * numbers, sizes with K/M/G/T suffixes, powers of two, keywords, device references and
 * {@code <#feat> feat...} groups. Every error names the table line, the target, the argument, the
 * value as written and what was expected:
 *
 * <pre>line 2: striped: chunk_sectors: 3 (expected: a power of two &gt;= 8)</pre>
 *
 * <p>Reading is sequential: each {@code next*} call consumes one argument (a feature group consumes
 * its count and its arguments). Finish with {@link #expectEnd()} so stray arguments are refused.
 *
 * <p>Thread safety: none; a reader belongs to the constructor call it was made for.
 */
public final class TargetArgs {
    private final TargetContext context;
    private final int lineNumber;
    private final String targetName;
    private final List<String> args;
    private int position;

    TargetArgs(TargetContext context, int lineNumber, String targetName, List<String> args) {
        this.context = context;
        this.lineNumber = lineNumber;
        this.targetName = Objects.requireNonNull(targetName, "targetName");
        this.args = List.copyOf(args);
    }

    /**
     * A reader with no table context (line 0, no device resolver), for parsing a config outside a
     * table: tests and tools. {@link #openDevice} then fails.
     */
    public static TargetArgs of(String targetName, List<String> args) {
        return new TargetArgs(null, 0, targetName, args);
    }

    /** A reader over whitespace-separated {@code text}, with no table context. */
    public static TargetArgs parse(String targetName, String text) {
        String t = text.strip();
        return of(targetName, t.isEmpty() ? List.of() : List.of(t.split("\\s+")));
    }

    public int lineNumber() {
        return lineNumber;
    }

    public String targetName() {
        return targetName;
    }

    /** Number of arguments in total. */
    public int size() {
        return args.size();
    }

    /** Number of arguments not read yet. */
    public int remaining() {
        return args.size() - position;
    }

    public boolean hasNext() {
        return position < args.size();
    }

    /** The next argument without consuming it, or null at the end. */
    public String peek() {
        return hasNext() ? args.get(position) : null;
    }

    /** All arguments, as given. */
    public List<String> all() {
        return args;
    }

    // ---------------------------------------------------------------- errors

    /** {@code line N: <target>: <argName>: <value> (expected: <expected>)}. */
    public TableException error(String argName, Object value, String expected) {
        return error(argName + ": " + value + " (expected: " + expected + ")");
    }

    /** {@code line N: <target>: <message>}. */
    public TableException error(String message) {
        String prefix = lineNumber > 0 ? "line " + lineNumber + ": " : "";
        return new TableException(lineNumber, prefix + targetName + ": " + message);
    }

    // ---------------------------------------------------------------- counts

    /**
     * Checks that the number of arguments is one of {@code allowed}; {@code usage} describes them, e.g.
     * {@code <dev> <offset>}. Error: {@code argument count: 1 (expected: 2: <dev> <offset>)}.
     */
    public void expectCount(String usage, int... allowed) throws TableException {
        for (int a : allowed) {
            if (a == args.size()) {
                return;
            }
        }
        throw error("argument count", args.size(), choices(allowed) + (usage.isEmpty() ? "" : ": " + usage));
    }

    /** Checks that at least {@code min} arguments are left to read. */
    public void expectAtLeast(int min, String usage) throws TableException {
        if (args.size() < min) {
            throw error("argument count", args.size(), "at least " + min + (usage.isEmpty() ? "" : ": " + usage));
        }
    }

    /** Checks that every argument was read. */
    public void expectEnd() throws TableException {
        if (hasNext()) {
            throw error("extra argument", args.get(position), "no more arguments");
        }
    }

    private static String choices(int... allowed) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < allowed.length; i++) {
            if (i > 0) {
                sb.append(i == allowed.length - 1 ? " or " : ", ");
            }
            sb.append(allowed[i]);
        }
        return sb.toString();
    }

    // ---------------------------------------------------------------- values

    /** The next argument as text; {@code <argName>: missing (expected: a value)} at the end. */
    public String next(String argName) throws TableException {
        return next(argName, "a value");
    }

    private String next(String argName, String expected) throws TableException {
        if (!hasNext()) {
            throw error(argName, "missing", expected);
        }
        return args.get(position++);
    }

    /** A sector number: a non-negative decimal integer. */
    public long nextSector(String argName) throws TableException {
        String expected = "a sector number";
        String s = next(argName, expected);
        long v = parseUnsigned(s);
        if (v < 0) {
            throw error(argName, s, expected);
        }
        return v;
    }

    /** A decimal integer in {@code [min, max]}. */
    public long nextLong(String argName, long min, long max) throws TableException {
        String expected = "an integer from " + min + " to " + max;
        String s = next(argName, expected);
        long v;
        try {
            if (!s.matches("-?[0-9]+")) {
                throw new NumberFormatException();
            }
            v = Long.parseLong(s);
        } catch (NumberFormatException e) {
            throw error(argName, s, expected);
        }
        if (v < min || v > max) {
            throw error(argName, s, expected);
        }
        return v;
    }

    /** A decimal integer in {@code [min, max]}. */
    public int nextInt(String argName, int min, int max) throws TableException {
        return (int) nextLong(argName, min, max);
    }

    /** A size in bytes, as {@link Sizes} reads it (digits with an optional K, M, G, T or P suffix, powers of 1024). */
    public long nextSizeBytes(String argName) throws TableException {
        String s = next(argName, Sizes.EXPECTED);
        OptionalLong v = Sizes.parse(s);
        if (v.isEmpty()) {
            throw error(argName, s, Sizes.EXPECTED);
        }
        return v.getAsLong();
    }

    /** A power of two in sectors (or any unit), at least {@code min}. */
    public long nextPowerOfTwo(String argName, long min) throws TableException {
        String expected = "a power of two >= " + min;
        String s = next(argName, expected);
        long v = parseUnsigned(s);
        if (v < min || Long.bitCount(v) != 1) {
            throw error(argName, s, expected);
        }
        return v;
    }

    /** One of {@code choices}, compared without case; returns the choice as listed. */
    public String nextKeyword(String argName, String... choices) throws TableException {
        String expected = choices.length == 2 ? choices[0] + " or " + choices[1]
                : "one of " + String.join(", ", choices);
        String s = next(argName, expected);
        for (String c : choices) {
            if (c.equalsIgnoreCase(s)) {
                return c;
            }
        }
        throw error(argName, s, expected);
    }

    /**
     * A device reference, checked for syntax only: a device name or a leaf reference
     * ({@code mem:SIZE}, {@code file:PATH}, any other {@link LeafType}'s). Open it with {@link #openDevice} once every other argument is validated.
     */
    public String nextDeviceSpec(String argName) throws TableException {
        LeafTypes types = context == null ? LeafTypes.load() : context.leafTypes();
        String expected = DeviceSpecs.expected(types);
        String s = next(argName, expected);
        String problem = DeviceSpecs.checkSyntax(s, types);
        if (problem != null) {
            throw error(argName, s, problem);
        }
        return s;
    }

    /** Opens a device reference read by {@link #nextDeviceSpec}; errors name {@code argName}. */
    public DeviceRef openDevice(String argName, String spec) throws TableException {
        if (context == null) {
            throw error(argName, spec, "a table context to open devices in");
        }
        try {
            return context.open(spec);
        } catch (TableException e) {
            Throwable cause = e.getCause();
            String detail = cause != null ? cause.getMessage() : e.getMessage();
            throw new TableException(lineNumber, (lineNumber > 0 ? "line " + lineNumber + ": " : "") + targetName + ": "
                    + argName + ": " + detail, e);
        }
    }

    /**
     * A feature group {@code <#feat> feat...}: reads the count (0 to {@code maxArgs}) and returns a
     * reader over exactly that many following arguments, which this reader skips. When no argument is
     * left at all, returns an empty group (a missing group means "no features").
     */
    public TargetArgs nextFeatures(String argName, int maxArgs) throws TableException {
        if (!hasNext()) {
            return new TargetArgs(context, lineNumber, targetName, List.of());
        }
        int count = nextInt(argName, 0, maxArgs);
        if (count > remaining()) {
            throw error(argName, count, "at most " + remaining() + ", the arguments left");
        }
        List<String> group = args.subList(position, position + count);
        position += count;
        return new TargetArgs(context, lineNumber, targetName, group);
    }

    // ---------------------------------------------------------------- parsing helpers

    /** Parses a non-negative decimal integer; -1 when {@code s} is not one or overflows. */
    static long parseUnsigned(String s) {
        if (s.isEmpty() || s.length() > 19) {
            return -1;
        }
        long v = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            v = v * 10 + (c - '0');
            if (v < 0) {
                return -1;
            }
        }
        return v;
    }

    @Override
    public String toString() {
        return targetName + " " + String.join(" ", args).toLowerCase(Locale.ROOT);
    }
}
