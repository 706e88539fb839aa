package dev.cairn.daemon;

/**
 * What kind of failure a control request had; the CLI maps {@link #USAGE} to exit code 2 and every
 * other kind to exit code 1. The names travel on the wire in lower case.
 */
public enum ErrorKind {
    /** The request itself is malformed or has a bad argument (exit 2). */
    USAGE,
    /** A named device, export or snapshot does not exist. */
    NOT_FOUND,
    /** The name is taken. */
    EXISTS,
    /** The object is in use (open, stacked on, exported, merging) or the state directory is locked. */
    BUSY,
    /** A table does not parse or its targets refuse their arguments. */
    BAD_TABLE,
    /** The operation was tried and failed (I/O error, target refused, full COW, ...). */
    FAILED,
    /** The daemon's state cannot be read or written. */
    STATE,
    /** A bug: an unexpected exception in the daemon. */
    INTERNAL;

    public String wireName() {
        return name().toLowerCase(java.util.Locale.ROOT).replace('_', '-');
    }

    public static ErrorKind fromWire(String s) {
        for (ErrorKind k : values()) {
            if (k.wireName().equals(s)) {
                return k;
            }
        }
        return INTERNAL;
    }
}
