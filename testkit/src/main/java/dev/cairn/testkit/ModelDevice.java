package dev.cairn.testkit;

import dev.cairn.block.BlockDevice;
import dev.cairn.block.Sectors;
import dev.cairn.block.Submitter;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.BitSet;
import java.util.Optional;

/**
 * The reference model of a block device: what every byte should read as after the I/O applied to it so
 * far. Tests apply the same operations to the model and to the device under test, then compare
 * (see {@link RandomIo}, which does both). Sparse, 4 KiB pages; starts all zeros.
 *
 * <p>A range can be marked <em>unknown</em> ({@link #forget}) for a discard that may leave old data or zeros:
 * comparisons skip unknown sectors until they are written again.
 *
 * <pre>{@code
 * ModelDevice model = new ModelDevice(device.capacitySectors() * 512);
 * model.write(4096, data);
 * model.assertMatches(submitter, device);     // reads the whole device and compares
 * }</pre>
 *
 * <p>Thread safety: every method is synchronized; the model itself does not know the order in which
 * concurrent I/O landed, so tests that use it from several threads give each thread its own range.
 */
public final class ModelDevice {
    private static final int COMPARE_CHUNK_BYTES = 1 << 20;

    private final SparsePages pages;
    private final BitSet unknownSectors = new BitSet();

    public ModelDevice(long capacityBytes) {
        if (capacityBytes <= 0 || !Sectors.isAligned(capacityBytes)) {
            throw new IllegalArgumentException("capacityBytes: " + capacityBytes + " (expected: a positive multiple of 512)");
        }
        this.pages = new SparsePages(capacityBytes);
    }

    public long capacityBytes() {
        return pages.capacityBytes();
    }

    /** {@code data} is now at {@code offsetBytes}. */
    public synchronized void write(long offsetBytes, MemorySegment data) {
        pages.write(offsetBytes, data, 0, data.byteSize());
        known(offsetBytes, data.byteSize());
    }

    /** The range now reads as zeros (WRITE_ZEROES, or a DISCARD on a device that zeroes). */
    public synchronized void zero(long offsetBytes, long lengthBytes) {
        pages.zero(offsetBytes, lengthBytes, false);
        known(offsetBytes, lengthBytes);
    }

    /** The range may now read as anything it held before or zeros (a DISCARD that need not zero). */
    public synchronized void forget(long offsetBytes, long lengthBytes) {
        long first = offsetBytes >>> Sectors.SECTOR_SHIFT;
        long end = (offsetBytes + lengthBytes + Sectors.SECTOR_SIZE - 1) >>> Sectors.SECTOR_SHIFT;
        unknownSectors.set(Math.toIntExact(first), Math.toIntExact(end));
    }

    /** Copies what the model holds at {@code offsetBytes} into {@code into} (unknown bytes as the model last knew them). */
    public synchronized void read(long offsetBytes, MemorySegment into) {
        pages.read(offsetBytes, into, 0, into.byteSize());
    }

    /**
     * The first byte of {@code actual} (device data from {@code offsetBytes}) that differs from the model,
     * outside unknown sectors, as a message; empty when they match.
     */
    public synchronized Optional<String> compare(long offsetBytes, MemorySegment actual) {
        MemorySegment expected = MemorySegment.ofArray(new byte[(int) actual.byteSize()]);
        pages.read(offsetBytes, expected, 0, actual.byteSize());
        long from = 0;
        while (from < actual.byteSize()) {
            long rel = expected.asSlice(from).mismatch(actual.asSlice(from));
            if (rel < 0) {
                return Optional.empty();
            }
            long i = from + rel;
            long device = offsetBytes + i;
            if (unknownSectors.get(Math.toIntExact(device >>> Sectors.SECTOR_SHIFT))) {
                from = ((device >>> Sectors.SECTOR_SHIFT) + 1 << Sectors.SECTOR_SHIFT) - offsetBytes;
                continue;
            }
            byte e = expected.get(ValueLayout.JAVA_BYTE, i);
            byte a = actual.get(ValueLayout.JAVA_BYTE, i);
            String hint = "";
            long word = device & ~7L;
            if (word >= offsetBytes && word + 8 <= offsetBytes + actual.byteSize()) {
                long w = word - offsetBytes;
                hint = " (pattern: expected " + Pattern.describe(Pattern.generationOf(expected.asSlice(w, 8), word))
                        + ", found " + Pattern.describe(Pattern.generationOf(actual.asSlice(w, 8), word)) + ")";
            }
            return Optional.of(String.format("device differs from the model at offset %d (sector %d + %d): "
                    + "expected 0x%02x, found 0x%02x%s", device, device >>> 9, device & 511, e & 0xff, a & 0xff, hint));
        }
        return Optional.empty();
    }

    /** Throws AssertionError when {@code actual} (device data from {@code offsetBytes}) differs from the model. */
    public void assertMatches(long offsetBytes, MemorySegment actual) {
        compare(offsetBytes, actual).ifPresent(m -> {
            throw new AssertionError(m);
        });
    }

    /** Reads all of {@code device} through {@code submitter} in 1 MiB pieces and compares it with the model. */
    public void assertMatches(Submitter submitter, BlockDevice device) {
        long capacity = Math.min(capacityBytes(), Sectors.toBytes(device.capacitySectors()));
        for (long pos = 0; pos < capacity; pos += COMPARE_CHUNK_BYTES) {
            int n = (int) Math.min(COMPARE_CHUNK_BYTES, capacity - pos);
            MemorySegment back = Io.readOk(submitter, device, pos >>> Sectors.SECTOR_SHIFT, n);
            assertMatches(pos, back);
        }
    }

    private void known(long offsetBytes, long lengthBytes) {
        // Only whole sectors become known again: a partial write leaves the rest of its sector as unknown as it was.
        long first = (offsetBytes + Sectors.SECTOR_SIZE - 1) >>> Sectors.SECTOR_SHIFT;
        long end = (offsetBytes + lengthBytes) >>> Sectors.SECTOR_SHIFT;
        if (end > first) {
            unknownSectors.clear(Math.toIntExact(first), Math.toIntExact(end));
        }
    }
}
