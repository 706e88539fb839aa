package dev.cairn.block;

import java.util.Locale;
import java.util.OptionalLong;

/**
 * Byte counts as people type them, the one rule for every command line, table and stack file:
 * {@code 1073741824}, {@code 512K}, {@code 64M}, {@code 1G}, {@code 2T}, {@code 1P}. Suffixes are binary
 * multiples (1K = 1024), in either case, and may be followed by {@code iB} or {@code B}
 * ({@code 64MiB}, {@code 64MB}, {@code 64m} are all 64 MiB), as with {@code lvcreate -L} and
 * {@code qemu-img}. No sign, no fraction, no spaces inside.
 *
 * <p>Thread safety: stateless.
 */
public final class Sizes {
    /** What every message about a malformed size says is expected. */
    public static final String EXPECTED = "a size in bytes, optionally with a K, M, G, T or P suffix, e.g. 64K or 1G";

    private Sizes() {}

    /** The byte count {@code text} stands for, or empty when it is malformed or does not fit in a long. */
    public static OptionalLong parse(String text) {
        String s = text.toUpperCase(Locale.ROOT);
        if (s.endsWith("IB")) {
            s = s.substring(0, s.length() - 2);
            if (s.isEmpty() || suffixShift(s.charAt(s.length() - 1)) == 0) {
                return OptionalLong.empty(); // "5iB" is not a size
            }
        } else if (s.endsWith("B")) {
            s = s.substring(0, s.length() - 1);
        }
        int shift = s.isEmpty() ? 0 : suffixShift(s.charAt(s.length() - 1));
        String digits = shift == 0 ? s : s.substring(0, s.length() - 1);
        if (digits.isEmpty() || digits.length() > 19) {
            return OptionalLong.empty();
        }
        long value = 0;
        for (int i = 0; i < digits.length(); i++) {
            char c = digits.charAt(i);
            if (c < '0' || c > '9') {
                return OptionalLong.empty();
            }
            value = value * 10 + (c - '0');
            if (value < 0) {
                return OptionalLong.empty();
            }
        }
        if (value > (Long.MAX_VALUE >>> shift)) {
            return OptionalLong.empty();
        }
        return OptionalLong.of(value << shift);
    }

    /**
     * The byte count {@code text} stands for (surrounding spaces ignored).
     *
     * @param what the name of the option or argument, for the message
     * @throws IllegalArgumentException {@code "<what>: <text> (expected: ...)"} when malformed
     */
    public static long parseBytes(String what, String text) {
        OptionalLong v = parse(text.strip());
        if (v.isEmpty()) {
            throw new IllegalArgumentException(what + ": " + text + " (expected: " + EXPECTED + ")");
        }
        return v.getAsLong();
    }

    /** For messages: {@code 1073741824} is {@code 1.0 GiB}; below 1 KiB the value stays in bytes. */
    public static String human(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        String[] units = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        double v = bytes;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(Locale.ROOT, "%.1f %s", v, units[u]);
    }

    private static int suffixShift(char c) {
        return switch (c) {
            case 'K' -> 10;
            case 'M' -> 20;
            case 'G' -> 30;
            case 'T' -> 40;
            case 'P' -> 50;
            default -> 0;
        };
    }
}
