package dev.cairn.testkit;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.Extents;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.Sectors;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A memory-backed device with a volatile write cache that can lose power: the store under crash-consistency
 * tests. Reads always see every acknowledged write; what survives a crash follows the block-layer contract
 * and nothing more.
 *
 * <ul>
 *   <li>A WRITE, DISCARD or WRITE_ZEROES is acknowledged at once but is only <em>volatile</em>.</li>
 *   <li>FLUSH, and PREFLUSH on any bio, make every write acknowledged before it durable (PREFLUSH: before
 *       the bio's own write, which itself stays volatile unless it also has FUA).</li>
 *   <li>FUA makes that bio's own write durable when it is acknowledged; earlier volatile writes stay volatile.</li>
 *   <li>{@link #crashImage(long)} builds one possible content after a power cut: the durable contents plus,
 *       for each volatile write in order, all of it, none of it, or (torn) a random subset of its 512-byte
 *       sectors. So a later volatile write can survive while an earlier one is lost, as a disk cache
 *       that writes back out of order allows; a FUA write is never undone by an older volatile one.</li>
 * </ul>
 *
 * <pre>{@code
 * CrashSimulatingStore disk = new CrashSimulatingStore("cow", 64 << 20);
 * ... run the stack, then at any point:
 * DiskImage after = disk.crash(seed);          // the store now fails all I/O with IOERR
 * CrashSimulatingStore reopened = after.open("cow");
 * }</pre>
 *
 * <p>Limits: 512-byte logical and 4 KiB physical blocks, a write cache with native FUA, discard and
 * write-zeroes (both read as zeros afterwards). Bios complete on the submitting thread, like
 * {@code MemoryStore}, so runs are reproducible.
 *
 * <p>Thread safety: one lock guards all state; bios may be submitted from any thread. A bio's effect
 * is atomic with respect to other bios, flushes and crash images; completion runs outside the lock.
 */
public final class CrashSimulatingStore implements BlockDevice {
    /** One acknowledged write that is not yet folded into the durable image. */
    private record Entry(long offsetBytes, long lengthBytes, byte[] data, boolean unmap, boolean durable) {}

    private final String name;
    private final long capacitySectors;
    private final QueueLimits limits;
    // @GuardedBy("this") for all below
    private final SparsePages current;
    private final SparsePages durable;
    private final List<Entry> volatileLog = new ArrayList<>();
    private boolean crashed;
    private long flushes;
    private long writes;

    /** An empty (all zeros, all holes) store of {@code capacityBytes} (a positive multiple of 512). */
    public CrashSimulatingStore(String name, long capacityBytes) {
        this(name, checkCapacity(capacityBytes));
    }

    CrashSimulatingStore(String name, SparsePages contents) {
        this.name = name;
        this.capacitySectors = contents.capacityBytes() >>> Sectors.SECTOR_SHIFT;
        this.current = contents;
        this.durable = contents.copy();
        this.limits = new QueueLimits(512, 4096, 0, 512, Long.MAX_VALUE >> 10, Long.MAX_VALUE >> 10, true, true, false);
    }

    private static SparsePages checkCapacity(long capacityBytes) {
        if (capacityBytes <= 0 || !Sectors.isAligned(capacityBytes)) {
            throw new IllegalArgumentException("capacityBytes: " + capacityBytes + " (expected: a positive multiple of 512)");
        }
        return new SparsePages(capacityBytes);
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

    @Override
    public void submitBio(Bio bio) {
        BioStatus status;
        try {
            status = apply(bio);
        } catch (RuntimeException e) {
            status = BioStatus.IOERR;
        }
        bio.complete(status);
    }

    private synchronized BioStatus apply(Bio bio) {
        if (crashed) {
            return BioStatus.IOERR;
        }
        BioOp op = bio.op();
        long offsetBytes = Sectors.toBytes(bio.sector());
        int lengthBytes = bio.sizeBytes();
        if (op != BioOp.FLUSH && (!Sectors.isAligned(lengthBytes) || bio.endSector() > capacitySectors)) {
            return BioStatus.INVALID;
        }
        if (op == BioOp.FLUSH || bio.hasFlag(BioFlags.PREFLUSH)) {
            flushLocked();
        }
        boolean fua = bio.hasFlag(BioFlags.FUA);
        switch (op) {
            case READ -> {
                byte[] into = new byte[lengthBytes];
                current.read(offsetBytes, MemorySegment.ofArray(into), 0, lengthBytes);
                bio.copyFrom(MemorySegment.ofArray(into), 0, 0, lengthBytes);
            }
            case WRITE -> {
                byte[] copy = new byte[lengthBytes];
                bio.copyTo(0, MemorySegment.ofArray(copy), 0, lengthBytes);
                current.write(offsetBytes, copy);
                log(new Entry(offsetBytes, lengthBytes, copy, false, fua));
            }
            case DISCARD, WRITE_ZEROES -> {
                boolean unmap = op == BioOp.DISCARD || !bio.hasFlag(BioFlags.NOUNMAP);
                current.zero(offsetBytes, lengthBytes, !unmap);
                log(new Entry(offsetBytes, lengthBytes, null, unmap, fua));
            }
            case FLUSH -> { }
        }
        return BioStatus.OK;
    }

    private void log(Entry e) {
        writes++;
        if (volatileLog.isEmpty() && e.durable()) {
            apply(durable, e, null); // nothing older can overwrite it: fold it in now
        } else {
            volatileLog.add(e);
        }
    }

    private void flushLocked() {
        flushes++;
        for (Entry e : volatileLog) {
            apply(durable, e, null);
        }
        volatileLog.clear();
    }

    /** Applies {@code e} to {@code pages}: all of it, or only the sectors {@code keep} selects. */
    private static void apply(SparsePages pages, Entry e, boolean[] keep) {
        if (keep == null) {
            if (e.data() == null) {
                pages.zero(e.offsetBytes(), e.lengthBytes(), !e.unmap());
            } else {
                pages.write(e.offsetBytes(), e.data());
            }
            return;
        }
        for (int s = 0; s < keep.length; s++) {
            if (!keep[s]) {
                continue;
            }
            long at = e.offsetBytes() + Sectors.toBytes(s);
            if (e.data() == null) {
                pages.zero(at, Sectors.SECTOR_SIZE, !e.unmap());
            } else {
                pages.write(at, MemorySegment.ofArray(e.data()), Sectors.toBytes(s), Sectors.SECTOR_SIZE);
            }
        }
    }

    // ---------------------------------------------------------------- images

    /** What is surely durable now: what every crash keeps. */
    public synchronized DiskImage durableImage() {
        SparsePages image = durable.copy();
        for (Entry e : volatileLog) {
            if (e.durable()) {
                apply(image, e, null);
            }
        }
        return new DiskImage(image);
    }

    /** What reads see now: what a crash right after a FLUSH would keep. */
    public synchronized DiskImage currentImage() {
        return new DiskImage(current.copy());
    }

    /**
     * One possible content after a power cut now, chosen by {@code seed} (the same seed and the same history
     * give the same image). The store itself is not changed and goes on working.
     */
    public synchronized DiskImage crashImage(long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        SparsePages image = durable.copy();
        for (Entry e : volatileLog) {
            if (e.durable()) {
                apply(image, e, null);
                continue;
            }
            int sectors = (int) (e.lengthBytes() >>> Sectors.SECTOR_SHIFT);
            switch (random.nextInt(sectors > 1 ? 3 : 2)) {
                case 0 -> { } // lost
                case 1 -> apply(image, e, null); // written back whole
                default -> { // torn: written back in part, at sector granularity
                    boolean[] keep = new boolean[sectors];
                    for (int s = 0; s < sectors; s++) {
                        keep[s] = random.nextBoolean();
                    }
                    apply(image, e, keep);
                }
            }
        }
        return new DiskImage(image);
    }

    /**
     * Cuts the power: returns {@link #crashImage(long) crashImage(seed)} and from now on every bio fails with
     * IOERR (the old stack can no longer touch the disk). Reopen the image with {@link DiskImage#open}.
     */
    public synchronized DiskImage crash(long seed) {
        DiskImage image = crashImage(seed);
        crashed = true;
        volatileLog.clear();
        return image;
    }

    public synchronized boolean isCrashed() {
        return crashed;
    }

    /** Acknowledged writes (including discards and write-zeroes) that a crash could still lose or tear. */
    public synchronized int volatileWrites() {
        int n = 0;
        for (Entry e : volatileLog) {
            if (!e.durable()) {
                n++;
            }
        }
        return n;
    }

    /** Flushes seen so far (FLUSH bios and PREFLUSH flags). */
    public synchronized long flushCount() {
        return flushes;
    }

    /** Writes, discards and write-zeroes acknowledged so far. */
    public synchronized long writeCount() {
        return writes;
    }

    /** Unwritten (or discarded) 4 KiB pages of the current contents are holes that read as zeros. */
    @Override
    public synchronized void queryExtents(long sector, long sectors, Extents.Sink sink) {
        long pos = Sectors.toBytes(sector);
        long end = Sectors.toBytes(sector + sectors);
        while (pos < end) {
            boolean hole = !current.isAllocated(pos / SparsePages.PAGE_BYTES);
            long runEnd = pos;
            while (runEnd < end && !current.isAllocated(runEnd / SparsePages.PAGE_BYTES) == hole) {
                runEnd = Math.min(end, (runEnd / SparsePages.PAGE_BYTES + 1) * SparsePages.PAGE_BYTES);
            }
            if (!sink.extent((runEnd - pos) >>> Sectors.SECTOR_SHIFT, hole ? Extents.HOLE | Extents.ZERO : 0)) {
                return;
            }
            pos = runEnd;
        }
    }

    @Override
    public String toString() {
        return "CrashSimulatingStore[" + name + ", " + Sectors.toBytes(capacitySectors) + " bytes]";
    }
}
