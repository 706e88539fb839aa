package dev.cairn.snapshot;

import dev.cairn.block.Sectors;

/**
 * The chunk size rules of Linux {@code dm_exception_store_set_chunk_size}: in 512-byte sectors, a
 * power of two, a multiple of the logical block size of both the origin and the COW device, and at
 * most {@code INT_MAX >> 9}. Zero in a table means "the default, or what the header says".
 *
 * <p>Thread safety: stateless.
 */
final class ChunkSize {
    /** {@code INT_MAX >> SECTOR_SHIFT}. */
    static final int MAX_SECTORS = Integer.MAX_VALUE >> Sectors.SECTOR_SHIFT;

    private ChunkSize() {}

    /** Null when {@code chunkSectors} is acceptable, else what is wrong with it, in Cairn's error form. */
    static String check(long chunkSectors, int originBlockBytes, int cowBlockBytes) {
        if (chunkSectors <= 0 || Long.bitCount(chunkSectors) != 1) {
            return "chunk_sectors: " + chunkSectors + " (expected: a power of two)";
        }
        long blockSectors = Math.max(originBlockBytes, cowBlockBytes) >>> Sectors.SECTOR_SHIFT;
        if (chunkSectors % blockSectors != 0) {
            return "chunk_sectors: " + chunkSectors + " (expected: a multiple of the logical block size of origin ("
                    + originBlockBytes + " bytes) and COW (" + cowBlockBytes + " bytes))";
        }
        if (chunkSectors > MAX_SECTORS) {
            return "chunk_sectors: " + chunkSectors + " (expected: <= " + MAX_SECTORS + ")";
        }
        return null;
    }

    /** The chunk size used when neither the table nor a header gives one: 16 KiB, or the COW's block if larger. */
    static int defaultFor(int cowBlockBytes) {
        return Math.max(CowLayout.DEFAULT_CHUNK_SECTORS, cowBlockBytes >>> Sectors.SECTOR_SHIFT);
    }
}
