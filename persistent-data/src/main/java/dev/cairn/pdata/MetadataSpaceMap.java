package dev.cairn.pdata;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Map;

/**
 * The space map of the metadata device itself (Linux {@code dm-space-map-metadata.c}). Its index is one
 * 4 KiB index block ({@code csum u32, padding u32, blocknr u64, 255 index entries}), shadowed at every
 * commit, which caps the device at {@link #MAX_BLOCKS} blocks. Its bitmaps and reference-count tree
 * live in blocks it counts itself; see {@link SpaceMap} for how the commit settles that recursion.
 *
 * <p>Thread safety: none; used under the owner's metadata lock.
 */
public final class MetadataSpaceMap extends SpaceMap {
    /** Index entries in the index block ({@code MAX_METADATA_BITMAPS}). */
    public static final int MAX_BITMAPS = 255;
    /** The largest metadata device in blocks: 255 * 16320 ({@code DM_SM_METADATA_MAX_BLOCKS}). */
    public static final long MAX_BLOCKS = (long) MAX_BITMAPS * ENTRIES_PER_BLOCK;
    private static final int INDEX_ENTRIES_OFFSET = 16;

    private long indexLocation;

    /** An empty map; attach it to {@code tm} with {@link TransactionManager#setSpaceMap}, then format or open it. */
    public MetadataSpaceMap(TransactionManager tm) {
        super(tm);
    }

    /**
     * Formats a map of {@code nrBlocks} (at most {@link #MAX_BLOCKS}) with every block free but the
     * owner's {@code superblock}, which is counted once ({@code dm_sm_metadata_create}).
     */
    public void format(long nrBlocks, long superblock) throws MetadataException {
        checkBitmapCount(bitmapsFor(nrBlocks));
        initEmpty(nrBlocks);
        inc(superblock);
        refCountRoot = BTree.empty(refCountInfo);
    }

    /** Loads the map from its root. */
    public void open(SpaceMapRoot root) throws MetadataException {
        int n = bitmapsFor(root.nrBlocks());
        checkBitmapCount(n);
        nrBlocks = root.nrBlocks();
        pages = new int[n][];
        bitmapLocations = new long[n];
        refCountRoot = root.refCountRoot();
        indexLocation = root.bitmapRoot();
        Map<Long, Long> overflow = loadRefCounts();
        Block ib = tm.read(indexLocation, BlockValidator.INDEX);
        ByteBuffer d = ib.data();
        for (int i = 0; i < n; i++) {
            long loc = d.getLong(INDEX_ENTRIES_OFFSET + i * INDEX_ENTRY_BYTES);
            if (loc == 0) {
                throw new MetadataException("metadata space map: index entry " + i + " has no bitmap");
            }
            loadBitmap(i, loc, overflow);
        }
        // nr_allocated is recounted from the bitmaps: thin_restore 0.9 may store one more than its bitmaps hold,
        // and thin_check does not compare the two.
    }

    @Override
    protected void checkBitmapCount(int bitmaps) throws MetadataException {
        if (bitmaps > MAX_BITMAPS) {
            throw new MetadataException("metadata space map: " + bitmaps + " bitmaps (expected: at most " + MAX_BITMAPS
                    + ", " + MAX_BLOCKS + " blocks)");
        }
    }

    @Override
    protected String name() {
        return "metadata space map";
    }

    @Override
    protected void onBitmapWritten(int i) {
    }

    @Override
    public void commit(TransactionManager tm) throws MetadataException {
        long old = indexLocation;
        if (old == 0 || !tm.isShadow(old)) {
            Block b = tm.newBlock(BlockValidator.INDEX);
            indexLocation = b.location();
            if (old != 0) {
                tm.dec(old);
            }
        }
        writeCountsUntilStable();
        Block ib = tm.read(indexLocation, BlockValidator.INDEX);
        tm.markDirty(ib);
        ByteBuffer d = ib.data();
        Arrays.fill(d.array(), 4, BlockManager.BLOCK_SIZE, (byte) 0);
        for (int i = 0; i < pages.length; i++) {
            encodeIndexEntry(i, d, INDEX_ENTRIES_OFFSET + i * INDEX_ENTRY_BYTES);
        }
    }

    @Override
    public SpaceMapRoot root() {
        return new SpaceMapRoot(nrBlocks, nrAllocated, indexLocation, refCountRoot);
    }
}
