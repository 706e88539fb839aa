package dev.cairn.block.store;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.Extents;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.Sectors;
import dev.cairn.block.SpliceSink;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.atomic.LongAdder;

/**
 * A sparse in-memory block device: 4 KiB pages allocated on first write, dropped again by DISCARD
 * and WRITE_ZEROES (unless NOUNMAP), so memory use follows what was written, never more than the
 * capacity. Unwritten ranges read as zeros and report as holes. Completes every bio on the
 * submitting thread.
 *
 * <p>Layout: a directory of lazily created blocks of 4096 page slots (16 MiB of device each), so a
 * large, mostly empty device costs little. A slot holds the id + 1 of a page of native memory from a
 * {@link NativePagePool} (0: a hole). The data is off the Java heap (a heap copy made G1 grow to about
 * twice what was stored, and scanned it), and the pool hands out the pages of one write in runs that are
 * contiguous in memory, so a bio is copied with one call per run rather than one per page.
 *
 * <p>Reads by reference: a READ that carries a {@link SpliceSink} (the NBD server's large reads) gets the
 * store's pages themselves, pinned in the {@link NativePagePool} until the sink is released, instead of a
 * copy; the server writes the reply from them. A write to those pages before the reply is sent shows in it,
 * as for any write that races a read; a discard does not (the pinned page keeps its data and is not reused).
 *
 * <p>Durability: the data lives as long as the object; there is no volatile cache, so FLUSH and FUA
 * are satisfied at once. The native memory is given back when the store becomes unreachable (there is
 * no close()), and a slab at a time as discards empty it.
 *
 * <p>Thread safety: safe for concurrent bios; reads and rewrites take no lock. A page is filled before
 * its id is installed with a CAS, so a concurrent reader sees zeros (a hole) or the new data, never the
 * page's previous contents. Every bio that copies page memory is bracketed by the pool's enter/exit, and a
 * dropped page is reused only after every bio that may have looked it up has exited (see
 * {@link NativePagePool}: otherwise a DISCARD racing a write could send that write into another range).
 * Concurrent overlapping writes may interleave at byte granularity, as on any block device.
 */
public final class MemoryStore implements BlockDevice {
    public static final int PAGE_BYTES = NativePagePool.PAGE_BYTES;
    private static final int PAGE_SHIFT = NativePagePool.PAGE_SHIFT;
    private static final int BLOCK_SHIFT = 12;
    private static final int BLOCK_PAGES = 1 << BLOCK_SHIFT;

    private final String name;
    private final long capacitySectors;
    private final QueueLimits limits;
    private final AtomicReferenceArray<AtomicIntegerArray> directory;
    private final AtomicLong pagesAllocated = new AtomicLong();
    private final NativePagePool pool = new NativePagePool();
    /** Runs of pages handed to READs by reference ({@link SpliceSink}): a statistic. */
    private final LongAdder spliced = new LongAdder();

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

    /** Bytes of native memory mapped for pages: written ones, free ones, and dropped ones not yet reusable. */
    long reservedBytes() {
        return pool.reservedBytes();
    }

    /** Runs of pages handed to READs by reference ({@link SpliceSink}) so far: a statistic. */
    public long splicedPieces() {
        return spliced.sum();
    }

    /**
     * The store's memory at one moment (each figure read on its own, so they need not add up exactly).
     *
     * @param allocatedBytes      memory held by written pages
     * @param reservedBytes       native memory mapped for pages: written, free, and dropped but not yet reusable
     * @param pinnedRetiredPages  dropped pages that a READ answered by reference still pins: their memory
     *                            comes back when the consumer releases its {@link SpliceSink}
     * @param splicedPieces       runs of pages handed to READs by reference so far
     */
    public record Stats(long allocatedBytes, long reservedBytes, int pinnedRetiredPages, long splicedPieces) {}

    /** The store's memory figures now. */
    public Stats stats() {
        return new Stats(allocatedBytes(), pool.reservedBytes(), pool.pinnedRetiredPages(), spliced.sum());
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
            case DISCARD -> zero(offset, length);
            case WRITE_ZEROES -> {
                if (bio.hasFlag(BioFlags.NOUNMAP)) {
                    write(null, offset, length);
                } else {
                    zero(offset, length);
                }
            }
            case FLUSH -> { }
        }
        // after the pool's exit: an end-io callback may do anything, including submitting more I/O here
        bio.complete(BioStatus.OK);
    }

    private void read(Bio bio, long offset, int length) {
        SpliceSink sink = bio.spliceSink();
        if (sink != null) {
            readByReference(bio, sink, offset);
            return;
        }
        int token = pool.enter();
        try {
            int done = 0;
            while (done < length) {
                long pos = offset + done;
                long page = pos >>> PAGE_SHIFT;
                int inPage = (int) (pos & (PAGE_BYTES - 1));
                int spanned = pagesSpanned(inPage, length - done);
                int id = id(page);
                int pages = run(page, id, spanned);
                int n = (int) Math.min(((long) pages << PAGE_SHIFT) - inPage, length - done);
                if (id < 0) {
                    bio.fill(done, n, (byte) 0);
                } else {
                    bio.copyFrom(pool.slab(id), NativePagePool.offsetBytes(id) + inPage, done, n);
                }
                done += n;
            }
        } finally {
            pool.exit(token);
        }
    }

    /**
     * A READ whose submitter accepts references ({@link SpliceSink}): each run of written pages is pinned and
     * offered to the sink as memory instead of being copied into the bio (the NBD server then writes the reply
     * from the pages themselves, one copy fewer); holes are zero-filled in the bio's memory, and a run the
     * sink refuses (heap memory, the sink full) is copied.
     */
    private void readByReference(Bio bio, SpliceSink sink, long offset) {
        int token = pool.enter();
        try {
            bio.forEachSegment((segment, segmentOffsetBytes, lengthBytes, bioOffsetBytes) -> {
                long done = 0;
                while (done < lengthBytes) {
                    long pos = offset + bioOffsetBytes + done;
                    long page = pos >>> PAGE_SHIFT;
                    int inPage = (int) (pos & (PAGE_BYTES - 1));
                    int spanned = pagesSpanned(inPage, (int) (lengthBytes - done));
                    int id = id(page);
                    int pages = run(page, id, spanned);
                    long n = Math.min(((long) pages << PAGE_SHIFT) - inPage, lengthBytes - done);
                    long at = segmentOffsetBytes + done;
                    if (id < 0) {
                        segment.asSlice(at, n).fill((byte) 0);
                    } else {
                        MemorySegment source = pool.slab(id).asSlice(NativePagePool.offsetBytes(id) + inPage, n);
                        Runnable unpin = pool.pin(id, pages);
                        if (sink.offerMemory(segment, at, source, unpin)) {
                            spliced.increment();
                        } else {
                            unpin.run();
                            MemorySegment.copy(source, 0, segment, at, n);
                        }
                    }
                    done += n;
                }
            });
        } catch (IOException e) {
            throw new AssertionError("the visitor throws none", e);
        } finally {
            pool.exit(token);
        }
    }

    /**
     * How many device pages from {@code page} (holding {@code id}, negative for a hole), at most {@code maxPages},
     * one copy can serve: a run of holes, or of pages that lie one after another in the same slab.
     */
    private int run(long page, int id, int maxPages) {
        int pages = 1;
        if (id < 0) {
            while (pages < maxPages && id(page + pages) < 0) {
                pages++;
            }
        } else {
            while (pages < maxPages && NativePagePool.contiguous(id, pages) && id(page + pages) == id + pages) {
                pages++;
            }
        }
        return pages;
    }

    /** Writes {@code bio}'s data, or zeros when {@code bio} is null, allocating pages that are missing. */
    private void write(Bio bio, long offset, int length) {
        int token = pool.enter();
        try {
            int done = 0;
            while (done < length) {
                long pos = offset + done;
                long page = pos >>> PAGE_SHIFT;
                int inPage = (int) (pos & (PAGE_BYTES - 1));
                int spanned = pagesSpanned(inPage, length - done);
                int id = id(page);
                if (id < 0) {
                    done += install(bio, done, page, inPage, Math.min(spanned, NativePagePool.SLAB_PAGES), length - done);
                    continue;
                }
                int pages = run(page, id, spanned);
                int n = (int) Math.min(((long) pages << PAGE_SHIFT) - inPage, length - done);
                put(bio, done, pool.slab(id), NativePagePool.offsetBytes(id) + inPage, n);
                done += n;
            }
        } finally {
            pool.exit(token);
        }
    }

    /**
     * Allocates the run of missing pages from {@code page} (at most {@code maxPages}), fills them (the parts the
     * bio does not cover with zeros) and only then installs them, so no reader sees a page's old contents.
     * Returns the bytes of the bio it wrote.
     */
    private int install(Bio bio, int done, long page, int inPage, int maxPages, int remaining) {
        int pages = run(page, -1, maxPages);
        int n = (int) Math.min(((long) pages << PAGE_SHIFT) - inPage, remaining);
        int before = page > 0 ? id(page - 1) : -1;
        int hint = before >= 0 && NativePagePool.contiguous(before, 1) ? before + 1 : -1;
        int[] ids = new int[pages];
        pool.allocate(pages, hint, ids);
        // fill each run of ids that is contiguous in memory with one copy
        int i = 0;
        while (i < pages) {
            int j = i + 1;
            while (j < pages && NativePagePool.contiguous(ids[i], j - i) && ids[j] == ids[i] + (j - i)) {
                j++;
            }
            long runStart = (long) i << PAGE_SHIFT; // relative to the start of page
            long from = Math.max(runStart, inPage);
            long to = Math.min((long) j << PAGE_SHIFT, inPage + (long) n);
            MemorySegment slab = pool.slab(ids[i]);
            long base = NativePagePool.offsetBytes(ids[i]);
            if (from > runStart) {
                slab.asSlice(base, from - runStart).fill((byte) 0);
            }
            if (to < (long) j << PAGE_SHIFT) {
                slab.asSlice(base + to - runStart, ((long) j << PAGE_SHIFT) - to).fill((byte) 0);
            }
            put(bio, done + (int) (from - inPage), slab, base + from - runStart, to - from);
            i = j;
        }
        int[] lost = null;
        int lostCount = 0;
        for (int k = 0; k < pages; k++) {
            int winner = -1;
            while (!publish(page + k, ids[k])) {
                // another write installed this page first (after our lookup): write our part into its page
                // instead; and if a discard has dropped that one already, try to install ours again
                winner = id(page + k);
                if (winner >= 0) {
                    break;
                }
            }
            if (winner < 0) {
                continue;
            }
            long from = Math.max((long) k << PAGE_SHIFT, inPage);
            long to = Math.min((long) (k + 1) << PAGE_SHIFT, inPage + (long) n);
            put(bio, done + (int) (from - inPage), pool.slab(winner),
                    NativePagePool.offsetBytes(winner) + (from & (PAGE_BYTES - 1)), to - from);
            if (lost == null) {
                lost = new int[pages];
            }
            lost[lostCount++] = ids[k];
        }
        if (lost != null) {
            pool.free(lost, lostCount); // never installed: nobody can have seen them
        }
        return n;
    }

    /** Installs page {@code id} at {@code page} if it is a hole; false if another page is installed there. */
    private boolean publish(long page, int id) {
        AtomicIntegerArray block = blockForWrite(page);
        int slot = (int) (page & (BLOCK_PAGES - 1));
        // happens-before: the page's contents (and its slab) are published with its id
        if (block.compareAndSet(slot, 0, id + 1)) {
            pagesAllocated.incrementAndGet();
            return true;
        }
        return false;
    }

    private static void put(Bio bio, int bioOffsetBytes, MemorySegment dst, long dstOffsetBytes, long lengthBytes) {
        if (bio == null) {
            dst.asSlice(dstOffsetBytes, lengthBytes).fill((byte) 0);
        } else {
            bio.copyTo(bioOffsetBytes, dst, dstOffsetBytes, lengthBytes);
        }
    }

    /** Zeroes a range: whole pages are dropped (their memory retired to the pool), partial ones cleared. */
    private void zero(long offset, int length) {
        NativePagePool.IntList dropped = null;
        int token = pool.enter();
        try {
            long done = 0;
            while (done < length) {
                long pos = offset + done;
                int inPage = (int) (pos & (PAGE_BYTES - 1));
                int n = (int) Math.min(PAGE_BYTES - inPage, length - done);
                long page = pos >>> PAGE_SHIFT;
                if (n == PAGE_BYTES) {
                    int id = unlink(page);
                    if (id >= 0) {
                        if (dropped == null) {
                            dropped = new NativePagePool.IntList();
                        }
                        dropped.add(id);
                    }
                } else {
                    int id = id(page);
                    if (id >= 0) {
                        pool.slab(id).asSlice(NativePagePool.offsetBytes(id) + inPage, n).fill((byte) 0);
                    }
                }
                done += n;
            }
        } finally {
            pool.exit(token);
        }
        if (dropped != null) {
            pool.retire(dropped);
        }
    }

    /** The page id at device page {@code page}, or -1 for a hole. */
    private int id(long page) {
        AtomicIntegerArray block = directory.get((int) (page >>> BLOCK_SHIFT));
        return block == null ? -1 : block.get((int) (page & (BLOCK_PAGES - 1))) - 1;
    }

    private AtomicIntegerArray blockForWrite(long page) {
        int b = (int) (page >>> BLOCK_SHIFT);
        AtomicIntegerArray block = directory.get(b);
        if (block == null) {
            directory.compareAndSet(b, null, new AtomicIntegerArray(BLOCK_PAGES));
            block = directory.get(b);
        }
        return block;
    }

    /** Makes {@code page} a hole; returns the id it had, or -1. */
    private int unlink(long page) {
        AtomicIntegerArray block = directory.get((int) (page >>> BLOCK_SHIFT));
        if (block == null) {
            return -1;
        }
        int id = block.getAndSet((int) (page & (BLOCK_PAGES - 1)), 0) - 1;
        if (id >= 0) {
            pagesAllocated.decrementAndGet();
        }
        return id;
    }

    private static int pagesSpanned(int inPage, int lengthBytes) {
        return (int) ((inPage + (long) lengthBytes + PAGE_BYTES - 1) >>> PAGE_SHIFT);
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
            boolean hole = id(pos >>> PAGE_SHIFT) < 0;
            long runEnd = pos;
            while (runEnd < end && (id(runEnd >>> PAGE_SHIFT) < 0) == hole) {
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
