package dev.cairn.block;

/**
 * What a device accepts and promises (Linux {@code queue_limits}, plus the feature bits that
 * decide which operations it supports). Stacked devices combine the limits of what they sit on
 * with {@link #stack}.
 *
 * @param logicalBlockBytes   smallest addressable unit; I/O must be aligned to it (power of 2, 512..65536)
 * @param physicalBlockBytes  preferred unit; smaller writes may cost a read-modify-write
 * @param maxSectors          largest single bio in sectors; 0 means no limit
 * @param discardGranularityBytes unit in which discards actually deallocate (0: discard unsupported)
 * @param maxDiscardSectors   largest discard bio; 0 means discard is not supported
 * @param maxWriteZeroesSectors largest WRITE_ZEROES bio; 0 means WRITE_ZEROES is not supported
 * @param writeCache          the device has a volatile cache, so FLUSH and PREFLUSH mean something
 * @param fua                 the device honours FUA natively (otherwise it is emulated with a flush)
 * @param readOnly            writes are refused with {@link BioStatus#PERM}
 * @param optimalIoBytes      I/O in multiples of this, aligned to it, is the device's best (Linux {@code io_opt}:
 *                            an RBD image's object size, a stripe set's full stripe); 0 means no hint. When not
 *                            0 it is a multiple of {@code physicalBlockBytes}
 */
public record QueueLimits(
        int logicalBlockBytes,
        int physicalBlockBytes,
        long maxSectors,
        int discardGranularityBytes,
        long maxDiscardSectors,
        long maxWriteZeroesSectors,
        boolean writeCache,
        boolean fua,
        boolean readOnly,
        int optimalIoBytes) {

    public QueueLimits {
        checkBlockSize("logicalBlockBytes", logicalBlockBytes);
        checkBlockSize("physicalBlockBytes", physicalBlockBytes);
        if (physicalBlockBytes < logicalBlockBytes) {
            throw new IllegalArgumentException("physicalBlockBytes: " + physicalBlockBytes
                    + " (expected: >= logicalBlockBytes " + logicalBlockBytes + ")");
        }
        if (maxSectors < 0 || maxDiscardSectors < 0 || maxWriteZeroesSectors < 0 || discardGranularityBytes < 0) {
            throw new IllegalArgumentException("limits must not be negative: " + maxSectors + ", " + maxDiscardSectors
                    + ", " + maxWriteZeroesSectors + ", " + discardGranularityBytes);
        }
        if (optimalIoBytes < 0 || optimalIoBytes % physicalBlockBytes != 0) {
            throw new IllegalArgumentException("optimalIoBytes: " + optimalIoBytes
                    + " (expected: 0 or a multiple of physicalBlockBytes " + physicalBlockBytes + ")");
        }
    }

    /** Limits with no optimal I/O size hint ({@code optimalIoBytes} 0). */
    public QueueLimits(int logicalBlockBytes, int physicalBlockBytes, long maxSectors, int discardGranularityBytes,
            long maxDiscardSectors, long maxWriteZeroesSectors, boolean writeCache, boolean fua, boolean readOnly) {
        this(logicalBlockBytes, physicalBlockBytes, maxSectors, discardGranularityBytes, maxDiscardSectors,
                maxWriteZeroesSectors, writeCache, fua, readOnly, 0);
    }

    /** A plain device with 512-byte blocks, no size limit, every operation supported, a write cache and native FUA. */
    public static QueueLimits defaults() {
        return new QueueLimits(512, 4096, 0, 4096, Long.MAX_VALUE >> 10, Long.MAX_VALUE >> 10, true, true, false);
    }

    public boolean supportsDiscard() {
        return maxDiscardSectors > 0;
    }

    public boolean supportsWriteZeroes() {
        return maxWriteZeroesSectors > 0;
    }

    public QueueLimits withReadOnly(boolean value) {
        return new QueueLimits(logicalBlockBytes, physicalBlockBytes, maxSectors, discardGranularityBytes,
                maxDiscardSectors, maxWriteZeroesSectors, writeCache, fua, value, optimalIoBytes);
    }

    public QueueLimits withMaxSectors(long value) {
        return new QueueLimits(logicalBlockBytes, physicalBlockBytes, value, discardGranularityBytes,
                maxDiscardSectors, maxWriteZeroesSectors, writeCache, fua, readOnly, optimalIoBytes);
    }

    public QueueLimits withDiscard(int granularityBytes, long maxSectors) {
        return new QueueLimits(logicalBlockBytes, physicalBlockBytes, this.maxSectors, granularityBytes,
                maxSectors, maxWriteZeroesSectors, writeCache, fua, readOnly, optimalIoBytes);
    }

    public QueueLimits withWriteZeroes(long maxSectors) {
        return new QueueLimits(logicalBlockBytes, physicalBlockBytes, this.maxSectors, discardGranularityBytes,
                maxDiscardSectors, maxSectors, writeCache, fua, readOnly, optimalIoBytes);
    }

    public QueueLimits withCache(boolean writeCache, boolean fua) {
        return new QueueLimits(logicalBlockBytes, physicalBlockBytes, maxSectors, discardGranularityBytes,
                maxDiscardSectors, maxWriteZeroesSectors, writeCache, fua, readOnly, optimalIoBytes);
    }

    /** The same limits with optimal I/O size {@code bytes} (0: no hint; else a multiple of the physical block). */
    public QueueLimits withOptimalIo(int bytes) {
        return new QueueLimits(logicalBlockBytes, physicalBlockBytes, maxSectors, discardGranularityBytes,
                maxDiscardSectors, maxWriteZeroesSectors, writeCache, fua, readOnly, bytes);
    }

    /**
     * Limits of a device stacked on {@code this} and {@code bottom} (Linux {@code blk_stack_limits}):
     * the larger block sizes, the smaller I/O sizes, features only where both have them, except the
     * cache: a stack has a volatile cache if any member has one. The optimal I/O size is the least common
     * multiple of the non-zero ones (Linux {@code lcm_not_zero}), so an I/O that suits the stack suits every
     * member; if that is not a multiple of the stacked physical block, or does not fit in an int, there is
     * no hint (Linux drops {@code io_opt} and flags the stack misaligned in the first case).
     */
    public QueueLimits stack(QueueLimits bottom) {
        int physical = Math.max(physicalBlockBytes, bottom.physicalBlockBytes);
        long optimal = lcmNotZero(optimalIoBytes, bottom.optimalIoBytes);
        if (optimal > Integer.MAX_VALUE || optimal % physical != 0) {
            optimal = 0;
        }
        return new QueueLimits(
                Math.max(logicalBlockBytes, bottom.logicalBlockBytes),
                physical,
                minNonZero(maxSectors, bottom.maxSectors),
                Math.max(discardGranularityBytes, bottom.discardGranularityBytes),
                Math.min(maxDiscardSectors, bottom.maxDiscardSectors),
                Math.min(maxWriteZeroesSectors, bottom.maxWriteZeroesSectors),
                writeCache || bottom.writeCache,
                fua && bottom.fua,
                readOnly || bottom.readOnly,
                (int) optimal);
    }

    private static long lcmNotZero(long a, long b) {
        if (a == 0 || b == 0) {
            return a == 0 ? b : a;
        }
        long x = a;
        long y = b;
        while (y != 0) {
            long t = x % y;
            x = y;
            y = t;
        }
        return a / x * b;
    }

    private static long minNonZero(long a, long b) {
        if (a == 0) {
            return b;
        }
        return b == 0 ? a : Math.min(a, b);
    }

    private static void checkBlockSize(String name, int value) {
        if (value < 512 || value > 65536 || Integer.bitCount(value) != 1) {
            throw new IllegalArgumentException(name + ": " + value + " (expected: a power of two from 512 to 65536)");
        }
    }
}
