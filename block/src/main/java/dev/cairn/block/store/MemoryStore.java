package dev.cairn.block.store;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.Extents;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.Sectors;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * A sparse in-memory block device: 4 KiB pages allocated on first write, dropped again by DISCARD
 * and WRITE_ZEROES (unless NOUNMAP), so memory use follows what was written, never more than the
 * capacity. Unwritten ranges read as zeros and report as holes. Completes every bio on the
 * submitting thread.
 *
 * <p>Layout: a directory of lazily created blocks of 4096 page slots (16 MiB of device each), so a
 * large, mostly empty device costs little.
 *
 * <p>Durability: the data lives as long as the object; there is no volatile cache, so FLUSH and FUA
 * are satisfied at once.
 *
 * <p>Thread safety: safe for concurrent bios. Pages are installed with a CAS; concurrent overlapping
 * writes may interleave at byte granularity, as on any block device.
 */
public final class MemoryStore implements BlockDevice {
    public static final int PAGE_BYTES = 4096;
    private static final int PAGE_SHIFT = 12;
    private static final int BLOCK_SHIFT = 12;
    private static final int BLOCK_PAGES = 1 << BLOCK_SHIFT;

    private final String name;
    private final long capacitySectors;
    private final QueueLimits limits;
    private final AtomicReferenceArray<AtomicReferenceArray<MemorySegment>> directory;
    private final AtomicLong pagesAllocated = new AtomicLong();

    public MemoryStore(String name, long capacityBytes) {
        if (capacityBytes <= 0 || capacityBytes % PAGE_BYTES != 0) {
            throw new IllegalArgumentException("capacityBytes: " + capacityBytes + " (expected: a positive multiple of 4096)");
        }
        this.name = name;
        this.capacitySectors = capacityBytes >>> Sectors.SECTOR_SHIFT;
        long pages = capacityBytes >>> PAGE_SHIFT;
        this.directory = new AtomicReferenceArray<>(Math.toIntExact((pages + BLOCK_PAGES - 1) >>> BLOCK_SHIFT));
        this.limits = new QueueLimits(512, PAGE_BYTES, 0, PAGE_BYTES, Long.MAX_VALUE >> 10, Long.MAX_VALUE >> 10,
                false, true, false);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public long capacitySectors() {
        return capacitySectors;
    }

    @Override
    public QueueLimits limits() {
        return limits;
    }

    /** Bytes of memory held by written pages. */
    public long allocatedBytes() {
        return pagesAllocated.get() * PAGE_BYTES;
    }

    @Override
    public void submitBio(Bio bio) {
        long offset = Sectors.toBytes(bio.sector());
        int length = bio.sizeBytes();
        // The submitter checks this before a bio gets here, but a bio that skipped it must not write past the end:
        // the last directory block has slots beyond the capacity, so nothing else would stop it.
        if (bio.op() != BioOp.FLUSH && (!Sectors.isAligned(length) || bio.sector() > capacitySectors - bio.sectors()
                || (bio.op().hasData() && !bio.hasData() && length != 0))) {
            bio.complete(BioStatus.INVALID);
            return;
        }
        switch (bio.op()) {
            case READ -> read(bio, offset, length);
            case WRITE -> write(bio, offset, length);
            case DISCARD -> zero(offset, length, false);
            case WRITE_ZEROES -> zero(offset, length, bio.hasFlag(BioFlags.NOUNMAP));
            case FLUSH -> { }
        }
        bio.complete(BioStatus.OK);
    }

    private void read(Bio bio, long offset, int length) {
        int done = 0;
        while (done < length) {
            long pos = offset + done;
            int inPage = (int) (pos & (PAGE_BYTES - 1));
            int n = Math.min(PAGE_BYTES - inPage, length - done);
            MemorySegment page = page(pos >>> PAGE_SHIFT);
            if (page == null) {
                bio.fill(done, n, (byte) 0);
            } else {
                bio.copyFrom(page, inPage, done, n);
            }
            done += n;
        }
    }

    private void write(Bio bio, long offset, int length) {
        int done = 0;
        while (done < length) {
            long pos = offset + done;
            int inPage = (int) (pos & (PAGE_BYTES - 1));
            int n = Math.min(PAGE_BYTES - inPage, length - done);
            MemorySegment page = pageForWrite(pos >>> PAGE_SHIFT);
            bio.copyTo(done, page, inPage, n);
            done += n;
        }
    }

    /** Zeroes a range: whole pages are dropped (or zero-filled when {@code keepAllocated}), partial ones cleared. */
    private void zero(long offset, int length, boolean keepAllocated) {
        long done = 0;
        while (done < length) {
            long pos = offset + done;
            int inPage = (int) (pos & (PAGE_BYTES - 1));
            int n = (int) Math.min(PAGE_BYTES - inPage, length - done);
            long index = pos >>> PAGE_SHIFT;
            if (n == PAGE_BYTES && !keepAllocated) {
                dropPage(index);
            } else {
                MemorySegment page = keepAllocated ? pageForWrite(index) : page(index);
                if (page != null) {
                    page.asSlice(inPage, n).fill((byte) 0);
                }
            }
            done += n;
        }
    }

    private MemorySegment page(long index) {
        AtomicReferenceArray<MemorySegment> block = directory.get((int) (index >>> BLOCK_SHIFT));
        return block == null ? null : block.get((int) (index & (BLOCK_PAGES - 1)));
    }

    private MemorySegment pageForWrite(long index) {
        int b = (int) (index >>> BLOCK_SHIFT);
        AtomicReferenceArray<MemorySegment> block = directory.get(b);
        if (block == null) {
            directory.compareAndSet(b, null, new AtomicReferenceArray<>(BLOCK_PAGES));
            block = directory.get(b);
        }
        int slot = (int) (index & (BLOCK_PAGES - 1));
        MemorySegment page = block.get(slot);
        if (page == null) {
            MemorySegment fresh = MemorySegment.ofArray(new byte[PAGE_BYTES]);
            if (block.compareAndSet(slot, null, fresh)) {
                pagesAllocated.incrementAndGet();
                return fresh;
            }
            page = block.get(slot);
        }
        return page;
    }

    private void dropPage(long index) {
        AtomicReferenceArray<MemorySegment> block = directory.get((int) (index >>> BLOCK_SHIFT));
        if (block != null && block.getAndSet((int) (index & (BLOCK_PAGES - 1)), null) != null) {
            pagesAllocated.decrementAndGet();
        }
    }

    /** Unwritten pages are holes that read as zeros; written pages are data. */
    @Override
    public void queryExtents(long sector, long sectors, Extents.Sink sink) {
        if (sector < 0 || sectors < 0 || sector > capacitySectors || sectors > capacitySectors - sector) {
            throw new IndexOutOfBoundsException("extents: [" + sector + ", +" + sectors + ") (expected: within "
                    + capacitySectors + " sectors)");
        }
        long pos = Sectors.toBytes(sector);
        long end = Sectors.toBytes(sector + sectors);
        while (pos < end) {
            boolean hole = page(pos >>> PAGE_SHIFT) == null;
            long runEnd = pos;
            while (runEnd < end && (page(runEnd >>> PAGE_SHIFT) == null) == hole) {
                runEnd = Math.min(end, ((runEnd >>> PAGE_SHIFT) + 1) << PAGE_SHIFT);
            }
            if (!sink.extent((runEnd - pos) >>> Sectors.SECTOR_SHIFT, hole ? Extents.HOLE | Extents.ZERO : 0)) {
                return;
            }
            pos = runEnd;
        }
    }

    @Override
    public String toString() {
        return "MemoryStore[" + name + ", " + Sectors.toBytes(capacitySectors) + " bytes, " + allocatedBytes() + " allocated]";
    }
}
