package dev.cairn.snapshot;

import dev.cairn.block.BioOp;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.Sectors;
import dev.cairn.block.Submitter;
import java.io.IOException;
import java.lang.foreign.MemorySegment;

/**
 * Reads a persistent COW device without changing it, for {@code cairn image info} and checks:
 * the header, and the exception table as Linux would load it. All I/O goes through bios and the
 * {@link Submitter}. Unlike loading a snapshot, inspecting never writes (a zero magic is reported
 * as "not initialised", not turned into a new store).
 *
 * <p>Thread safety: stateless.
 */
public final class CowInspector {
    private CowInspector() {}

    /** Receives each committed exception, in table order. */
    @FunctionalInterface
    public interface ExceptionVisitor {
        void exception(long index, long oldChunk, long newChunk);
    }

    /**
     * What a COW device holds.
     *
     * @param cowSectors        size of the COW device
     * @param initialised       false when the magic is 0 (a blank device, which a snapshot would initialise)
     * @param valid             the header's valid flag (false: invalidated, e.g. after overflowing)
     * @param version           the header's disk version (1)
     * @param chunkSectors      the header's chunk size
     * @param exceptionsPerArea records per metadata area
     * @param exceptions        committed exceptions (0 when not initialised or invalid: Linux loads none then)
     * @param currentArea       the area holding the end of the table
     * @param nextFreeChunk     the chunk the next exception would get
     * @param allocatedSectors  the status line's allocated sectors ({@code next_free * chunk})
     * @param metadataSectors   the status line's metadata sectors ({@code (current_area + 2) * chunk})
     */
    public record CowInfo(long cowSectors, boolean initialised, boolean valid, int version, int chunkSectors,
            int exceptionsPerArea, long exceptions, long currentArea, long nextFreeChunk, long allocatedSectors,
            long metadataSectors) {

        /** The INFO status a snapshot on this COW would show right after loading. */
        public String statusLine() {
            if (!valid) {
                return "Invalid";
            }
            return allocatedSectors + "/" + cowSectors + " " + metadataSectors;
        }
    }

    /** Reads the header and counts the exceptions. */
    public static CowInfo inspect(Submitter submitter, BlockDevice cow) throws IOException {
        return inspect(submitter, cow, null);
    }

    /**
     * Reads the header and walks the exception table, passing each exception to {@code visitor}
     * (may be null).
     *
     * @throws CowFormatException for an unknown magic or version, an impossible chunk size or a corrupt
     *     exception record (see {@link ExceptionRecordCheck}; the origin is unknown here, so old chunks are
     *     checked for duplicates only)
     */
    public static CowInfo inspect(Submitter submitter, BlockDevice cow, ExceptionVisitor visitor) throws IOException {
        int blockBytes = cow.limits().logicalBlockBytes();
        MemorySegment header = MemorySegment.ofArray(new byte[Math.max(blockBytes, Sectors.SECTOR_SIZE)]);
        ChunkIo.io(submitter, cow, BioOp.READ, 0, 0, header);
        int magic = CowLayout.headerMagic(header);
        if (magic == 0) {
            return new CowInfo(cow.capacitySectors(), false, false, 0, 0, 0, 0, 0, 0, 0, 0);
        }
        if (magic != CowLayout.MAGIC) {
            throw new CowFormatException(cow.name() + ": magic: " + CowLayout.describeMagic(magic) + " (expected: "
                    + CowLayout.describeMagic(CowLayout.MAGIC) + " \"SnAp\"): not a dm-snapshot COW device");
        }
        boolean valid = CowLayout.headerValid(header) != 0;
        int version = CowLayout.headerVersion(header);
        int chunkSectors = CowLayout.headerChunkSectors(header);
        String problem = ChunkSize.check(Integer.toUnsignedLong(chunkSectors), Sectors.SECTOR_SIZE, blockBytes);
        if (problem != null) {
            throw new CowFormatException(cow.name() + ": header " + problem);
        }
        if (version != CowLayout.DISK_VERSION) {
            throw new CowFormatException(cow.name() + ": version: " + Integer.toUnsignedString(version) + " (expected: "
                    + CowLayout.DISK_VERSION + "): unsupported snapshot disk version");
        }
        int epa = CowLayout.exceptionsPerArea(chunkSectors);
        if (!valid) {
            return new CowInfo(cow.capacitySectors(), true, false, version, chunkSectors, epa, 0, 0, 0, 0, 0);
        }
        MemorySegment area = MemorySegment.ofArray(new byte[Math.toIntExact(Sectors.toBytes(chunkSectors))]);
        long next = CowLayout.FIRST_DATA_CHUNK;
        long count = 0;
        long a = 0;
        ExceptionRecordCheck check = new ExceptionRecordCheck(cow.name(), cow.capacitySectors(),
                ExceptionRecordCheck.UNKNOWN_ORIGIN, chunkSectors, epa);
        while (true) {
            if ((CowLayout.areaLocation(a, epa) + 1) * chunkSectors > cow.capacitySectors()) {
                throw new CowFormatException(cow.name() + ": metadata area " + a + " at chunk "
                        + CowLayout.areaLocation(a, epa) + " (expected: an area inside the COW's "
                        + cow.capacitySectors() / chunkSectors + " chunks; the last area is full, so the exception"
                        + " table has no end marker)");
            }
            ChunkIo.io(submitter, cow, BioOp.READ, 0, CowLayout.areaLocation(a, epa) * chunkSectors, area);
            int i = 0;
            for (; i < epa; i++) {
                long newChunk = CowLayout.recordNewChunk(area, i);
                if (newChunk == 0) {
                    break;
                }
                long oldChunk = CowLayout.recordOldChunk(area, i);
                check.check(a, i, oldChunk, newChunk);
                if (Long.compareUnsigned(newChunk, next) >= 0) {
                    next = newChunk + 1;
                }
                if (visitor != null) {
                    visitor.exception(count, oldChunk, newChunk);
                }
                count++;
            }
            if (i < epa) {
                break;
            }
            a++;
        }
        check.finish();
        next = CowLayout.skipMetadata(next, epa);
        return new CowInfo(cow.capacitySectors(), true, true, version, chunkSectors, epa, count, a, next,
                next * chunkSectors, (a + 1 + CowLayout.HEADER_CHUNKS) * chunkSectors);
    }
}
