package dev.cairn.block;

/**
 * Request flags of a bio, as a bit set in an {@code int} (no allocation on the hot path).
 * The names follow Linux {@code REQ_*}.
 */
public final class BioFlags {
    /** Forced unit access: the bio completes only once its data is durable. */
    public static final int FUA = 1;
    /** Flush the device's volatile cache before this bio's data is written. */
    public static final int PREFLUSH = 1 << 1;
    /** Synchronous request: someone is waiting for it (scheduling hint only). */
    public static final int SYNC = 1 << 2;
    /** For WRITE_ZEROES: zero the range but keep it allocated (NBD NO_HOLE). */
    public static final int NOUNMAP = 1 << 3;
    /** For WRITE_ZEROES: fail with NOTSUPP at once unless zeroing is faster than writing (NBD FAST_ZERO). */
    public static final int FAST_ZERO = 1 << 4;

    private static final int ALL = FUA | PREFLUSH | SYNC | NOUNMAP | FAST_ZERO;

    private BioFlags() {}

    /** True when {@code flags} contains {@code flag}. */
    public static boolean has(int flags, int flag) {
        return (flags & flag) != 0;
    }

    /** Checks that {@code flags} has no unknown bit. */
    public static int validate(int flags) {
        if ((flags & ~ALL) != 0) {
            throw new IllegalArgumentException("flags: 0x" + Integer.toHexString(flags) + " (expected: a subset of 0x"
                    + Integer.toHexString(ALL) + ")");
        }
        return flags;
    }

    /** Human-readable form, e.g. {@code FUA|PREFLUSH}; {@code -} when empty. */
    public static String toString(int flags) {
        if (flags == 0) {
            return "-";
        }
        StringBuilder sb = new StringBuilder();
        append(sb, flags, FUA, "FUA");
        append(sb, flags, PREFLUSH, "PREFLUSH");
        append(sb, flags, SYNC, "SYNC");
        append(sb, flags, NOUNMAP, "NOUNMAP");
        append(sb, flags, FAST_ZERO, "FAST_ZERO");
        return sb.toString();
    }

    private static void append(StringBuilder sb, int flags, int flag, String name) {
        if ((flags & flag) != 0) {
            if (!sb.isEmpty()) {
                sb.append('|');
            }
            sb.append(name);
        }
    }
}
