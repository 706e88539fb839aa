package dev.cairn.block;

/**
 * Allocation state of a device range, as answered by {@link BlockDevice#queryExtents}. The
 * flag values are those of NBD {@code base:allocation}; 0 ("allocated data") is always safe.
 */
public final class Extents {
    /** The range is not allocated (reads may still return data from a lower layer's view). */
    public static final int HOLE = 1;
    /** The range reads as zeros. */
    public static final int ZERO = 1 << 1;

    private Extents() {}

    /** Receives extents in ascending order; return false to stop early. */
    @FunctionalInterface
    public interface Sink {
        boolean extent(long sectors, int flags);
    }
}
