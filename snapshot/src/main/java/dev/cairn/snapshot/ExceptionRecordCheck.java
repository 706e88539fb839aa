package dev.cairn.snapshot;

import java.util.Arrays;

/**
 * Checks the exception records of a persistent COW as they are loaded, so that a corrupt or hostile
 * metadata area is refused instead of served: every {@code new_chunk} must be a data chunk inside the COW
 * (not the header, not a metadata area, not past the end), no two records may share a {@code new_chunk}
 * (a write through one would change the other's data), every {@code old_chunk} must lie inside the
 * origin, and no origin chunk may have two records (which copy is the snapshot's is then unknown).
 * Linux's {@code read_exceptions} checks none of this; a record it trusts wrongly makes a snapshot read
 * the origin's current data or another chunk's copy, which is why Cairn refuses the table instead.
 *
 * <p>Errors read {@code COW: exception record N in area A: <field> <value> (expected: ...)}, with N the
 * record's index in its area, as {@code docs/formats/cow.md} numbers them.
 *
 * <p>Memory: sixteen bytes per record while loading, for the duplicate checks, done once at the end by
 * sorting (the exception map being loaded costs several times that per record anyway).
 *
 * <p>Thread safety: none; one instance per load, on the loading thread.
 */
final class ExceptionRecordCheck {
    /** For {@code originChunks}: the origin's size is unknown (the COW inspector); old chunks are not bounded. */
    static final long UNKNOWN_ORIGIN = -1;

    private final String cowName;
    private final long cowChunks;
    private final long originChunks;
    private final int exceptionsPerArea;
    private long[] oldChunks = new long[64];
    private long[] newChunks = new long[64];
    private int count;

    /**
     * @param cowSectors    the COW device's capacity
     * @param originSectors the origin's capacity, or {@link #UNKNOWN_ORIGIN}
     */
    ExceptionRecordCheck(String cowName, long cowSectors, long originSectors, int chunkSectors, int exceptionsPerArea) {
        this.cowName = cowName;
        this.cowChunks = cowSectors / chunkSectors;
        this.originChunks = originSectors < 0 ? UNKNOWN_ORIGIN : (originSectors + chunkSectors - 1) / chunkSectors;
        this.exceptionsPerArea = exceptionsPerArea;
    }

    /** Checks record {@code index} of area {@code area} (its {@code newChunk} is not 0, the end marker). */
    void check(long area, int index, long oldChunk, long newChunk) throws CowFormatException {
        if (Long.compareUnsigned(newChunk, cowChunks) >= 0) {
            throw error(area, index, "new_chunk " + Long.toUnsignedString(newChunk), "a chunk below the COW's "
                    + cowChunks);
        }
        if (CowLayout.isMetadataChunk(newChunk, exceptionsPerArea)) {
            throw error(area, index, "new_chunk " + newChunk, "a data chunk, not the header or a metadata area");
        }
        if (originChunks != UNKNOWN_ORIGIN && Long.compareUnsigned(oldChunk, originChunks) >= 0) {
            throw error(area, index, "old_chunk " + Long.toUnsignedString(oldChunk), "a chunk below the origin's "
                    + originChunks);
        }
        if (oldChunk < 0) {
            throw error(area, index, "old_chunk " + Long.toUnsignedString(oldChunk), "a chunk below 2^63");
        }
        if (count == oldChunks.length) {
            oldChunks = Arrays.copyOf(oldChunks, count * 2);
            newChunks = Arrays.copyOf(newChunks, count * 2);
        }
        oldChunks[count] = oldChunk;
        newChunks[count] = newChunk;
        count++;
    }

    /** After the last record: no two records share a COW chunk, and no origin chunk has two records. */
    void finish() throws CowFormatException {
        checkDistinct(newChunks, "new_chunk", "a chunk no earlier record uses");
        checkDistinct(oldChunks, "old_chunk", "a chunk no earlier record copies");
    }

    private void checkDistinct(long[] chunks, String field, String expected) throws CowFormatException {
        long[] sorted = Arrays.copyOf(chunks, count);
        Arrays.sort(sorted);
        for (int i = 1; i < sorted.length; i++) {
            if (sorted[i] != sorted[i - 1]) {
                continue;
            }
            long duplicate = sorted[i];
            int first = -1;
            // Records are dense: every area before the last is full, so record g is in area g / epa.
            for (int g = 0; g < count; g++) {
                if (chunks[g] != duplicate) {
                    continue;
                }
                if (first < 0) {
                    first = g;
                } else {
                    throw error(g / exceptionsPerArea, g % exceptionsPerArea, field + " " + duplicate, expected
                            + " (record " + first % exceptionsPerArea + " in area " + first / exceptionsPerArea
                            + " has it)");
                }
            }
        }
    }

    private CowFormatException error(long area, int index, String what, String expected) {
        return new CowFormatException(cowName + ": exception record " + index + " in area " + area + ": " + what
                + " (expected: " + expected + ")");
    }
}
