package dev.cairn.snapshot;

import java.util.Arrays;

/**
 * The completed-exception table: origin chunk to COW chunk, an open-addressing hash of primitive
 * longs (Linux keeps a hash of {@code dm_exception} that also coalesces consecutive runs; a flat
 * map answers the same lookups, and removal for merging stays trivial).
 *
 * <p>Thread safety: none; the owning snapshot guards it with its lock.
 */
final class ChunkMap {
    private static final long EMPTY = -1;

    private long[] keys;
    private long[] values;
    private int size;
    private int mask;

    ChunkMap(int expected) {
        int capacity = Integer.highestOneBit(Math.max(16, expected * 2 - 1)) << 1;
        allocate(capacity);
    }

    private void allocate(int capacity) {
        keys = new long[capacity];
        values = new long[capacity];
        Arrays.fill(keys, EMPTY);
        mask = capacity - 1;
    }

    int size() {
        return size;
    }

    private int slot(long key) {
        long h = key * 0x9E3779B97F4A7C15L;
        return (int) (h ^ (h >>> 32)) & mask;
    }

    /** The COW chunk for {@code oldChunk}, or -1. */
    long get(long oldChunk) {
        for (int i = slot(oldChunk); ; i = (i + 1) & mask) {
            long k = keys[i];
            if (k == oldChunk) {
                return values[i];
            }
            if (k == EMPTY) {
                return -1;
            }
        }
    }

    void put(long oldChunk, long newChunk) {
        if (oldChunk < 0) {
            throw new IllegalArgumentException("oldChunk: " + oldChunk + " (expected: >= 0)");
        }
        if ((size + 1) * 2 > keys.length) {
            grow();
        }
        for (int i = slot(oldChunk); ; i = (i + 1) & mask) {
            long k = keys[i];
            if (k == oldChunk) {
                values[i] = newChunk;
                return;
            }
            if (k == EMPTY) {
                keys[i] = oldChunk;
                values[i] = newChunk;
                size++;
                return;
            }
        }
    }

    /** Removes {@code oldChunk}; true when it was there. Backward-shift deletion keeps probes short. */
    boolean remove(long oldChunk) {
        int i = slot(oldChunk);
        while (keys[i] != oldChunk) {
            if (keys[i] == EMPTY) {
                return false;
            }
            i = (i + 1) & mask;
        }
        size--;
        int hole = i;
        for (int j = (hole + 1) & mask; keys[j] != EMPTY; j = (j + 1) & mask) {
            int home = slot(keys[j]);
            boolean movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
            if (movable) {
                keys[hole] = keys[j];
                values[hole] = values[j];
                hole = j;
            }
        }
        keys[hole] = EMPTY;
        return true;
    }

    private void grow() {
        long[] oldKeys = keys;
        long[] oldValues = values;
        allocate(keys.length * 2);
        size = 0;
        for (int i = 0; i < oldKeys.length; i++) {
            if (oldKeys[i] != EMPTY) {
                put(oldKeys[i], oldValues[i]);
            }
        }
    }
}
