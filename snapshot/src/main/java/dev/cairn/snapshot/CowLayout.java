package dev.cairn.snapshot;

import dev.cairn.block.Sectors;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The on-disk layout of a persistent COW device, byte-compatible with Linux dm-snapshot
 * ({@code drivers/md/dm-snap-persistent.c}, disk version 1). Full description with examples:
 * {@code docs/formats/cow.md}.
 *
 * <pre>
 *  chunk:   0        1        2 .. epa+1          epa+2    epa+3 .. 2*epa+2     2*epa+3
 *         +--------+--------+-------------------+--------+--------------------+--------+--
 *         | header | area 0 | epa data chunks   | area 1 | epa data chunks    | area 2 | ...
 *         +--------+--------+-------------------+--------+--------------------+--------+--
 *
 *  header chunk (all little-endian, rest of the chunk zero):
 *    +0  u32 magic       0x70416e53 ("SnAp" on disk); 0 means "never initialised"
 *    +4  u32 valid       1 valid, 0 invalidated (cannot be recovered)
 *    +8  u32 version     1
 *    +12 u32 chunk_size  in 512-byte sectors
 *
 *  metadata area (one chunk) = epa records of 16 bytes, epa = chunk_size * 512 / 16:
 *    +0  u64 old_chunk   chunk index on the origin
 *    +8  u64 new_chunk   absolute chunk index on the COW device; 0 ends the table
 * </pre>
 *
 * Area {@code a} sits at chunk {@code 1 + a * (epa + 1)}; the data chunks of its exceptions are
 * allocated from the {@code epa} chunks after it. A completely full area means "continue with the
 * next area"; the first record whose {@code new_chunk} is 0 ends the table (0 is the header, so it
 * can never be a real exception).
 *
 * <p>Thread safety: stateless.
 */
public final class CowLayout {
    /** {@code SNAP_MAGIC}: the bytes {@code 53 6E 41 70} ("SnAp") read as a little-endian u32. */
    public static final int MAGIC = 0x70416e53;
    /** {@code SNAPSHOT_DISK_VERSION}. */
    public static final int DISK_VERSION = 1;
    /** {@code NUM_SNAPSHOT_HDR_CHUNKS}. */
    public static final int HEADER_CHUNKS = 1;
    /** {@code DM_CHUNK_SIZE_DEFAULT_SECTORS}: 16 KiB. */
    public static final int DEFAULT_CHUNK_SECTORS = 32;
    /** The first chunk a fresh store allocates: after the header and area 0. */
    public static final long FIRST_DATA_CHUNK = HEADER_CHUNKS + 1;

    public static final int HEADER_MAGIC_OFFSET = 0;
    public static final int HEADER_VALID_OFFSET = 4;
    public static final int HEADER_VERSION_OFFSET = 8;
    public static final int HEADER_CHUNK_SIZE_OFFSET = 12;

    /** Size of one {@code struct disk_exception}. */
    public static final int RECORD_BYTES = 16;
    public static final int RECORD_OLD_CHUNK_OFFSET = 0;
    public static final int RECORD_NEW_CHUNK_OFFSET = 8;

    static final ValueLayout.OfInt LE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong LE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private CowLayout() {}

    /** Exceptions per metadata area: a chunk's worth of 16-byte records. */
    public static int exceptionsPerArea(int chunkSectors) {
        return Math.toIntExact(Sectors.toBytes(chunkSectors) / RECORD_BYTES);
    }

    /** The chunk that holds metadata area {@code area} ({@code area_location}). */
    public static long areaLocation(long area, int exceptionsPerArea) {
        return HEADER_CHUNKS + (exceptionsPerArea + 1L) * area;
    }

    /** True when {@code chunk} holds the header or a metadata area, never data. */
    public static boolean isMetadataChunk(long chunk, int exceptionsPerArea) {
        return chunk < HEADER_CHUNKS || (chunk - HEADER_CHUNKS) % (exceptionsPerArea + 1L) == 0;
    }

    /**
     * The smallest persistent COW, in sectors, that can hold a copy of every chunk of an origin of
     * {@code originSectors} (so the snapshot can never overflow): the header, the data chunks, their
     * metadata areas, and the area after the last one (zeroed when the last one fills up).
     */
    public static long requiredCowSectors(long originSectors, int chunkSectors) {
        long chunks = (originSectors + chunkSectors - 1) / chunkSectors;
        int epa = exceptionsPerArea(chunkSectors);
        long areas = chunks / epa + 1;
        return (HEADER_CHUNKS + areas + chunks) * (long) chunkSectors;
    }

    /** {@code skip_metadata}: the next allocatable chunk at or after {@code nextFree}. */
    static long skipMetadata(long nextFree, int exceptionsPerArea) {
        return nextFree % (exceptionsPerArea + 1L) == HEADER_CHUNKS ? nextFree + 1 : nextFree;
    }

    /** Fills {@code chunk} (a whole header chunk) with a header: everything after the fields is zero. */
    static void writeHeader(MemorySegment chunk, boolean valid, int chunkSectors) {
        chunk.fill((byte) 0);
        chunk.set(LE_INT, HEADER_MAGIC_OFFSET, MAGIC);
        chunk.set(LE_INT, HEADER_VALID_OFFSET, valid ? 1 : 0);
        chunk.set(LE_INT, HEADER_VERSION_OFFSET, DISK_VERSION);
        chunk.set(LE_INT, HEADER_CHUNK_SIZE_OFFSET, chunkSectors);
    }

    static int headerMagic(MemorySegment header) {
        return header.get(LE_INT, HEADER_MAGIC_OFFSET);
    }

    static int headerValid(MemorySegment header) {
        return header.get(LE_INT, HEADER_VALID_OFFSET);
    }

    static int headerVersion(MemorySegment header) {
        return header.get(LE_INT, HEADER_VERSION_OFFSET);
    }

    static int headerChunkSectors(MemorySegment header) {
        return header.get(LE_INT, HEADER_CHUNK_SIZE_OFFSET);
    }

    static long recordOldChunk(MemorySegment area, int index) {
        return area.get(LE_LONG, (long) index * RECORD_BYTES + RECORD_OLD_CHUNK_OFFSET);
    }

    static long recordNewChunk(MemorySegment area, int index) {
        return area.get(LE_LONG, (long) index * RECORD_BYTES + RECORD_NEW_CHUNK_OFFSET);
    }

    static void writeRecord(MemorySegment area, int index, long oldChunk, long newChunk) {
        area.set(LE_LONG, (long) index * RECORD_BYTES + RECORD_OLD_CHUNK_OFFSET, oldChunk);
        area.set(LE_LONG, (long) index * RECORD_BYTES + RECORD_NEW_CHUNK_OFFSET, newChunk);
    }

    /** The magic as the four bytes a hex dump shows, for error messages. */
    static String describeMagic(int magic) {
        StringBuilder sb = new StringBuilder("0x").append(String.format("%08x", magic)).append(" (bytes");
        for (int i = 0; i < 4; i++) {
            sb.append(' ').append(String.format("%02x", (magic >>> (8 * i)) & 0xff));
        }
        return sb.append(')').toString();
    }
}
