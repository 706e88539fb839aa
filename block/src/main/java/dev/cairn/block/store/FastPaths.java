package dev.cairn.block.store;

import static dev.cairn.block.store.FileIo.ANY_OTHER_THREAD;
import static dev.cairn.block.store.FileIo.WORD;

import com.google.errorprone.annotations.concurrent.GuardedBy;
import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.InlineIo;
import dev.cairn.block.Sectors;
import dev.cairn.block.SpliceSink;
import dev.cairn.block.store.FileCapabilities.Capability;
import dev.cairn.block.store.FileIo.Scratch;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * The ways a {@link FileStore} serves a bio without handing it to its pool, and the one rule they share.
 * Every fast path starts from {@link #plainTransfer}: a READ, or a WRITE on a writable store, without FUA or
 * PREFLUSH, of a positive whole number of sectors inside the device, with data. Anything else (a flush, a FUA
 * write, a discard, an invalid bio, which the pool answers with its status) takes the pool. On top of it:
 * <ul>
 *   <li>{@link #spliceable}: a READ whose sink takes file ranges, answered by reference to the page cache
 *       ({@link #splice});</li>
 *   <li>{@link #nowaitable}: a small READ or WRITE the file system may serve without waiting
 *       ({@code RWF_NOWAIT}, {@link #tryInline});</li>
 *   <li>{@link #blockingWritable}: where {@code RWF_NOWAIT} writes are refused, a small WRITE from a virtual
 *       thread while it is the store's only bio in flight ({@link #blockingWrite});</li>
 *   <li>{@link #onSubmitter}: any plain READ or WRITE from a thread that asked to do its own I/O
 *       ({@link InlineIo}).</li>
 * </ul>
 *
 * <p>Thread safety: any thread may take any path at any time. The inline scratches are taken and returned
 * through a lock-free set of slots; the two extra channels are opened once under this object's monitor and
 * closed by {@link #closeChannels}, after which none opens again; the capabilities are atomic.
 */
final class FastPaths {
    private static final System.Logger LOG = System.getLogger(FileStore.class.getName());
    private static final long PAGE_BYTES = Posix.pageSizeBytes();

    private final FileStore store;
    private final FileIo io;
    private final FileCapabilities caps;
    private final Path path;
    private final String name;
    private final int fd;
    private final FileStoreConfig config;
    private final long capacitySectors;
    private final Arena arena;
    /** 0 when inline attempts are off (configured so, or {@code direct}). */
    private final int inlineReadMaxBytes;
    private final int inlineWriteMaxBytes;
    /** Idle inline scratch; a slot is null while its scratch is in use or not yet made. */
    private final AtomicReferenceArray<Scratch> inlineIdle;
    private final AtomicInteger inlineMade = new AtomicInteger();
    /** Opened on the first referenced read; closed by {@link #closeChannels}. */
    private volatile FileChannel spliceChannel;
    /** Opened on the first blocking inline write; closed by {@link #closeChannels}. */
    private volatile FileChannel writeChannel;
    /** Guarded by this: opening {@link #writeChannel} failed once; not tried again. */
    @GuardedBy("this")
    private boolean writeChannelFailed;
    /** Guarded by this: {@link #closeChannels} ran; no channel opens any more. */
    @GuardedBy("this")
    private boolean channelsClosed;

    FastPaths(FileStore store, FileIo io, FileCapabilities caps, Path path, String name, int fd, FileStoreConfig config,
            long capacitySectors, Arena arena) {
        this.store = store;
        this.io = io;
        this.caps = caps;
        this.path = path;
        this.name = name;
        this.fd = fd;
        this.config = config;
        this.capacitySectors = capacitySectors;
        this.arena = arena;
        this.inlineReadMaxBytes = config.direct() ? 0 : config.inlineReadMaxBytes();
        this.inlineWriteMaxBytes = config.direct() ? 0 : config.inlineWriteMaxBytes();
        // as many as the threads that submit at once, roughly; more attempts than that go to the pool
        this.inlineIdle = new AtomicReferenceArray<>(
                inlineReadMaxBytes == 0 && inlineWriteMaxBytes == 0 ? 0 : FileIoPool.sharedThreads());
    }

    // ---------------------------------------------------------------- the rule

    /**
     * The rule every fast path starts from: a READ, or a WRITE on a writable store, without FUA or PREFLUSH
     * (they can take long, and need the pool's sync), of a positive whole number of sectors inside the
     * device, with data. Invalid bios fail it and get their status from the pool.
     */
    boolean plainTransfer(Bio bio) {
        BioOp op = bio.op();
        int lengthBytes = bio.sizeBytes();
        return (op == BioOp.READ || (op == BioOp.WRITE && !config.readOnly()))
                && (bio.flags() & (BioFlags.FUA | BioFlags.PREFLUSH)) == 0
                && lengthBytes > 0 && (lengthBytes & (Sectors.SECTOR_SIZE - 1)) == 0
                && bio.endSector() <= capacitySectors && bio.hasData();
    }

    /** A plain READ whose submitter accepts references ({@link SpliceSink}) of its length, on a buffered store. */
    boolean spliceable(Bio bio) {
        return bio.op() == BioOp.READ && bio.spliceSink() != null && !config.direct()
                && caps.allows(Capability.SPLICE) && bio.spliceSink().acceptsFileRange(bio.sizeBytes());
    }

    /** A plain READ or WRITE within its inline limit (0 with {@code direct}) whose {@code RWF_NOWAIT} is allowed. */
    boolean nowaitable(Bio bio) {
        return bio.op() == BioOp.READ
                ? bio.sizeBytes() <= inlineReadMaxBytes && caps.allows(Capability.NOWAIT_READ)
                : bio.sizeBytes() <= inlineWriteMaxBytes && caps.allows(Capability.NOWAIT_WRITE);
    }

    /**
     * A small plain WRITE from a virtual thread, where the file system refuses {@code RWF_NOWAIT} writes: it
     * is written right here through a {@link FileChannel}, whose positional write the JDK brackets for
     * virtual threads (the carrier is compensated while the call blocks), so a write held up by dirty-page
     * throttling does not take a carrier thread from everyone else. Only when this bio is the store's only
     * one in flight: at queue depth 1 that saves two thread hand-offs per write, while with more in flight
     * the pool's threads write in parallel (a thread that writes inline writes one bio at a time, and under
     * writeback throttling that serialises the connection: measured 32-37k against 46k IOPS for 4k
     * randwrite qd32 over striped files in the full harness run).
     */
    boolean blockingWritable(Bio bio) {
        return bio.op() == BioOp.WRITE && !caps.allows(Capability.NOWAIT_WRITE) && bio.sizeBytes() <= inlineWriteMaxBytes
                && Thread.currentThread().isVirtual() && store.inFlightBios() == 1;
    }

    /**
     * A plain READ or WRITE, any size, from a platform thread that asked for its I/O to be done on it
     * ({@link InlineIo}): the pool's work, done without the two hand-offs.
     */
    boolean onSubmitter() {
        return InlineIo.allowedHere();
    }

    // ---------------------------------------------------------------- splice reads

    /**
     * Answers the READ by reference when all of its range is in the page cache ({@code cachestat}): each piece
     * of the bio's memory is offered to its sink as "these bytes of the file" and pins this store until the
     * sink releases it. Returns the bytes referenced from the start of the bio: all, a prefix (the sink
     * refused a later piece; the pool reads the rest) or none (not all cached, or the sink refused: the bio
     * takes the usual path). A read of uncached data stays with the pool, which reads in parallel and
     * fills the cache, rather than becoming a disk read on the consumer's sending thread.
     */
    int splice(Bio bio) {
        long fileOffsetBytes = Sectors.toBytes(bio.sector());
        if (!allCached(fileOffsetBytes, bio.sizeBytes())) {
            return 0;
        }
        FileChannel ch = spliceChannel();
        if (ch == null) {
            return 0;
        }
        SpliceSink sink = bio.spliceSink();
        long[] done = {0};
        try {
            bio.forEachSegment((segment, segmentOffsetBytes, lengthBytes, bioOffsetBytes) -> {
                if (done[0] != bioOffsetBytes) {
                    return; // an earlier piece was refused: the pool reads from there on
                }
                store.pin(); // before the offer: the sink may release it at once
                if (sink.offer(segment, segmentOffsetBytes, lengthBytes, ch, fileOffsetBytes + bioOffsetBytes, store.unpin)) {
                    done[0] += lengthBytes;
                    store.spliced.increment();
                } else {
                    store.finished();
                }
            });
        } catch (IOException e) {
            throw new AssertionError("the visitor throws none", e);
        }
        return (int) done[0];
    }

    /** True when every page of the range is in the page cache now; false too when that cannot be told. */
    private boolean allCached(long offsetBytes, int lengthBytes) {
        long firstPage = offsetBytes / PAGE_BYTES;
        long lastPage = (offsetBytes + lengthBytes - 1) / PAGE_BYTES;
        long rc;
        int e;
        long cached;
        try (Arena a = Arena.ofConfined()) { // the bio is in flight: close waits, the fd stays open
            MemorySegment errno = Posix.newErrnoState(a);
            MemorySegment range = a.allocate(Posix.CACHESTAT_RANGE_BYTES, 8);
            MemorySegment stat = a.allocate(Posix.CACHESTAT_BYTES, 8);
            range.set(WORD, 0, offsetBytes);
            range.set(WORD, 8, lengthBytes);
            rc = Posix.cachestat(errno, fd, range, stat);
            e = Posix.errno(errno);
            cached = stat.get(WORD, 0);
        }
        if (rc < 0) {
            if ((e == Posix.ENOSYS || e == Posix.EOPNOTSUPP || e == Posix.EINVAL || e == Posix.EBADF)
                    && caps.refuse(Capability.SPLICE)) {
                LOG.log(System.Logger.Level.DEBUG, () -> name + ": cachestat refused (" + Posix.errnoName(e)
                        + "); reads are copied, never referenced");
            }
            return false;
        }
        return cached >= lastPage - firstPage + 1;
    }

    /** The file again, as a channel for the consumers of referenced reads ({@code sendfile}); null if it cannot be. */
    private FileChannel spliceChannel() {
        FileChannel ch = spliceChannel;
        if (ch != null && ch.isOpen()) {
            return ch;
        }
        synchronized (this) {
            // A FileChannel closes when a thread is interrupted in one of its calls (a consumer's
            // transferTo): open another, so one interrupted sender does not end splice reads for good.
            if ((spliceChannel == null || !spliceChannel.isOpen()) && !channelsClosed && caps.allows(Capability.SPLICE)) {
                try {
                    // the open file itself, not the path: the same inode even if the path was renamed or replaced
                    spliceChannel = FileChannel.open(Path.of("/proc/self/fd/" + fd), StandardOpenOption.READ);
                } catch (IOException | RuntimeException e) {
                    caps.refuse(Capability.SPLICE);
                    LOG.log(System.Logger.Level.DEBUG, () -> name + ": cannot reopen for splice reads: " + e);
                }
            }
            return spliceChannel;
        }
    }

    // ---------------------------------------------------------------- blocking writes

    /** The bytes written from the start of the bio; the rest (after an error or a short write) goes to the pool. */
    int blockingWrite(Bio bio) {
        FileChannel ch = writeChannel();
        if (ch == null) {
            return 0;
        }
        long fileOffsetBytes = Sectors.toBytes(bio.sector());
        long[] done = {0};
        boolean[] foreign = {false};
        try {
            // memory only this thread may touch is refused by the pool (IOERR): the same answer here, nothing written
            bio.forEachSegment((segment, segmentOffsetBytes, lengthBytes, bioOffsetBytes) ->
                    foreign[0] |= !segment.isAccessibleBy(ANY_OTHER_THREAD));
            if (foreign[0]) {
                return 0;
            }
            bio.forEachSegment((segment, segmentOffsetBytes, lengthBytes, bioOffsetBytes) -> {
                if (done[0] != bioOffsetBytes) {
                    return; // an earlier piece was short: the pool does the rest
                }
                ByteBuffer b = segment.asSlice(segmentOffsetBytes, lengthBytes).asByteBuffer();
                while (b.hasRemaining()) {
                    if (ch.write(b, fileOffsetBytes + bioOffsetBytes + b.position()) <= 0) {
                        break;
                    }
                }
                done[0] += b.position();
            });
        } catch (IOException | RuntimeException e) {
            // the pool thread writes the rest again and reports what goes wrong (ENOSPC, EIO, confined memory)
        }
        return (int) done[0];
    }

    private FileChannel writeChannel() {
        FileChannel ch = writeChannel;
        if (ch != null) {
            return ch;
        }
        synchronized (this) {
            if (writeChannel == null && !channelsClosed && !writeChannelFailed) {
                try {
                    writeChannel = FileChannel.open(path, StandardOpenOption.WRITE);
                } catch (IOException | RuntimeException e) {
                    writeChannelFailed = true; // e.g. a device node we may not reopen: the pool does every write
                }
            }
            return writeChannel;
        }
    }

    // ---------------------------------------------------------------- inline attempts

    /** The bytes an inline attempt transferred from the start of the bio (all, some or none); never blocks on the disk. */
    int tryInline(Bio bio) {
        Scratch s = takeInlineScratch();
        if (s == null) {
            return 0;
        }
        try {
            return io.nowait(bio, s);
        } catch (RuntimeException e) {
            return 0; // the pool thread does it again and reports whatever went wrong
        } finally {
            releaseInlineScratch(s);
        }
    }

    /** An idle inline scratch, a new one while fewer than the slots exist, else null (all busy: use the pool). */
    private Scratch takeInlineScratch() {
        for (int i = 0; i < inlineIdle.length(); i++) {
            if (inlineIdle.getPlain(i) != null) {
                Scratch s = inlineIdle.getAndSet(i, null);
                if (s != null) {
                    return s;
                }
            }
        }
        if (inlineMade.incrementAndGet() <= inlineIdle.length()) {
            // the store's arena: freed at close
            return new Scratch(arena, FileIo.INLINE_IOVECS, Math.max(inlineReadMaxBytes, inlineWriteMaxBytes));
        }
        inlineMade.decrementAndGet();
        return null;
    }

    private void releaseInlineScratch(Scratch s) {
        // there are never more scratches than slots, so a free slot exists: the scan ends
        for (int i = 0; ; i = (i + 1) % inlineIdle.length()) {
            if (inlineIdle.getPlain(i) == null && inlineIdle.compareAndSet(i, null, s)) {
                return;
            }
        }
    }

    // ---------------------------------------------------------------- close

    /** Closes the extra channels (after every bio and referenced piece is done); none opens afterwards. */
    void closeChannels() {
        FileChannel[] channels;
        synchronized (this) {
            channelsClosed = true;
            channels = new FileChannel[] {writeChannel, spliceChannel};
            writeChannel = null;
            spliceChannel = null;
        }
        for (FileChannel ch : channels) {
            if (ch != null) {
                try {
                    ch.close();
                } catch (IOException e) {
                    LOG.log(System.Logger.Level.WARNING, () -> name + ": closing a channel of the file failed: " + e);
                }
            }
        }
    }
}
