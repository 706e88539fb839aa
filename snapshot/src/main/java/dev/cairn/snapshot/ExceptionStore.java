package dev.cairn.snapshot;

import java.io.IOException;

/**
 * Where a snapshot records which origin chunks it has copied, and where to (Linux
 * {@code struct dm_exception_store_type}). Two implementations: {@link PersistentExceptionStore}
 * (the Linux on-disk format, table type {@code P}/{@code PO}) and {@link TransientExceptionStore}
 * (memory only, {@code N}).
 *
 * <p>Call discipline, as in Linux: {@link #prepareException} is called with the snapshot's lock
 * held; {@link #commitException}, {@link #prepareMerge} and {@link #commitMerge} are called from
 * one thread at a time (the snapshot's copy worker, the kcopyd analog) and may do synchronous I/O
 * there; {@link #usage} and {@link #dropSnapshot} may be called from any thread.
 */
public interface ExceptionStore extends AutoCloseable {
    /** What {@link #readMetadata} found. */
    enum LoadResult {
        /** A fresh store: the header was written and area 0 zeroed. */
        NEW,
        /** An existing store: every committed exception was passed to the sink. */
        LOADED,
        /** An existing store whose header says it was invalidated: loaded as invalid, no exceptions. */
        INVALID
    }

    /** Receives one committed exception while loading. */
    @FunctionalInterface
    interface ExceptionSink {
        void exception(long oldChunk, long newChunk);
    }

    /** Told whether a commit (and every commit batched with it) is durable. */
    @FunctionalInterface
    interface CommitCallback {
        void committed(boolean success);
    }

    /**
     * The tail run of exceptions to merge next ({@code prepare_merge}): {@code count} consecutive
     * exceptions ending at ({@code lastOldChunk}, {@code lastNewChunk}), both runs ascending.
     */
    record MergeRun(long lastOldChunk, long lastNewChunk, int count) {
        public long firstOldChunk() {
            return lastOldChunk + 1 - count;
        }

        public long firstNewChunk() {
            return lastNewChunk + 1 - count;
        }
    }

    /** Space accounting for the status line, in sectors. */
    record Usage(long totalSectors, long allocatedSectors, long metadataSectors) {}

    /** Chunk size in sectors; after {@link #readMetadata} this is the value in force (the header's, if any). */
    int chunkSectors();

    /** Loads the store, passing every committed exception to {@code sink}. Called once, before any other I/O. */
    LoadResult readMetadata(ExceptionSink sink) throws IOException;

    /** Allocates the COW chunk for a new exception ({@code prepare_exception}); -1 when the COW is full. */
    long prepareException();

    /**
     * Records the exception {@code oldChunk -> newChunk} whose data copy has finished
     * ({@code valid == false} when the copy failed, which invalidates the store). {@code callback}
     * runs once the record is durable, possibly later and batched with other commits.
     */
    void commitException(long oldChunk, long newChunk, boolean valid, CommitCallback callback);

    /** True when the store supports {@link #prepareMerge} and {@link #commitMerge}. */
    boolean supportsMerge();

    /** The next run to merge, or null when no exception is left. */
    MergeRun prepareMerge() throws IOException;

    /** Removes the last {@code count} exceptions (returned by {@link #prepareMerge}) durably. */
    void commitMerge(int count) throws IOException;

    /** Marks the store invalid, on disk too where there is a disk ({@code drop_snapshot}). */
    void dropSnapshot();

    /** Space used, for the INFO status. */
    Usage usage();

    /** The store part of the TABLE status, without a leading space: {@code P 16}, {@code PO 16}, {@code N 16}. */
    String tableArgs();

    /** True for {@code PO}: a full COW makes snapshot writes fail ("Overflow") instead of invalidating. */
    boolean userspaceSupportsOverflow();

    @Override
    void close();
}
