package dev.cairn.snapshot;

import dev.cairn.block.Bio;

/**
 * Test hooks that make races deterministic (latches in tests); the default does nothing.
 * Package-private: only tests in this package install them.
 */
interface SnapshotHooks {
    SnapshotHooks NONE = new SnapshotHooks() { };

    /** In {@code map}, on the mapping thread, right before the snapshot's lock is taken. */
    default void beforeMapLock(Bio clone, long chunk) {}

    /** In {@code pendingComplete}, right after the lock was taken, before waiting for tracked reads. */
    default void pendingCompleteLocked(long oldChunk) {}

    /** In the merge loop, on the copy worker, after writes to the run are held and before it is copied back. */
    default void beforeMergeCopy(long firstOldChunk, int count) {}

    /** In the merge loop, after a run was copied back and committed. */
    default void afterMergeCommit(long firstOldChunk, int count) {}

    /** In {@code map} of a merging snapshot, under its lock: a write to a chunk being merged waits for the run. */
    default void queuedBehindMerge(Bio clone, long chunk) {}

    /** In {@code stopMerge}, once the running merge was asked to stop, before waiting for it. */
    default void mergeStopRequested() {}
}
