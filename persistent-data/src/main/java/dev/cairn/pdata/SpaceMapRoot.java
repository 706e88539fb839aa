package dev.cairn.pdata;

import java.nio.ByteBuffer;

/**
 * The 32-byte root of a disk space map as stored in a superblock (Linux {@code struct disk_sm_root}):
 * {@code nr_blocks u64, nr_allocated u64, bitmap_root u64, ref_count_root u64}. For the data space map
 * {@code bitmapRoot} is the root of the index btree; for the metadata space map it is the index block.
 *
 * <p>Thread safety: immutable.
 */
public record SpaceMapRoot(long nrBlocks, long nrAllocated, long bitmapRoot, long refCountRoot) {
    public static final int BYTES = 32;

    public static SpaceMapRoot read(ByteBuffer b, int offsetBytes) {
        return new SpaceMapRoot(b.getLong(offsetBytes), b.getLong(offsetBytes + 8), b.getLong(offsetBytes + 16),
                b.getLong(offsetBytes + 24));
    }

    public void write(ByteBuffer b, int offsetBytes) {
        b.putLong(offsetBytes, nrBlocks);
        b.putLong(offsetBytes + 8, nrAllocated);
        b.putLong(offsetBytes + 16, bitmapRoot);
        b.putLong(offsetBytes + 24, refCountRoot);
    }
}
