package dev.cairn.snapshot;

import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.IoMutex;
import dev.cairn.block.Sectors;
import dev.cairn.block.Submitter;
import dev.cairn.dm.copy.CopyEngine;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The persistent exception store ({@code P}, {@code PO}): Linux dm-snapshot's on-disk format,
 * byte for byte (see {@link CowLayout} and {@code docs/formats/cow.md}).
 *
 * <h2>Implementation notes</h2>
 * <b>Allocation</b> ({@code prepare_exception}): the next free chunk, skipping metadata chunks;
 * refused when the chunk would not fit on the COW device.
 *
 * <p><b>Commit</b> ({@code persistent_commit_exception}, the rules that make a crash safe):
 * <ol>
 *   <li>the record goes into the in-memory copy of the current area and the callback is queued;
 *   <li>batching: while other prepared exceptions are still being copied and the area is not full,
 *       nothing is written yet (their commit will write this record too);
 *   <li>when the area is full, the <em>next</em> area is zeroed first (a plain write), so that an
 *       end marker is on disk before the full area is;
 *   <li>the area is written with PREFLUSH + FUA: the preflush orders the data copies (finished
 *       before commit was called) ahead of the record, the FUA makes the record durable;
 *   <li>every queued callback runs with the store's validity (an I/O error invalidates).
 * </ol>
 * An exception is durable only after step 4, and a snapshot bio waiting for it is released only
 * from its callback.
 *
 * <p><b>Invalidation</b> ({@code drop_snapshot}) rewrites the header with {@code valid = 0}, from a
 * separate header buffer so it cannot race with an area write.
 *
 * <p>Thread safety: {@link #prepareException} (under the snapshot's lock) uses atomics;
 * {@link #commitException}, {@link #prepareMerge} and {@link #commitMerge} serialise on an
 * {@link IoMutex} (in practice they come from the one copy worker, as in Linux, where kcopyd
 * calls them); the header has its own mutex; {@link #usage} reads volatile fields.
 */
public final class PersistentExceptionStore implements ExceptionStore {
    private static final System.Logger LOG = System.getLogger(PersistentExceptionStore.class.getName());

    private final Submitter submitter;
    private final BlockDevice cow;
    private final int originBlockBytes;
    private final long originSectors;
    private final boolean overflowSupported;
    private final IoMutex commitLock;
    private final IoMutex headerLock;

    private volatile int chunkSectors;
    private int exceptionsPerArea;
    /** The current area in memory; @GuardedBy("commitLock"). */
    private MemorySegment area;
    private MemorySegment zeroArea;
    /** @GuardedBy("headerLock"). */
    private MemorySegment headerArea;

    private volatile long currentArea;
    /** Index of the next free record in the current area; @GuardedBy("commitLock"). */
    private int currentCommitted;
    private final AtomicLong nextFree = new AtomicLong(CowLayout.FIRST_DATA_CHUNK);
    /** Prepared exceptions not committed yet. */
    private final AtomicInteger pendingCount = new AtomicInteger();
    /** @GuardedBy("commitLock"). */
    private final List<CommitCallback> callbacks = new ArrayList<>();
    private volatile boolean valid = true;
    private long loadedExceptions;
    private volatile boolean loaded;

    /**
     * @param chunkSectors      from the table; 0 means the default for a new store, or the header's
     * @param overflowSupported {@code PO}: userspace understands "Overflow"
     * @param originBlockBytes  the origin's logical block size, which the chunk size must be a multiple of
     * @param originSectors     the origin's capacity: every loaded record's old chunk must lie inside it
     * @throws IllegalArgumentException when {@code chunkSectors} breaks the chunk size rules
     */
    public PersistentExceptionStore(Submitter submitter, BlockDevice cow, int chunkSectors, boolean overflowSupported,
            int originBlockBytes, long originSectors) {
        this.submitter = submitter;
        this.cow = cow;
        this.originBlockBytes = originBlockBytes;
        this.originSectors = originSectors;
        this.overflowSupported = overflowSupported;
        if (chunkSectors != 0) {
            String problem = ChunkSize.check(chunkSectors, originBlockBytes, cow.limits().logicalBlockBytes());
            if (problem != null) {
                throw new IllegalArgumentException(problem);
            }
        }
        this.chunkSectors = chunkSectors;
        this.commitLock = new IoMutex(submitter, "snapshot-store-commit " + cow.name());
        this.headerLock = new IoMutex(submitter, "snapshot-store-header " + cow.name());
    }

    @Override
    public int chunkSectors() {
        return chunkSectors;
    }

    /** Records per metadata area; valid after {@link #readMetadata}. */
    public int exceptionsPerArea() {
        return exceptionsPerArea;
    }

    /** How many exceptions {@link #readMetadata} loaded. */
    public long loadedExceptions() {
        return loadedExceptions;
    }

    /** False once the store was invalidated, in memory or on disk. */
    public boolean isValid() {
        return valid;
    }

    // ---------------------------------------------------------------- loading

    @Override
    public LoadResult readMetadata(ExceptionSink sink) throws IOException {
        if (loaded) {
            throw new IllegalStateException("readMetadata: called twice on " + cow.name());
        }
        loaded = true;
        int cowBlockBytes = cow.limits().logicalBlockBytes();
        boolean supplied = chunkSectors != 0;
        if (!supplied) {
            chunkSectors = ChunkSize.defaultFor(cowBlockBytes);
        }
        allocateAreas();
        headerLock.lock();
        try {
            chunkIo(BioOp.READ, 0, 0, headerArea);
            int magic = CowLayout.headerMagic(headerArea);
            if (magic == 0) {
                return initialiseNew();
            }
            if (magic != CowLayout.MAGIC) {
                throw new CowFormatException(cow.name() + ": magic: " + CowLayout.describeMagic(magic)
                        + " (expected: " + CowLayout.describeMagic(CowLayout.MAGIC) + " \"SnAp\", or 0 for a new store)"
                        + ": invalid or corrupt snapshot");
            }
            valid = CowLayout.headerValid(headerArea) != 0;
            int version = CowLayout.headerVersion(headerArea);
            int headerChunkSectors = CowLayout.headerChunkSectors(headerArea);
            if (headerChunkSectors != chunkSectors) {
                String problem = ChunkSize.check(Integer.toUnsignedLong(headerChunkSectors), originBlockBytes, cowBlockBytes);
                if (problem != null) {
                    throw new CowFormatException(cow.name() + ": header " + problem);
                }
                if (supplied) {
                    LOG.log(System.Logger.Level.WARNING, "{0}: chunk size {1} in the COW header overrides the table''s {2}",
                            cow.name(), headerChunkSectors, chunkSectors);
                }
                chunkSectors = headerChunkSectors;
                allocateAreas();
            }
            if (version != CowLayout.DISK_VERSION) {
                throw new CowFormatException(cow.name() + ": version: " + Integer.toUnsignedString(version)
                        + " (expected: " + CowLayout.DISK_VERSION + "): unsupported snapshot disk version");
            }
        } finally {
            headerLock.unlock();
        }
        if (!valid) {
            return LoadResult.INVALID;
        }
        readExceptions(sink);
        return LoadResult.LOADED;
    }

    private void allocateAreas() {
        int bytes = Math.toIntExact(Sectors.toBytes(chunkSectors));
        exceptionsPerArea = CowLayout.exceptionsPerArea(chunkSectors);
        // Native, page-aligned: a file store reads and writes them in place (a heap buffer would go
        // through its bounce buffer on every commit). An automatic arena, not one closed in close():
        // after a shutdown a metadata bio may still be in flight when the store is closed.
        Arena arena = Arena.ofAuto();
        area = arena.allocate(bytes, CopyEngine.BUFFER_ALIGN_BYTES);
        zeroArea = arena.allocate(bytes, CopyEngine.BUFFER_ALIGN_BYTES);
        headerArea = arena.allocate(bytes, CopyEngine.BUFFER_ALIGN_BYTES);
    }

    /** A new store: the header (valid), then zeros over area 0 so that it ends the table at once. */
    private LoadResult initialiseNew() throws IOException {
        CowLayout.writeHeader(headerArea, true, chunkSectors);
        chunkIo(BioOp.WRITE, 0, 0, headerArea);
        currentArea = 0;
        area.fill((byte) 0);
        chunkIo(BioOp.WRITE, 0, areaChunk(0), zeroArea);
        return LoadResult.NEW;
    }

    /**
     * Scans area after area until one is not full; that one stays in memory as the current area. Every
     * record is checked as it is read and the whole table before this returns ({@link ExceptionRecordCheck}):
     * a corrupt record fails the load (the caller drops what the sink got), so the snapshot is refused,
     * never served.
     */
    private void readExceptions(ExceptionSink sink) throws IOException {
        long next = CowLayout.FIRST_DATA_CHUNK;
        long count = 0;
        ExceptionRecordCheck check = new ExceptionRecordCheck(cow.name(), cow.capacitySectors(), originSectors,
                chunkSectors, exceptionsPerArea);
        for (long a = 0; ; a++) {
            if ((areaChunk(a) + 1) * chunkSectors > cow.capacitySectors()) {
                // Every area so far was full and the next would lie past the COW's end: the table has no end.
                throw new CowFormatException(cow.name() + ": metadata area " + a + " at chunk " + areaChunk(a)
                        + " (expected: an area inside the COW's " + cow.capacitySectors() / chunkSectors
                        + " chunks; the last area is full, so the exception table has no end marker)");
            }
            chunkIo(BioOp.READ, 0, areaChunk(a), area);
            int i = 0;
            for (; i < exceptionsPerArea; i++) {
                long newChunk = CowLayout.recordNewChunk(area, i);
                if (newChunk == 0) {
                    break;
                }
                long oldChunk = CowLayout.recordOldChunk(area, i);
                check.check(a, i, oldChunk, newChunk);
                if (Long.compareUnsigned(newChunk, next) >= 0) {
                    next = newChunk + 1;
                }
                sink.exception(oldChunk, newChunk);
                count++;
            }
            if (i < exceptionsPerArea) {
                currentArea = a;
                currentCommitted = i;
                break;
            }
        }
        check.finish();
        nextFree.set(CowLayout.skipMetadata(next, exceptionsPerArea));
        loadedExceptions = count;
    }

    // ---------------------------------------------------------------- exceptions

    @Override
    public long prepareException() {
        long cowSectors = cow.capacitySectors();
        while (true) {
            long chunk = nextFree.get();
            if (cowSectors < (chunk + 1) * chunkSectors) {
                return -1;
            }
            long after = CowLayout.skipMetadata(chunk + 1, exceptionsPerArea);
            if (nextFree.compareAndSet(chunk, after)) {
                pendingCount.incrementAndGet();
                return chunk;
            }
        }
    }

    @Override
    public void commitException(long oldChunk, long newChunk, boolean copyValid, CommitCallback callback) {
        List<CommitCallback> toRun;
        boolean result;
        commitLock.lock();
        try {
            if (!copyValid) {
                valid = false;
            }
            CowLayout.writeRecord(area, currentCommitted++, oldChunk, newChunk);
            callbacks.add(callback);
            boolean full = currentCommitted == exceptionsPerArea;
            if (pendingCount.decrementAndGet() != 0 && !full) {
                return;
            }
            if (full && !tryIo(BioOp.WRITE, 0, areaChunk(currentArea + 1), zeroArea)) {
                valid = false;
            }
            if (valid && !tryIo(BioOp.WRITE, BioFlags.PREFLUSH | BioFlags.FUA | BioFlags.SYNC, areaChunk(currentArea), area)) {
                valid = false;
            }
            if (full) {
                currentCommitted = 0;
                currentArea = currentArea + 1;
                area.fill((byte) 0);
            }
            result = valid;
            toRun = new ArrayList<>(callbacks);
            callbacks.clear();
        } finally {
            commitLock.unlock();
        }
        // Outside the lock: a callback (pendingComplete) takes the snapshot's lock and may wait.
        for (CommitCallback cb : toRun) {
            cb.committed(result);
        }
    }

    // ---------------------------------------------------------------- merge

    @Override
    public boolean supportsMerge() {
        return true;
    }

    @Override
    public MergeRun prepareMerge() throws IOException {
        commitLock.lock();
        try {
            if (currentCommitted == 0) {
                if (currentArea == 0) {
                    return null;
                }
                currentArea = currentArea - 1;
                chunkIo(BioOp.READ, 0, areaChunk(currentArea), area);
                currentCommitted = exceptionsPerArea;
            }
            long lastOld = CowLayout.recordOldChunk(area, currentCommitted - 1);
            long lastNew = CowLayout.recordNewChunk(area, currentCommitted - 1);
            int n = 1;
            for (; n < currentCommitted; n++) {
                int i = currentCommitted - 1 - n;
                if (CowLayout.recordOldChunk(area, i) != lastOld - n || CowLayout.recordNewChunk(area, i) != lastNew - n) {
                    break;
                }
            }
            return new MergeRun(lastOld, lastNew, n);
        } finally {
            commitLock.unlock();
        }
    }

    @Override
    public void commitMerge(int count) throws IOException {
        commitLock.lock();
        try {
            if (count < 1 || count > currentCommitted) {
                throw new IllegalArgumentException("count: " + count + " (expected: in [1, " + currentCommitted + "])");
            }
            for (int i = 0; i < count; i++) {
                CowLayout.writeRecord(area, currentCommitted - 1 - i, 0, 0);
            }
            chunkIo(BioOp.WRITE, BioFlags.PREFLUSH | BioFlags.FUA, areaChunk(currentArea), area);
            currentCommitted -= count;
            // As Linux: once merging, next_free is what it would be had every exception been
            // committed in allocation order; only the status line uses it.
            nextFree.set(CowLayout.areaLocation(currentArea, exceptionsPerArea) + currentCommitted + 1);
        } finally {
            commitLock.unlock();
        }
    }

    // ---------------------------------------------------------------- invalidation, status

    @Override
    public void dropSnapshot() {
        valid = false;
        headerLock.lock();
        try {
            CowLayout.writeHeader(headerArea, false, chunkSectors);
            chunkIo(BioOp.WRITE, 0, 0, headerArea);
        } catch (IOException e) {
            LOG.log(System.Logger.Level.WARNING, cow.name() + ": writing the invalidated header failed", e);
        } finally {
            headerLock.unlock();
        }
    }

    @Override
    public Usage usage() {
        long chunk = chunkSectors;
        return new Usage(cow.capacitySectors(), nextFree.get() * chunk,
                (currentArea + 1 + CowLayout.HEADER_CHUNKS) * chunk);
    }

    @Override
    public String tableArgs() {
        return (overflowSupported ? "PO " : "P ") + chunkSectors;
    }

    @Override
    public boolean userspaceSupportsOverflow() {
        return overflowSupported;
    }

    /** The metadata area now in memory (for status and the COW inspector). */
    long currentArea() {
        return currentArea;
    }

    long nextFreeChunk() {
        return nextFree.get();
    }

    @Override
    public void close() {
        // Nothing to release: the buffers' arena is freed by the GC once no bio can reach them.
    }

    // ---------------------------------------------------------------- I/O

    private long areaChunk(long a) {
        return CowLayout.areaLocation(a, exceptionsPerArea);
    }

    private void chunkIo(BioOp op, int flags, long chunk, MemorySegment buffer) throws IOException {
        ChunkIo.io(submitter, cow, op, flags, chunk * chunkSectors, buffer);
    }

    private boolean tryIo(BioOp op, int flags, long chunk, MemorySegment buffer) {
        try {
            chunkIo(op, flags, chunk, buffer);
            return true;
        } catch (IOException e) {
            LOG.log(System.Logger.Level.ERROR, cow.name() + ": metadata " + op + " failed; invalidating the snapshot", e);
            return false;
        }
    }

    @Override
    public String toString() {
        return "PersistentExceptionStore[" + cow.name() + ", chunk " + chunkSectors + ", area " + currentArea
                + ", next free " + nextFree.get() + (valid ? "" : ", invalid") + "]";
    }
}
