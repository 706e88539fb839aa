package dev.cairn.thin;

/**
 * A pool operation refused before it changed anything (a device id that exists or does not, a busy
 * device, a wrong transaction id): the caller's mistake, not damaged metadata.
 */
public final class ThinRequestException extends Exception {
    private static final long serialVersionUID = 1L;

    /** The Linux errno this refusal corresponds to (EEXIST, ENODATA, EBUSY, EINVAL). */
    private final int errno;

    public ThinRequestException(int errno, String message) {
        super(message);
        this.errno = errno;
    }

    public int errno() {
        return errno;
    }
}
