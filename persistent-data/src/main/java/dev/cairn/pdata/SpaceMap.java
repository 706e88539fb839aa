package dev.cairn.pdata;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * A disk space map: a reference count per block, stored as Linux stores it ({@code
 * dm-space-map-common.c}). Bitmaps of 2-bit counts, 16320 entries per 4 KiB bitmap block (16-byte
 * header); 3 means "see the reference-count btree", which maps the block to its u32 count. An index
 * entry per bitmap ({@code blocknr u64, nr_free u32, none_free_before u32}) lives in a btree
 * (data) or in one index block (metadata); see the two subclasses.
 *
 * <h2>Implementation notes</h2>
 * <b>Counts in memory, format at commit.</b> Every count is held in memory (an {@code int[16320]} page
 * per bitmap, allocated when first used), loaded when the map is opened. Changes update memory at once;
 * {@link #commit} then rewrites each changed bitmap (shadowed once per transaction, so it moves as the
 * kernel's do), the reference-count tree entries that changed, and the index. That keeps the kernel's
 * recursion problem (changing the metadata map's own bitmaps allocates metadata blocks) out of the
 * counting: the metadata map's commit simply repeats until nothing it wrote changed a count that it
 * has not yet written.
 *
 * <p><b>Allocation</b> follows the kernel's rule: a block is handed out only when it is free now
 * <em>and</em> was free at the last commit, so a block freed in this transaction, which the committed
 * metadata may still reference, is never overwritten before the next commit. The search starts after
 * the last block handed out and wraps.
 *
 * <p>Thread safety: none; used under the owner's metadata lock.
 */
public abstract class SpaceMap {
    /** Entries per bitmap block ({@code ENTRIES_PER_BLOCK}). */
    public static final int ENTRIES_PER_BLOCK = (BlockManager.BLOCK_SIZE - 16) * 4;
    static final int BITMAP_HEADER_BYTES = 16;
    static final int INDEX_ENTRY_BYTES = 16;

    protected final TransactionManager tm;
    protected final BTree.Info refCountInfo;
    protected long nrBlocks;
    protected long nrAllocated;
    protected long refCountRoot;
    /** Per bitmap: counts, or null while all are zero. */
    protected int[][] pages;
    /** Per bitmap: its block on the metadata device, 0 before its first write. */
    protected long[] bitmapLocations;
    protected final BitSet dirtyBitmaps = new BitSet();
    /** Blocks with a count >= 3 in the on-disk reference-count tree. */
    protected final Set<Long> inRefTree = new HashSet<>();
    /** Blocks whose count changed while at or above 3 (their tree entry needs an update). */
    protected final Set<Long> refDirty = new TreeSet<>();
    private final Set<Long> allocatedThisTx = new HashSet<>();
    private final Set<Long> freedThisTx = new HashSet<>();
    private long allocCursor;

    protected SpaceMap(TransactionManager tm) {
        this.tm = tm;
        this.refCountInfo = new BTree.Info(tm, 1, ValueType.plain(4));
    }

    /** Bitmaps needed for {@code nrBlocks} blocks. */
    static int bitmapsFor(long nrBlocks) {
        return (int) ((nrBlocks + ENTRIES_PER_BLOCK - 1) / ENTRIES_PER_BLOCK);
    }

    protected void initEmpty(long nrBlocks) {
        this.nrBlocks = nrBlocks;
        int n = bitmapsFor(nrBlocks);
        this.pages = new int[n][];
        this.bitmapLocations = new long[n];
        dirtyBitmaps.set(0, n);
    }

    public long nrBlocks() {
        return nrBlocks;
    }

    public long nrAllocated() {
        return nrAllocated;
    }

    /** Blocks with a zero count ({@code sm_ll nr_free}: blocks freed in this transaction count as free). */
    public long nrFree() {
        return nrBlocks - nrAllocated;
    }

    public long count(long b) throws MetadataException {
        checkBlock(b);
        int[] page = pages[(int) (b / ENTRIES_PER_BLOCK)];
        return page == null ? 0 : Integer.toUnsignedLong(page[(int) (b % ENTRIES_PER_BLOCK)]);
    }

    public void inc(long b) throws MetadataException {
        long c = count(b);
        if (c == 0xFFFF_FFFFL) {
            throw new MetadataException(name() + ": reference count of block " + b + " overflows");
        }
        set(b, c + 1);
        if (c == 0) {
            nrAllocated++;
            if (!freedThisTx.remove(b)) {
                allocatedThisTx.add(b);
            }
        }
    }

    public void dec(long b) throws MetadataException {
        long c = count(b);
        if (c == 0) {
            throw new MetadataException(name() + ": reference count of block " + b + " dropped below zero");
        }
        set(b, c - 1);
        if (c == 1) {
            nrAllocated--;
            if (!allocatedThisTx.remove(b)) {
                freedThisTx.add(b);
            }
        }
    }

    private void set(long b, long c) {
        int bitmap = (int) (b / ENTRIES_PER_BLOCK);
        int[] page = pages[bitmap];
        if (page == null) {
            page = new int[ENTRIES_PER_BLOCK];
            pages[bitmap] = page;
        }
        int e = (int) (b % ENTRIES_PER_BLOCK);
        long old = Integer.toUnsignedLong(page[e]);
        page[e] = (int) c;
        if (Math.min(old, 3) != Math.min(c, 3)) {
            dirtyBitmaps.set(bitmap);
        }
        if (old >= 3 || c >= 3) {
            refDirty.add(b);
        }
    }

    /** Allocates a block free now and at the last commit, counted once ({@code sm_*_new_block}). */
    public long newBlock() throws MetadataException {
        long b = findFree(allocCursor, nrBlocks);
        if (b < 0) {
            b = findFree(0, Math.min(allocCursor, nrBlocks));
        }
        if (b < 0) {
            throw new NoSpaceException(name() + ": no free block among " + nrBlocks);
        }
        allocCursor = b + 1;
        inc(b);
        return b;
    }

    private long findFree(long from, long to) {
        long b = from;
        while (b < to) {
            int bitmap = (int) (b / ENTRIES_PER_BLOCK);
            int[] page = pages[bitmap];
            long pageEnd = Math.min(to, (long) (bitmap + 1) * ENTRIES_PER_BLOCK);
            for (; b < pageEnd; b++) {
                if ((page == null || page[(int) (b % ENTRIES_PER_BLOCK)] == 0) && !freedThisTx.contains(b)) {
                    return b;
                }
            }
        }
        return -1;
    }

    /** True when {@code b} may be handed out now (free now and at the last commit). */
    public boolean isAllocatable(long b) throws MetadataException {
        return count(b) == 0 && !freedThisTx.contains(b);
    }

    /** Grows the map to {@code newNrBlocks} blocks (the new ones free). */
    public void extend(long newNrBlocks) throws MetadataException {
        if (newNrBlocks < nrBlocks) {
            throw new MetadataException(name() + ": cannot shrink from " + nrBlocks + " to " + newNrBlocks + " blocks");
        }
        int oldBitmaps = pages.length;
        int n = bitmapsFor(newNrBlocks);
        checkBitmapCount(n);
        pages = java.util.Arrays.copyOf(pages, n);
        bitmapLocations = java.util.Arrays.copyOf(bitmapLocations, n);
        dirtyBitmaps.set(oldBitmaps, n);
        nrBlocks = newNrBlocks;
    }

    /** Refuses a size whose index would not fit (the metadata map's single index block). */
    protected void checkBitmapCount(int bitmaps) throws MetadataException {}

    /** Called after the superblock naming this map's new root is on disk. */
    public void transactionCommitted() {
        allocatedThisTx.clear();
        freedThisTx.clear();
    }

    /** A short name for error messages. */
    protected abstract String name();

    /** Writes this map's changed structures; the root reflects them afterwards. */
    public abstract void commit(TransactionManager tm) throws MetadataException;

    /** The root to store in the superblock (valid after {@link #commit}). */
    public abstract SpaceMapRoot root();

    protected void checkBlock(long b) throws MetadataException {
        if (b < 0 || b >= nrBlocks) {
            throw new MetadataException(name() + ": block " + b + " (expected: below " + nrBlocks + ")");
        }
    }

    // ---------------------------------------------------------------- writing

    /** Brings the reference-count tree and every dirty bitmap up to date, repeating until stable. */
    protected void writeCountsUntilStable() throws MetadataException {
        while (!refDirty.isEmpty() || !dirtyBitmaps.isEmpty()) {
            List<Long> refs = new ArrayList<>(refDirty);
            refDirty.clear();
            for (long b : refs) {
                long c = count(b);
                if (c >= 3) {
                    refCountRoot = BTree.insert(refCountInfo, refCountRoot, new long[] {b}, le32(c)).root();
                    inRefTree.add(b);
                } else if (inRefTree.remove(b)) {
                    refCountRoot = BTree.remove(refCountInfo, refCountRoot, b).root();
                }
            }
            for (int i = dirtyBitmaps.nextSetBit(0); i >= 0; i = dirtyBitmaps.nextSetBit(i + 1)) {
                dirtyBitmaps.clear(i);
                writeBitmap(i);
            }
        }
    }

    private static byte[] le32(long c) {
        byte[] v = new byte[4];
        ByteBuffer.wrap(v).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(0, (int) c);
        return v;
    }

    private void writeBitmap(int i) throws MetadataException {
        long old = bitmapLocations[i];
        Block b;
        if (old != 0 && tm.isShadow(old)) {
            b = tm.read(old, BlockValidator.BITMAP);
            tm.markDirty(b);
        } else {
            b = tm.newBlock(BlockValidator.BITMAP);
            bitmapLocations[i] = b.location();
            if (old != 0) {
                tm.dec(old);
            }
        }
        encodeBitmap(pages[i], b.data());
        onBitmapWritten(i);
    }

    /** Hook: bitmap {@code i} was (re)written; its index entry must follow. */
    protected abstract void onBitmapWritten(int i);

    static void encodeBitmap(int[] page, ByteBuffer d) {
        java.util.Arrays.fill(d.array(), BITMAP_HEADER_BYTES, BlockManager.BLOCK_SIZE, (byte) 0);
        if (page == null) {
            return;
        }
        for (int e = 0; e < ENTRIES_PER_BLOCK; e += 4) {
            int byteValue = 0;
            for (int k = 0; k < 4; k++) {
                int v = Integer.compareUnsigned(page[e + k], 3) >= 0 ? 3 : page[e + k];
                // The lower-numbered bit of each pair is the high bit of the value.
                byteValue |= ((v >> 1) & 1) << (2 * k);
                byteValue |= (v & 1) << (2 * k + 1);
            }
            d.put(BITMAP_HEADER_BYTES + e / 4, (byte) byteValue);
        }
    }

    /** Decodes one bitmap's 2-bit entries into {@code page}; 3 stays 3 (the caller fills in the tree's counts). */
    static void decodeBitmap(ByteBuffer d, int[] page) {
        for (int e = 0; e < ENTRIES_PER_BLOCK; e++) {
            int byteValue = d.get(BITMAP_HEADER_BYTES + e / 4) & 0xFF;
            int k = e % 4;
            int hi = (byteValue >> (2 * k)) & 1;
            int lo = (byteValue >> (2 * k + 1)) & 1;
            page[e] = (hi << 1) | lo;
        }
    }

    /** The index entry of bitmap {@code i}: {@code nr_free} counts the whole bitmap, as the kernel does. */
    protected void encodeIndexEntry(int i, ByteBuffer into, int offsetBytes) {
        int[] page = pages[i];
        int free = 0;
        int firstFree = -1;
        for (int e = 0; e < ENTRIES_PER_BLOCK; e++) {
            if (page == null || page[e] == 0) {
                free++;
                if (firstFree < 0) {
                    firstFree = e;
                }
            }
        }
        into.putLong(offsetBytes, bitmapLocations[i]);
        into.putInt(offsetBytes + 8, free);
        into.putInt(offsetBytes + 12, firstFree < 0 ? ENTRIES_PER_BLOCK : firstFree);
    }

    /** Loads bitmap {@code i} from {@code location}; counts of 3 come from {@code overflow}. */
    protected void loadBitmap(int i, long location, Map<Long, Long> overflow) throws MetadataException {
        bitmapLocations[i] = location;
        Block b = tm.read(location, BlockValidator.BITMAP);
        int[] page = new int[ENTRIES_PER_BLOCK];
        decodeBitmap(b.data(), page);
        long base = (long) i * ENTRIES_PER_BLOCK;
        boolean any = false;
        for (int e = 0; e < ENTRIES_PER_BLOCK; e++) {
            if (page[e] == 0) {
                continue;
            }
            if (base + e >= nrBlocks) {
                throw new MetadataException(name() + ": bitmap " + i + " counts block " + (base + e) + " past the end " + nrBlocks);
            }
            any = true;
            if (page[e] == 3) {
                Long c = overflow.get(base + e);
                if (c == null) {
                    throw new MetadataException(name() + ": block " + (base + e) + " has count 3+ but no reference-count entry");
                }
                page[e] = (int) (long) c;
                inRefTree.add(base + e);
            }
            nrAllocated++;
        }
        pages[i] = any ? page : null;
    }

    /** Reads the whole reference-count tree. */
    protected Map<Long, Long> loadRefCounts() throws MetadataException {
        Map<Long, Long> out = new HashMap<>();
        BTree.walk(refCountInfo, refCountRoot, (k, v) -> out.put(k, ByteBuffer.wrap(v).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt(0) & 0xFFFF_FFFFL));
        return out;
    }

    /** Every block with a nonzero count, for checks: block to count. */
    public Map<Long, Long> countsSnapshot() {
        Map<Long, Long> out = new HashMap<>();
        for (int i = 0; i < pages.length; i++) {
            int[] page = pages[i];
            if (page == null) {
                continue;
            }
            for (int e = 0; e < ENTRIES_PER_BLOCK; e++) {
                if (page[e] != 0) {
                    out.put((long) i * ENTRIES_PER_BLOCK + e, Integer.toUnsignedLong(page[e]));
                }
            }
        }
        return out;
    }
}
