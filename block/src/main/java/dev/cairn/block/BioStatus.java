package dev.cairn.block;

/**
 * How a bio ended (Linux {@code blk_status_t}). Each status carries the POSIX errno that a
 * protocol layer reports for it, so the mapping lives in one place.
 */
public enum BioStatus {
    OK(0),
    /** The device failed the I/O. */
    IOERR(5),
    /** No space left (a write past the end of a growable store, a full COW). */
    NOSPC(28),
    /** The operation or a flag is not supported by this device. */
    NOTSUPP(95),
    /** Out of range or misaligned: the request itself is wrong. Nothing was changed. */
    INVALID(22),
    /** A write to a read-only device. */
    PERM(1),
    /** A bounded resource is exhausted; retrying later may work. */
    NOMEM(12),
    /** The block layer is shutting down; the bio was never started. */
    ABORTED(108);

    private final int errno;

    BioStatus(int errno) {
        this.errno = errno;
    }

    /** The POSIX errno a protocol layer reports for this status (0 for OK). */
    public int errno() {
        return errno;
    }

    public boolean isOk() {
        return this == OK;
    }
}
