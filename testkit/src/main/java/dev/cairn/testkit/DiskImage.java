package dev.cairn.testkit;

import java.lang.foreign.MemorySegment;

/**
 * An immutable picture of a device's contents, as {@link CrashSimulatingStore} hands out after a
 * (simulated) power cut. Open it again as a new store with {@link #open(String)}, or read it directly.
 *
 * <p>Thread safety: immutable; safe from any thread.
 */
public final class DiskImage {
    private final SparsePages pages;

    /** Takes ownership of {@code pages}: nobody may change them afterwards. */
    DiskImage(SparsePages pages) {
        this.pages = pages;
    }

    public long capacityBytes() {
        return pages.capacityBytes();
    }

    /** Copies {@code into.byteSize()} bytes from {@code offsetBytes} into {@code into}; holes read as zeros. */
    public void read(long offsetBytes, MemorySegment into) {
        pages.read(offsetBytes, into, 0, into.byteSize());
    }

    /** A new byte array with {@code lengthBytes} from {@code offsetBytes}. */
    public byte[] bytes(long offsetBytes, int lengthBytes) {
        byte[] out = new byte[lengthBytes];
        read(offsetBytes, MemorySegment.ofArray(out));
        return out;
    }

    /** Bytes held by allocated 4 KiB pages (a hole costs nothing). */
    public long allocatedBytes() {
        return (long) pages.allocatedPages() * SparsePages.PAGE_BYTES;
    }

    /** A fresh store (empty volatile cache) whose contents are this image; the image is not changed by it. */
    public CrashSimulatingStore open(String name) {
        return new CrashSimulatingStore(name, pages.copy());
    }

    SparsePages copyPages() {
        return pages.copy();
    }

    @Override
    public String toString() {
        return "DiskImage[" + capacityBytes() + " bytes, " + allocatedBytes() + " allocated]";
    }
}
