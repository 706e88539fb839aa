package dev.cairn.pdata;

import java.nio.ByteBuffer;

/**
 * A view of one btree node block (Linux {@code struct btree_node}):
 *
 * <pre>
 *  0  csum u32 | 4 flags u32 (INTERNAL 1, LEAF 2) | 8 blocknr u64
 * 16  nr_entries u32 | 20 max_entries u32 | 24 value_size u32 | 28 padding u32
 * 32  keys[max_entries] u64 ... then values[max_entries] of value_size bytes
 * </pre>
 *
 * <p>Thread safety: none; a view of a {@link Block} owned by one thread.
 */
final class Node {
    static final int HEADER_BYTES = 32;
    static final int INTERNAL = 1;
    static final int LEAF = 2;

    final Block block;
    final ByteBuffer d;

    Node(Block block) {
        this.block = block;
        this.d = block.data();
    }

    /** {@code (4096 - 32) / (8 + valueSize)} rounded down to a multiple of 3 ({@code calc_max_entries}). */
    static int maxEntries(int valueSize) {
        int n = (BlockManager.BLOCK_SIZE - HEADER_BYTES) / (8 + valueSize);
        return n / 3 * 3;
    }

    long location() {
        return block.location();
    }

    int flags() {
        return d.getInt(4);
    }

    boolean isLeaf() {
        return (flags() & LEAF) != 0;
    }

    boolean isInternal() {
        return (flags() & INTERNAL) != 0;
    }

    int nrEntries() {
        return d.getInt(16);
    }

    int maxEntries() {
        return d.getInt(20);
    }

    int valueSize() {
        return d.getInt(24);
    }

    void init(int flags, int valueSize) {
        d.putInt(4, flags);
        d.putInt(16, 0);
        d.putInt(20, maxEntries(valueSize));
        d.putInt(24, valueSize);
        d.putInt(28, 0);
    }

    void setNrEntries(int n) {
        d.putInt(16, n);
    }

    long key(int i) {
        return d.getLong(HEADER_BYTES + 8 * i);
    }

    void setKey(int i, long key) {
        d.putLong(HEADER_BYTES + 8 * i, key);
    }

    int valueOffset(int i) {
        return HEADER_BYTES + 8 * maxEntries() + valueSize() * i;
    }

    long value64(int i) {
        return d.getLong(valueOffset(i));
    }

    void setValue64(int i, long v) {
        d.putLong(valueOffset(i), v);
    }

    byte[] value(int i) {
        byte[] v = new byte[valueSize()];
        d.get(valueOffset(i), v);
        return v;
    }

    void setValue(int i, byte[] v) {
        d.put(valueOffset(i), v);
    }

    /** The largest i with key(i) &lt;= key, or -1 ({@code lower_bound}). */
    int lowerBound(long key) {
        int lo = -1;
        int hi = nrEntries();
        while (hi - lo > 1) {
            int mid = lo + (hi - lo) / 2;
            long k = key(mid);
            if (k == key) {
                return mid;
            }
            if (Long.compareUnsigned(k, key) < 0) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    /** Inserts at {@code index}, shifting later entries right ({@code insert_at}). */
    void insertAt(int index, long key, byte[] value) throws MetadataException {
        int nr = nrEntries();
        int max = maxEntries();
        if (index > nr || index >= max || nr >= max) {
            throw new MetadataException("btree node " + location() + ": insert at " + index + " of " + nr + "/" + max);
        }
        int vs = valueSize();
        if (index < nr) {
            int ko = HEADER_BYTES + 8 * index;
            System.arraycopy(block.bytes(), ko, block.bytes(), ko + 8, 8 * (nr - index));
            int vo = valueOffset(index);
            System.arraycopy(block.bytes(), vo, block.bytes(), vo + vs, vs * (nr - index));
        }
        setKey(index, key);
        setValue(index, value);
        setNrEntries(nr + 1);
    }

    /** Removes entry {@code index}, shifting later entries left ({@code delete_at}); the freed slot is zeroed. */
    void deleteAt(int index) {
        int nr = nrEntries();
        int vs = valueSize();
        int after = nr - index - 1;
        if (after > 0) {
            int ko = HEADER_BYTES + 8 * index;
            System.arraycopy(block.bytes(), ko + 8, block.bytes(), ko, 8 * after);
            int vo = valueOffset(index);
            System.arraycopy(block.bytes(), vo + vs, block.bytes(), vo, vs * after);
        }
        clearSlots(nr - 1, nr);
        setNrEntries(nr - 1);
    }

    /** Zeroes key and value slots {@code [from, to)}. */
    void clearSlots(int from, int to) {
        if (to <= from) {
            return;
        }
        java.util.Arrays.fill(block.bytes(), HEADER_BYTES + 8 * from, HEADER_BYTES + 8 * to, (byte) 0);
        java.util.Arrays.fill(block.bytes(), valueOffset(from), valueOffset(to), (byte) 0);
    }

    /** Copies the entries to arrays: keys into {@code keys[at..]}, values into {@code values[at..]}. */
    int drainTo(long[] keys, byte[][] values, int at) {
        int nr = nrEntries();
        for (int i = 0; i < nr; i++) {
            keys[at + i] = key(i);
            values[at + i] = value(i);
        }
        return at + nr;
    }

    /** Replaces the entries with {@code count} of them from the arrays, starting at {@code from}. */
    void fill(long[] keys, byte[][] values, int from, int count) {
        int old = nrEntries();
        for (int i = 0; i < count; i++) {
            setKey(i, keys[from + i]);
            setValue(i, values[from + i]);
        }
        clearSlots(count, Math.max(old, count));
        setNrEntries(count);
    }
}
