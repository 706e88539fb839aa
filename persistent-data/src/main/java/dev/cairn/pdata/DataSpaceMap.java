package dev.cairn.pdata;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.BitSet;
import java.util.Map;

/**
 * The space map of a data device (Linux {@code dm-space-map-disk.c}): counts of data blocks, its
 * bitmaps, index btree (bitmap number to a 16-byte index entry) and reference-count btree all in
 * metadata blocks.
 *
 * <p>Thread safety: none; used under the owner's metadata lock.
 */
public final class DataSpaceMap extends SpaceMap {
    private final BTree.Info indexInfo;
    private long indexRoot;
    private final BitSet indexDirty = new BitSet();

    private DataSpaceMap(TransactionManager tm) {
        super(tm);
        this.indexInfo = new BTree.Info(tm, 1, ValueType.plain(INDEX_ENTRY_BYTES));
    }

    /** A new map of {@code nrBlocks} free blocks ({@code dm_sm_disk_create}). */
    public static DataSpaceMap create(TransactionManager tm, long nrBlocks) throws MetadataException {
        DataSpaceMap sm = new DataSpaceMap(tm);
        sm.initEmpty(nrBlocks);
        sm.refCountRoot = BTree.empty(sm.refCountInfo);
        sm.indexRoot = BTree.empty(sm.indexInfo);
        return sm;
    }

    /** Opens the map whose root a superblock holds ({@code dm_sm_disk_open}). */
    public static DataSpaceMap open(TransactionManager tm, SpaceMapRoot root) throws MetadataException {
        DataSpaceMap sm = new DataSpaceMap(tm);
        sm.nrBlocks = root.nrBlocks();
        int n = bitmapsFor(root.nrBlocks());
        sm.pages = new int[n][];
        sm.bitmapLocations = new long[n];
        sm.refCountRoot = root.refCountRoot();
        sm.indexRoot = root.bitmapRoot();
        Map<Long, Long> overflow = sm.loadRefCounts();
        long[] seen = {0};
        BTree.walk(sm.indexInfo, sm.indexRoot, (key, value) -> {
            if (key >= n) {
                throw new MetadataException("data space map: index entry " + key + " (expected: below " + n + ")");
            }
            sm.loadBitmap((int) key, ByteBuffer.wrap(value).order(ByteOrder.LITTLE_ENDIAN).getLong(0), overflow);
            seen[0]++;
        });
        if (seen[0] != n) {
            throw new MetadataException("data space map: " + seen[0] + " index entries (expected: " + n + ")");
        }
        // nr_allocated is recounted from the bitmaps: thin_restore 0.9 may store one more than its bitmaps hold,
        // and thin_check does not compare the two.
        return sm;
    }

    @Override
    protected String name() {
        return "data space map";
    }

    @Override
    protected void onBitmapWritten(int i) {
        indexDirty.set(i);
    }

    @Override
    public void commit(TransactionManager tm) throws MetadataException {
        writeCountsUntilStable();
        byte[] entry = new byte[INDEX_ENTRY_BYTES];
        ByteBuffer eb = ByteBuffer.wrap(entry).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = indexDirty.nextSetBit(0); i >= 0; i = indexDirty.nextSetBit(i + 1)) {
            encodeIndexEntry(i, eb, 0);
            indexRoot = BTree.insert(indexInfo, indexRoot, new long[] {i}, entry.clone()).root();
        }
        indexDirty.clear();
    }

    @Override
    public SpaceMapRoot root() {
        return new SpaceMapRoot(nrBlocks, nrAllocated, indexRoot, refCountRoot);
    }
}
