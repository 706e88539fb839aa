package dev.cairn.daemon;

import java.util.Locale;

/**
 * Sizes as people type them: {@code 1073741824}, {@code 512K}, {@code 64M}, {@code 1G}, {@code 2T}
 * (binary multiples; {@code KiB}/{@code K}/{@code k} and a trailing {@code B} are all accepted), and
 * back again for messages ({@code 1.0 GiB}).
 */
public final class Sizes {
    private Sizes() {}

    /** Parses a byte count; errors say what was expected. */
    public static long parseBytes(String what, String text) {
        String s = text.strip();
        String upper = s.toUpperCase(Locale.ROOT);
        if (upper.endsWith("IB")) {
            upper = upper.substring(0, upper.length() - 2);
        } else if (upper.endsWith("B")) {
            upper = upper.substring(0, upper.length() - 1);
        }
        int shift = 0;
        if (!upper.isEmpty()) {
            switch (upper.charAt(upper.length() - 1)) {
                case 'K' -> shift = 10;
                case 'M' -> shift = 20;
                case 'G' -> shift = 30;
                case 'T' -> shift = 40;
                case 'P' -> shift = 50;
                default -> shift = 0;
            }
            if (shift > 0) {
                upper = upper.substring(0, upper.length() - 1);
            }
        }
        long n;
        try {
            n = Long.parseLong(upper);
        } catch (NumberFormatException e) {
            throw bad(what, text);
        }
        if (n < 0 || (shift > 0 && n > (Long.MAX_VALUE >> shift))) {
            throw bad(what, text);
        }
        return n << shift;
    }

    private static IllegalArgumentException bad(String what, String text) {
        return new IllegalArgumentException(what + ": " + text
                + " (expected: a size in bytes, optionally with a K, M, G or T suffix, e.g. 1G)");
    }

    /** {@code 1073741824} -> {@code 1.0 GiB}; small values stay in bytes. */
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
}
