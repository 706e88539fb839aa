package dev.cairn.block;

/**
 * Thrown out of a blocking primitive when its {@link Submitter} shuts down while the thread waits,
 * so that a hung stack can be torn down. Driver code lets it propagate.
 */
public final class IoAbortedException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public IoAbortedException(String message) {
        super(message);
    }
}
