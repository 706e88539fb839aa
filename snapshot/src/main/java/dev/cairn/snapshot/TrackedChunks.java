package dev.cairn.snapshot;

import java.util.concurrent.ConcurrentHashMap;

/**
 * Chunks with snapshot reads in flight to the origin (Linux {@code tracked_chunk_hash}): a read of a
 * chunk that has no completed exception is remapped to the origin and counted here until it
 * completes, so that {@code pendingComplete} does not let an origin write overwrite what the read
 * has still to see.
 *
 * <p>Thread safety: a concurrent multiset; {@link #add} and {@link #remove} may run on any thread.
 */
final class TrackedChunks {
    private final ConcurrentHashMap<Long, Integer> counts = new ConcurrentHashMap<>();

    void add(long chunk) {
        counts.merge(chunk, 1, Integer::sum);
    }

    void remove(long chunk) {
        counts.computeIfPresent(chunk, (k, n) -> n == 1 ? null : n - 1);
    }

    boolean contains(long chunk) {
        return counts.containsKey(chunk);
    }

    boolean isEmpty() {
        return counts.isEmpty();
    }
}
