package dev.cairn.snapshot;

import dev.cairn.block.BlockDevice;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The transient exception store ({@code N}): exceptions live only in memory, so the COW device
 * holds data chunks from chunk 0 on and nothing survives a restart (Linux
 * {@code dm-snap-transient.c}). A commit succeeds at once.
 *
 * <p>A transient store has no header to take a chunk size from, so a table chunk size of 0 leaves
 * {@link #chunkSectors()} at 0 and the snapshot constructor refuses it ("Chunk size not set").
 *
 * <p>Thread safety: allocation is a compare-and-set loop; everything else is stateless.
 */
public final class TransientExceptionStore implements ExceptionStore {
    private final BlockDevice cow;
    private final int chunkSectors;
    /** Next free sector (Linux keeps sectors here, not chunks). */
    private final AtomicLong nextFreeSector = new AtomicLong();

    /** @throws IllegalArgumentException when a non-zero {@code chunkSectors} breaks the chunk size rules */
    public TransientExceptionStore(BlockDevice cow, int chunkSectors, int originBlockBytes) {
        if (chunkSectors != 0) {
            String problem = ChunkSize.check(chunkSectors, originBlockBytes, cow.limits().logicalBlockBytes());
            if (problem != null) {
                throw new IllegalArgumentException(problem);
            }
        }
        this.cow = cow;
        this.chunkSectors = chunkSectors;
    }

    @Override
    public int chunkSectors() {
        return chunkSectors;
    }

    @Override
    public LoadResult readMetadata(ExceptionSink sink) {
        return LoadResult.NEW;
    }

    @Override
    public long prepareException() {
        long cowSectors = cow.capacitySectors();
        while (true) {
            long sector = nextFreeSector.get();
            if (cowSectors < sector + chunkSectors) {
                return -1;
            }
            if (nextFreeSector.compareAndSet(sector, sector + chunkSectors)) {
                return sector / chunkSectors;
            }
        }
    }

    @Override
    public void commitException(long oldChunk, long newChunk, boolean valid, CommitCallback callback) {
        // Nothing to write: passes the copy's result through, as Linux does since commit_exception
        // took a "valid" argument (385277bfb57f), so a failed copy still invalidates the snapshot.
        callback.committed(valid);
    }

    @Override
    public boolean supportsMerge() {
        return false;
    }

    @Override
    public MergeRun prepareMerge() {
        throw new UnsupportedOperationException("a transient (N) store cannot be merged");
    }

    @Override
    public void commitMerge(int count) {
        throw new UnsupportedOperationException("a transient (N) store cannot be merged");
    }

    @Override
    public void dropSnapshot() {
        // Nothing on disk to mark.
    }

    @Override
    public Usage usage() {
        return new Usage(cow.capacitySectors(), nextFreeSector.get(), 0);
    }

    @Override
    public String tableArgs() {
        return "N " + chunkSectors;
    }

    @Override
    public boolean userspaceSupportsOverflow() {
        return false;
    }

    @Override
    public void close() {}

    @Override
    public String toString() {
        return "TransientExceptionStore[" + cow.name() + ", chunk " + chunkSectors + ", next free sector "
                + nextFreeSector.get() + "]";
    }
}
