package dev.cairn.block;

import java.util.Locale;
import java.util.OptionalLong;

/**
 * Byte counts as people type them, the one rule for every command line, table and stack file:
 * {@code 1073741824}, {@code 512K}, {@code 64M}, {@code 1G}, {@code 2T}, {@code 1P}. Suffixes are binary
 * multiples (1K = 1024), in either case, and may be followed by {@code iB} or {@code B}
 * ({@code 64MiB}, {@code 64MB}, {@code 64m} are all 64 MiB), as with {@code lvcreate -L} and
 * {@code qemu-img}. With a suffix the number may have a fraction, as {@code lvcreate -L 1.5G} allows
 * ({@code 1.5G} is 1610612736 bytes); the value must then come to a whole number of bytes ({@code 1.1K}
 * is refused rather than rounded). No sign, no exponent, no spaces inside.
 *
 * <p>Thread safety: stateless.
 */
public final class Sizes {
    /** What every message about a malformed size says is expected. */
    public static final String EXPECTED = "a size in bytes, optionally with a K, M, G, T or P suffix, e.g. 64K, 1G or 1.5G (whole bytes)";

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
        int point = digits.indexOf('.');
        if (point >= 0) {
            return shift == 0 ? OptionalLong.empty() : fraction(digits, point, shift);
        }
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

    /** {@code whole.frac << shift} when both parts are digits (one may be empty, not both) and it is whole bytes. */
    private static OptionalLong fraction(String digits, int point, int shift) {
        String whole = digits.substring(0, point);
        String frac = digits.substring(point + 1);
        if (whole.length() + frac.length() == 0 || whole.length() > 19 || frac.length() > 19
                || !(whole + frac).chars().allMatch(c -> c >= '0' && c <= '9')) {
            return OptionalLong.empty();
        }
        java.math.BigDecimal bytes = new java.math.BigDecimal((whole.isEmpty() ? "0" : whole) + "." + (frac.isEmpty() ? "0" : frac))
                .multiply(new java.math.BigDecimal(java.math.BigInteger.ONE.shiftLeft(shift)));
        try {
            return OptionalLong.of(bytes.longValueExact());
        } catch (ArithmeticException notWholeOrTooLarge) {
            return OptionalLong.empty();
        }
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
