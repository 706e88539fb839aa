package dev.cairn.testkit;

import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;

/**
 * Sparse byte contents of a device in 4 KiB pages; a missing page reads as zeros and counts as a hole.
 * The shared storage of {@link ModelDevice}, {@link CrashSimulatingStore} and {@link DiskImage}.
 *
 * <p>Thread safety: none; every owner guards it with its own lock (or never changes it, as DiskImage).
 */
final class SparsePages {
    static final int PAGE_BYTES = 4096;
    private static final int PAGE_SHIFT = 12;

    private final long capacityBytes;
    private final Map<Long, byte[]> pages;

    SparsePages(long capacityBytes) {
        this(capacityBytes, new HashMap<>());
    }

    private SparsePages(long capacityBytes, Map<Long, byte[]> pages) {
        this.capacityBytes = capacityBytes;
        this.pages = pages;
    }

    long capacityBytes() {
        return capacityBytes;
    }

    /** A deep copy: later changes to either side do not show in the other. */
    SparsePages copy() {
        Map<Long, byte[]> copy = new HashMap<>(pages.size() * 2);
        pages.forEach((index, page) -> copy.put(index, page.clone()));
        return new SparsePages(capacityBytes, copy);
    }

    int allocatedPages() {
        return pages.size();
    }

    boolean isAllocated(long pageIndex) {
        return pages.containsKey(pageIndex);
    }

    /** Copies {@code lengthBytes} of {@code src} from {@code srcOffsetBytes} to the device at {@code offsetBytes}. */
    void write(long offsetBytes, MemorySegment src, long srcOffsetBytes, long lengthBytes) {
        checkRange(offsetBytes, lengthBytes);
        long done = 0;
        while (done < lengthBytes) {
            long pos = offsetBytes + done;
            int inPage = (int) (pos & (PAGE_BYTES - 1));
            int n = (int) Math.min(PAGE_BYTES - inPage, lengthBytes - done);
            byte[] page = pages.computeIfAbsent(pos >>> PAGE_SHIFT, i -> new byte[PAGE_BYTES]);
            MemorySegment.copy(src, srcOffsetBytes + done, MemorySegment.ofArray(page), inPage, n);
            done += n;
        }
    }

    void write(long offsetBytes, byte[] src) {
        write(offsetBytes, MemorySegment.ofArray(src), 0, src.length);
    }

    /** Reads {@code lengthBytes} at {@code offsetBytes} into {@code dst} from {@code dstOffsetBytes}; holes read as zeros. */
    void read(long offsetBytes, MemorySegment dst, long dstOffsetBytes, long lengthBytes) {
        checkRange(offsetBytes, lengthBytes);
        long done = 0;
        while (done < lengthBytes) {
            long pos = offsetBytes + done;
            int inPage = (int) (pos & (PAGE_BYTES - 1));
            int n = (int) Math.min(PAGE_BYTES - inPage, lengthBytes - done);
            byte[] page = pages.get(pos >>> PAGE_SHIFT);
            if (page == null) {
                dst.asSlice(dstOffsetBytes + done, n).fill((byte) 0);
            } else {
                MemorySegment.copy(MemorySegment.ofArray(page), inPage, dst, dstOffsetBytes + done, n);
            }
            done += n;
        }
    }

    /** Zeroes a range: whole pages are dropped unless {@code keepAllocated}, partial pages are cleared. */
    void zero(long offsetBytes, long lengthBytes, boolean keepAllocated) {
        checkRange(offsetBytes, lengthBytes);
        long done = 0;
        while (done < lengthBytes) {
            long pos = offsetBytes + done;
            int inPage = (int) (pos & (PAGE_BYTES - 1));
            int n = (int) Math.min(PAGE_BYTES - inPage, lengthBytes - done);
            long index = pos >>> PAGE_SHIFT;
            if (n == PAGE_BYTES && !keepAllocated) {
                pages.remove(index);
            } else {
                byte[] page = keepAllocated ? pages.computeIfAbsent(index, i -> new byte[PAGE_BYTES]) : pages.get(index);
                if (page != null) {
                    java.util.Arrays.fill(page, inPage, inPage + n, (byte) 0);
                }
            }
            done += n;
        }
    }

    private void checkRange(long offsetBytes, long lengthBytes) {
        if (offsetBytes < 0 || lengthBytes < 0 || offsetBytes + lengthBytes > capacityBytes) {
            throw new IndexOutOfBoundsException("range: [" + offsetBytes + ", +" + lengthBytes
                    + ") (expected: within " + capacityBytes + " bytes)");
        }
    }
}
