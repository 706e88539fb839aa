package dev.cairn.nbd.protocol;

/**
 * NBD_INFO_BLOCK_SIZE: the sizes a client must respect once it asked for them.
 *
 * @param minimumBytes   every offset and length is a multiple of this (power of two, 1..65536)
 * @param preferredBytes I/O in multiples of this avoids read-modify-write (power of two, >= max(minimum, 512))
 * @param maximumBytes   largest payload of a READ or WRITE (a multiple of minimum, >= preferred)
 */
public record BlockSizeConstraints(int minimumBytes, int preferredBytes, int maximumBytes) {
    public BlockSizeConstraints {
        if (minimumBytes < 1 || minimumBytes > 65536 || Integer.bitCount(minimumBytes) != 1) {
            throw new IllegalArgumentException("minimumBytes: " + minimumBytes + " (expected: a power of two in [1, 65536])");
        }
        if (Integer.bitCount(preferredBytes) != 1 || preferredBytes < Math.max(minimumBytes, 512)) {
            throw new IllegalArgumentException("preferredBytes: " + preferredBytes
                    + " (expected: a power of two >= max(minimumBytes, 512))");
        }
        if (Integer.compareUnsigned(maximumBytes, preferredBytes) < 0 || maximumBytes % minimumBytes != 0) {
            throw new IllegalArgumentException("maximumBytes: " + Integer.toUnsignedString(maximumBytes)
                    + " (expected: >= preferredBytes " + preferredBytes + " and a multiple of minimumBytes)");
        }
    }
}
