package dev.cairn.block.store;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.Extents;
import dev.cairn.block.InlineIo;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.Sectors;
import dev.cairn.block.SpliceSink;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Objects;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.atomic.LongAdder;

/**
 * A block device backed by a regular file or a block device, with positional I/O through the Linux system
 * calls (FFM): {@code preadv}/{@code pwritev} straight from and to the bio's memory, {@code fdatasync},
 * {@code fallocate} and {@code lseek(SEEK_DATA/SEEK_HOLE)}. The capacity is the file's size, which must
 * be a positive multiple of the logical block (512 bytes, or 4096 with {@code direct}).
 *
 * <pre>{@code
 * FileStore.createSparse(path, 1L << 30);
 * try (FileStore disk = FileStore.open(path, FileStoreConfig.defaults())) { ... }
 * }</pre>
 *
 * <h2>Implementation notes</h2>
 * <b>Completion.</b> Small cached I/O may complete on the submitting thread, inside {@link #submitBio}, as it
 * does with {@link MemoryStore} (callers of a {@link BlockDevice} must accept that anyway): a READ, or a WRITE
 * without FUA or PREFLUSH, of at most {@code inlineReadMaxBytes} or {@code inlineWriteMaxBytes} is first tried there with
 * {@code preadv2}/{@code pwritev2(RWF_NOWAIT)}, which the kernel serves from the page cache or refuses with
 * {@code EAGAIN} instead of waiting for the disk (as io_uring's first attempt does). That saves the hand-off
 * to another thread and back, which costs more than a 4 KiB copy. A refusal, or a short transfer (the first
 * pages cached, the rest not), hands the bio (or its rest) to a pool thread; a file system that does not support
 * {@code RWF_NOWAIT} at all ({@code EOPNOTSUPP}) is remembered, per direction, and not asked again (on Linux
 * 6.18, ext4 and tmpfs refuse buffered {@code RWF_NOWAIT} writes). Where writes are refused, a small WRITE
 * without FUA or PREFLUSH from a <em>virtual</em> thread (an NBD connection's reader) is written on that thread
 * through a {@link FileChannel}: the JDK compensates the carrier while such a file call blocks (JEP 444), so a
 * write held up by dirty-page throttling costs that connection time, not the other connections their carrier.
 * A buffered write of a few KiB is a copy into the page cache: measured 9k to 28-37k IOPS at 4 KiB randwrite
 * queue depth 1 through NBD (docs/benchmarks/harness-history.md). A virtual
 * thread keeps its carrier only for the copy: the call never waits for the disk. Not with
 * {@code direct} (an {@code O_DIRECT} read with {@code RWF_NOWAIT} still waits for the disk). Everything else
 * (FLUSH, FUA, PREFLUSH, DISCARD, WRITE_ZEROES, large bios) is queued on the store's executor: by default the
 * process-wide pool every file store shares ({@code FileIoPool}, daemon threads {@code cairn-file-io-<n>}), or,
 * with {@code ioThreads > 0}, a private one ({@code cairn-file-<file>-<n>}); the system calls and the
 * completion run there. Bios may complete in any order, as on any disk.
 *
 * <p><b>Data path.</b> When every piece of a bio is native memory (and, with {@code direct}, 4096-aligned in
 * address and length), the pieces become an {@code iovec} array (up to 1024 per call; 64 for an inline
 * attempt) and the kernel copies straight to or from them. Otherwise the bio goes through the pool thread's
 * 1 MiB bounce buffer, window by window (an inline attempt uses one of the store's few inline scratch buffers
 * of the larger inline limit, allocated on first use and taken and returned without locking; when all are in use the bio goes to the pool): one memcpy, which costs about what the kernel's own copy costs and, unlike a "critical" downcall on
 * heap memory, never holds off the garbage collector while a read waits for the disk. Short transfers are
 * resumed where they stopped; {@code EINTR} and {@code EAGAIN} are retried.
 *
 * <p><b>Splice reads.</b> A READ whose submitter accepts references ({@link SpliceSink}, the NBD server for
 * large reads) and whose whole range is in the page cache ({@code cachestat(2)}, Linux 6.5) is not read at
 * all: the store records "these bytes are at this position of the file" in the sink and completes the bio on
 * the submitting thread. The consumer sends them with {@code sendfile(2)} through a second descriptor of the
 * same open file ({@code /proc/self/fd/N}), so neither the store nor the server copies them. Each piece
 * counts as a bio in flight until the sink releases it, so {@link #close} waits for it. Not with
 * {@code direct}, and not for uncached ranges (those go to the pool, which reads in parallel); where
 * {@code cachestat} or the reopen is refused, reads are always copied.
 *
 * <p><b>Durability.</b> The store has a volatile cache (the page cache, or the disk's own with {@code direct}):
 * FLUSH and PREFLUSH are {@code fdatasync} (which persists the allocation metadata reads depend on, but not
 * timestamps). FUA writes use {@code pwritev2(RWF_DSYNC)} (the kernel syncs just that range); where that is
 * refused, the write is followed by {@code fdatasync}.
 *
 * <p><b>Discard and write-zeroes.</b> DISCARD and WRITE_ZEROES punch a hole
 * ({@code FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE}); WRITE_ZEROES with NOUNMAP uses
 * {@code FALLOC_FL_ZERO_RANGE}. Either way the range reads as zeros afterwards. Where the file system refuses
 * ({@code EOPNOTSUPP}) the store remembers it and writes zeros instead, except for WRITE_ZEROES with
 * FAST_ZERO, which then fails with NOTSUPP at once, as NBD's FAST_ZERO asks.
 *
 * <p><b>Errors.</b> {@code EIO} is IOERR; {@code ENOSPC}, {@code EDQUOT} and {@code EFBIG} are NOSPC;
 * {@code EROFS}, {@code EPERM}, {@code EACCES} and {@code EBADF} are PERM; anything else is IOERR. Each
 * failure is logged once with the file, the operation, the range and the errno. Out-of-range or misaligned
 * bios (which the submitter already refuses) complete with INVALID before any system call.
 *
 * <p>The bio's memory must be accessible from the store's threads (heap, or a global, automatic or shared
 * arena) and stay alive until the bio completes; confined memory fails the bio with IOERR (also when the
 * submitting thread owns it: the inline attempt leaves such a bio to the pool, which refuses it).
 *
 * <p>Linux only (the flags and {@code O_DIRECT} value are Linux's; x86-64, arm64 and ppc64 are handled).
 *
 * <p>Thread safety: {@link #submitBio} and {@link #queryExtents} may be called from any thread at any time,
 * also concurrently with {@link #close}; after close, bios complete with ABORTED on the calling thread and
 * queries answer "all data". Each pool thread has its own iovec array, bounce buffer and errno segment
 * (shared by every store it works for); inline attempts take a scratch from the store's lock-free set of
 * slots. The other shared mutable state is the "the file system refuses X" flags, which are monotonic, and
 * the count of bios in flight, which {@link #close} waits on.
 */
public final class FileStore implements BlockDevice, AutoCloseable {
    private static final System.Logger LOG = System.getLogger(FileStore.class.getName());
    private static final int DIRECT_ALIGN = 4096;
    /** Bounce buffer per worker and zero buffer per store. */
    static final int BOUNCE_BYTES = 1 << 20;
    /** How many copies of the zero buffer one fallback write sends (16 MiB per call). */
    private static final int ZERO_IOVECS = 16;
    private static final ValueLayout.OfLong WORD = ValueLayout.JAVA_LONG;
    private static final long PAGE_BYTES = Posix.pageSizeBytes();
    /** iovecs of an inline attempt's scratch; a bio in more native pieces goes through its bounce buffer. */
    static final int INLINE_IOVECS = 64;
    /**
     * A thread that is no bio's owner: memory accessible by it is accessible by every thread (heap, global,
     * automatic, shared), which is what the pool threads need. Never started.
     */
    private static final Thread ANY_OTHER_THREAD = Thread.ofPlatform().unstarted(() -> {});
    /** A pool thread's scratch, whatever stores it works for; freed (automatic arena) when the thread ends. */
    private static final ThreadLocal<Scratch> WORKER_SCRATCH =
            ThreadLocal.withInitial(() -> new Scratch(Arena.ofAuto(), Posix.IOV_MAX, BOUNCE_BYTES));

    private final Path path;
    private final String name;
    private final FileStoreConfig config;
    private final int fd;
    private final long capacitySectors;
    private final QueueLimits limits;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment zeros;
    private final ThreadPoolExecutor executor;
    private final boolean privateExecutor;
    /** 0 when inline attempts are off (configured so, or {@code direct}). */
    private final int inlineReadMaxBytes;
    private final int inlineWriteMaxBytes;
    /** Idle inline scratch; a slot is null while its scratch is in use or not yet made. */
    private final AtomicReferenceArray<Scratch> inlineIdle;
    private final AtomicInteger inlineMade = new AtomicInteger();
    /** Bios accepted and not yet completed (inline or queued): close waits until none is left. */
    private final AtomicInteger inflight = new AtomicInteger();
    private final Object drained = new Object();
    /** Bios completed inline, and inline attempts handed (in whole or in part) to the pool: for tests. */
    final LongAdder inlineCompleted = new LongAdder();
    final LongAdder inlineHandedOver = new LongAdder();
    /** Bios done on a submitting thread that allowed it ({@link InlineIo}). */
    final LongAdder onSubmitter = new LongAdder();
    /** queryExtents calls using the fd right now: close waits for them so the fd number is not reused under them. */
    private final AtomicInteger queries = new AtomicInteger();
    private volatile boolean closed;
    private volatile boolean punchRefused = !Posix.hasFallocate();
    private volatile boolean zeroRangeRefused = !Posix.hasFallocate();
    private volatile boolean dsyncRefused = !Posix.hasPwritev2();
    private volatile boolean nowaitReadRefused = !Posix.hasPreadv2();
    private volatile boolean nowaitWriteRefused = !Posix.hasPwritev2();
    /** Pieces of READs answered by reference ({@link SpliceSink}): for tests. */
    final LongAdder spliced = new LongAdder();
    /** Releases one referenced piece (the count of I/O in flight it held). */
    private final Runnable unpin = this::finished;
    /** cachestat or the reopen for splice reads failed for good: reads are always copied. */
    private volatile boolean spliceRefused;
    /** Opened on the first referenced read; closed by {@link #close} after every piece was released. */
    private volatile FileChannel spliceChannel;
    /** Opened on the first blocking inline write; closed by {@link #close} after every bio finished. */
    private volatile FileChannel writeChannel;
    /** Guarded by this: opening {@link #writeChannel} failed once; not tried again. */
    private boolean writeChannelFailed;

    /**
     * Native memory for the system calls of one thread at a time: a pool thread's (made on its first bio), or
     * an inline attempt's (taken from the store's slots). The bounce buffer is made on first use: bios in
     * native memory never need it.
     */
    private static final class Scratch {
        final Arena arena;
        final MemorySegment errno;
        final MemorySegment iov;
        final int bounceBytes;
        final InlineFiller filler;
        private MemorySegment bounce;

        Scratch(Arena arena, int iovecs, int bounceBytes) {
            this.arena = arena;
            this.errno = Posix.newErrnoState(arena);
            this.iov = arena.allocate(iovecs * Posix.IOVEC_BYTES, 8);
            this.bounceBytes = bounceBytes;
            this.filler = iovecs == INLINE_IOVECS ? new InlineFiller(this) : null;
        }

        MemorySegment bounce() {
            if (bounce == null) {
                bounce = arena.allocate(bounceBytes, DIRECT_ALIGN);
            }
            return bounce;
        }
    }

    private FileStore(Path path, FileStoreConfig config, int fd, long sizeBytes) {
        this.path = path;
        this.name = path.toString();
        this.config = config;
        this.fd = fd;
        this.capacitySectors = sizeBytes >>> Sectors.SECTOR_SHIFT;
        int logical = config.direct() ? DIRECT_ALIGN : Sectors.SECTOR_SIZE;
        this.limits = new QueueLimits(logical, 4096, 0, 4096, Long.MAX_VALUE >> 10, Long.MAX_VALUE >> 10, true, true,
                config.readOnly());
        this.zeros = arena.allocate(BOUNCE_BYTES, DIRECT_ALIGN); // allocate() zero-fills
        this.privateExecutor = !config.sharedPool();
        this.executor = privateExecutor
                ? FileIoPool.create("cairn-file-" + path.getFileName() + "-", config.ioThreads(), false)
                : FileIoPool.shared();
        this.inlineReadMaxBytes = config.direct() ? 0 : config.inlineReadMaxBytes();
        this.inlineWriteMaxBytes = config.direct() ? 0 : config.inlineWriteMaxBytes();
        // as many as the threads that submit at once, roughly; more attempts than that go to the pool
        this.inlineIdle = new AtomicReferenceArray<>(
                inlineReadMaxBytes == 0 && inlineWriteMaxBytes == 0 ? 0 : FileIoPool.sharedThreads());
    }

    /**
     * Opens {@code path} (a regular file or a block device) as a store.
     *
     * @throws NoSuchFileException   when it does not exist
     * @throws AccessDeniedException when it cannot be opened for the requested access
     * @throws IOException           when it is a directory, its size is not a positive multiple of the logical block,
     *                               {@code direct} is not supported by its file system, or another error occurs
     */
    public static FileStore open(Path path, FileStoreConfig config) throws IOException {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(config, "config");
        if (Files.isDirectory(path)) {
            throw new IOException("file " + path + ": a directory (expected: a regular file or a block device)");
        }
        int fd;
        long size;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment errno = Posix.newErrnoState(a);
            MemorySegment cPath = a.allocateFrom(path.toString());
            int flags = (config.readOnly() ? Posix.O_RDONLY : Posix.O_RDWR) | Posix.O_CLOEXEC
                    | (config.direct() ? Posix.O_DIRECT : 0);
            do {
                fd = Posix.open(errno, cPath, flags, 0);
            } while (fd < 0 && Posix.errno(errno) == Posix.EINTR);
            if (fd < 0) {
                int e = Posix.errno(errno);
                String why = Posix.errnoName(e);
                throw switch (e) {
                    case Posix.ENOENT -> new NoSuchFileException(path.toString());
                    case Posix.EACCES, Posix.EPERM, Posix.EROFS -> new AccessDeniedException(path.toString(), null,
                            why + (config.readOnly() ? "" : " (opened read-write; try read-only)"));
                    case Posix.EINVAL -> new IOException("file " + path + ": open failed with EINVAL"
                            + (config.direct() ? " (expected: a file system that supports O_DIRECT)" : ""));
                    default -> new IOException("file " + path + ": open failed with " + why);
                };
            }
            size = Posix.lseek(errno, fd, 0, Posix.SEEK_END);
            int logical = config.direct() ? DIRECT_ALIGN : Sectors.SECTOR_SIZE;
            String problem = null;
            if (size < 0) {
                problem = "cannot find its size: " + Posix.errnoName(Posix.errno(errno));
            } else if (size == 0 || size % logical != 0) {
                problem = size + " bytes (expected: a positive multiple of " + logical + " bytes"
                        + (config.direct() ? " with direct I/O" : "") + ")";
            }
            if (problem != null) {
                Posix.close(errno, fd);
                throw new IOException("file " + path + ": " + problem);
            }
        }
        return new FileStore(path, config, fd, size);
    }

    /**
     * Creates a new sparse file of {@code sizeBytes} (a positive multiple of 512) at {@code path}: no data
     * block is allocated, the whole file reads as zeros and reports as a hole.
     *
     * @throws java.nio.file.FileAlreadyExistsException when {@code path} exists
     */
    public static void createSparse(Path path, long sizeBytes) throws IOException {
        if (sizeBytes <= 0 || !Sectors.isAligned(sizeBytes)) {
            throw new IllegalArgumentException("sizeBytes: " + sizeBytes + " (expected: a positive multiple of 512)");
        }
        Files.createFile(path);
        try (RandomAccessFile file = new RandomAccessFile(path.toFile(), "rw")) {
            file.setLength(sizeBytes); // ftruncate: extends without allocating
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(path);
            throw e;
        }
    }

    /** The file descriptor, for tests that drop the page cache under the store. */
    int fd() {
        return fd;
    }

    /** Whether the file system refused {@code RWF_NOWAIT} reads / writes (then they all go to the pool). */
    boolean nowaitRefused(boolean write) {
        return write ? nowaitWriteRefused : nowaitReadRefused;
    }

    public Path path() {
        return path;
    }

    public FileStoreConfig config() {
        return config;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public long capacitySectors() {
        return capacitySectors;
    }

    @Override
    public QueueLimits limits() {
        return limits;
    }

    // ---------------------------------------------------------------- submission

    @Override
    public void submitBio(Bio bio) {
        inflight.incrementAndGet(); // before the check: close either sees this bio or this bio sees closed
        if (closed) {
            finished();
            bio.complete(BioStatus.ABORTED);
            return;
        }
        int doneBytes = 0;
        if (spliceEligible(bio)) {
            doneBytes = splice(bio);
            if (doneBytes == bio.sizeBytes()) {
                try {
                    bio.complete(BioStatus.OK);
                } finally {
                    finished(); // the bio's own count; each piece holds one of its own until released
                }
                return;
            }
            if (doneBytes > 0) {
                executeRest(bio, doneBytes); // a piece of the bio in memory the sink does not cover
                return;
            }
        }
        if (inlineEligible(bio)) {
            doneBytes = tryInline(bio);
            if (completedInline(bio, doneBytes)) {
                return;
            }
            inlineHandedOver.increment();
        }
        if (doneBytes == 0 && blockingWriteEligible(bio)) {
            doneBytes = blockingWrite(bio);
            if (completedInline(bio, doneBytes)) {
                return;
            }
        }
        if (onSubmitterEligible(bio)) {
            onSubmitter.increment();
            run(bio, doneBytes); // the pool's own code, on this thread
            return;
        }
        executeRest(bio, doneBytes);
    }

    /** Hands the bio, from byte {@code skipBytes} on, to the pool. */
    private void executeRest(Bio bio, int skipBytes) {
        try {
            executor.execute(() -> run(bio, skipBytes));
        } catch (RejectedExecutionException e) {
            // only a private pool shuts down, and only after every bio completed: not expected
            finished();
            bio.complete(BioStatus.ABORTED);
        }
    }

    // ---------------------------------------------------------------- splice reads

    /** A READ whose submitter accepts references ({@link SpliceSink}), valid, on a buffered store. */
    private boolean spliceEligible(Bio bio) {
        int lengthBytes = bio.sizeBytes();
        return bio.spliceSink() != null && bio.spliceSink().acceptsFileRange(lengthBytes) && bio.op() == BioOp.READ
                && !spliceRefused && !config.direct() && lengthBytes > 0 && (lengthBytes & (Sectors.SECTOR_SIZE - 1)) == 0
                && bio.endSector() <= capacitySectors && bio.hasData();
    }

    /**
     * Answers the READ by reference when all of its range is in the page cache ({@code cachestat}): each piece
     * of the bio's memory is offered to its sink as "these bytes of the file" and pins this store until the
     * sink releases it. Returns the bytes referenced from the start of the bio: all, a prefix (the sink
     * refused a later piece; the pool reads the rest) or none (not all cached, or the sink refused: the bio
     * takes the usual path). A read of uncached data stays with the pool, which reads in parallel and
     * fills the cache, rather than becoming a disk read on the consumer's sending thread.
     */
    private int splice(Bio bio) {
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
                inflight.incrementAndGet(); // before the offer: the sink may release it at once
                if (sink.offer(segment, segmentOffsetBytes, lengthBytes, ch, fileOffsetBytes + bioOffsetBytes, unpin)) {
                    done[0] += lengthBytes;
                    spliced.increment();
                } else {
                    finished();
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
            if (e == Posix.ENOSYS || e == Posix.EOPNOTSUPP || e == Posix.EINVAL || e == Posix.EBADF) {
                spliceRefused = true;
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
            if ((spliceChannel == null || !spliceChannel.isOpen()) && !closed && !spliceRefused) {
                try {
                    // the open file itself, not the path: the same inode even if the path was renamed or replaced
                    spliceChannel = FileChannel.open(Path.of("/proc/self/fd/" + fd), StandardOpenOption.READ);
                } catch (IOException | RuntimeException e) {
                    spliceRefused = true;
                    LOG.log(System.Logger.Level.DEBUG, () -> name + ": cannot reopen for splice reads: " + e);
                }
            }
            return spliceChannel;
        }
    }

    /**
     * A small buffered WRITE without FUA/PREFLUSH from a virtual thread, where the file system refuses
     * {@code RWF_NOWAIT} writes: it is written right here through a {@link FileChannel}, whose positional
     * write the JDK brackets for virtual threads (the carrier is compensated while the call blocks), so a
     * write held up by dirty-page throttling does not take a carrier thread from everyone else. Only when
     * this bio is the store's only one in flight: at queue depth 1 that saves two thread hand-offs per
     * write, while with more in flight the pool's threads write in parallel (a thread that writes inline
     * writes one bio at a time, and under writeback throttling that serialises the connection: measured
     * 32-37k against 46k IOPS for 4k randwrite qd32 over striped files in the full harness run).
     */
    private boolean blockingWriteEligible(Bio bio) {
        int lengthBytes = bio.sizeBytes();
        return bio.op() == BioOp.WRITE && nowaitWriteRefused && inlineWriteMaxBytes > 0 && !config.readOnly()
                && (bio.flags() & (BioFlags.FUA | BioFlags.PREFLUSH)) == 0 && lengthBytes > 0
                && lengthBytes <= inlineWriteMaxBytes && (lengthBytes & (Sectors.SECTOR_SIZE - 1)) == 0
                && bio.endSector() <= capacitySectors && bio.hasData() && Thread.currentThread().isVirtual()
                && inflight.get() == 1;
    }

    /**
     * A READ or WRITE without FUA/PREFLUSH, any size, from a platform thread that asked for its I/O to be
     * done on it ({@link InlineIo}): the pool's work, done without the two hand-offs. Flushes, FUA writes,
     * discards and zeroing still go to the pool (they can take long, and have no streaming client).
     */
    private boolean onSubmitterEligible(Bio bio) {
        return (bio.op() == BioOp.READ || bio.op() == BioOp.WRITE)
                && (bio.flags() & (BioFlags.FUA | BioFlags.PREFLUSH)) == 0 && InlineIo.allowedHere();
    }

    /** The bytes written from the start of the bio; the rest (after an error or a short write) goes to the pool. */
    private int blockingWrite(Bio bio) {
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
            if (writeChannel == null && !closed && !writeChannelFailed) {
                try {
                    writeChannel = FileChannel.open(path, StandardOpenOption.WRITE);
                } catch (IOException | RuntimeException e) {
                    writeChannelFailed = true; // e.g. a device node we may not reopen: the pool does every write
                }
            }
            return writeChannel;
        }
    }

    /** Completes {@code bio} here when all of it was transferred on this thread; false when the pool must finish it. */
    private boolean completedInline(Bio bio, int doneBytes) {
        if (doneBytes != bio.sizeBytes()) {
            return false;
        }
        inlineCompleted.increment();
        try {
            bio.complete(BioStatus.OK);
        } finally {
            finished();
        }
        return true;
    }

    /** Pieces of READs answered so far by reference to the page cache ({@link SpliceSink}): a statistic. */
    public long splicedPieces() {
        return spliced.sum();
    }

    /**
     * Bios in flight now: submitted and not yet counted out, including READ pieces answered by reference and
     * not yet released by their {@link SpliceSink} ({@link #close} waits for them). A bio's end-io runs just
     * before it is counted out, so a caller woken by it may still see it here for a moment.
     */
    public int inFlightBios() {
        return inflight.get();
    }

    /** One bio fewer in flight; wakes {@link #close} when it was the last. */
    private void finished() {
        if (inflight.decrementAndGet() == 0 && closed) {
            synchronized (drained) {
                drained.notifyAll();
            }
        }
    }

    /** A pool thread's task: the system calls, then the completion, which nothing may prevent. */
    private void run(Bio bio, int skipBytes) {
        BioStatus status;
        try {
            status = perform(bio, WORKER_SCRATCH.get(), skipBytes);
        } catch (RuntimeException | Error e) {
            LOG.log(System.Logger.Level.ERROR, () -> name + ": " + bio + " failed unexpectedly", e);
            status = BioStatus.IOERR;
        }
        try {
            bio.complete(status);
        } finally {
            finished();
        }
    }

    // ---------------------------------------------------------------- inline attempts

    /** A READ, or a WRITE without FUA/PREFLUSH, small and valid, that the file system may serve without waiting. */
    private boolean inlineEligible(Bio bio) {
        int lengthBytes = bio.sizeBytes();
        if (lengthBytes == 0 || (lengthBytes & (Sectors.SECTOR_SIZE - 1)) != 0 || bio.endSector() > capacitySectors
                || !bio.hasData()) {
            return false; // invalid bios get their status from the pool
        }
        return switch (bio.op()) {
            case READ -> lengthBytes <= inlineReadMaxBytes && !nowaitReadRefused; // a limit of 0 lands here too
            case WRITE -> lengthBytes <= inlineWriteMaxBytes && !nowaitWriteRefused && !config.readOnly()
                    && (bio.flags() & (BioFlags.FUA | BioFlags.PREFLUSH)) == 0;
            default -> false;
        };
    }

    /** The bytes an inline attempt transferred from the start of the bio (all, some or none); never blocks on the disk. */
    private int tryInline(Bio bio) {
        Scratch s = takeInlineScratch();
        if (s == null) {
            return 0;
        }
        try {
            return nowait(bio, s);
        } catch (RuntimeException e) {
            return 0; // the pool thread does it again and reports whatever went wrong
        } finally {
            releaseInlineScratch(s);
        }
    }

    /** One {@code preadv2}/{@code pwritev2(RWF_NOWAIT)} of the whole bio; the bytes transferred, 0 when refused. */
    private int nowait(Bio bio, Scratch s) {
        boolean write = bio.op() == BioOp.WRITE;
        int lengthBytes = bio.sizeBytes();
        InlineFiller f = s.filler.reset();
        try {
            bio.forEachSegment(f);
        } catch (IOException e) {
            throw new AssertionError("the filler throws none", e);
        }
        if (f.foreign) {
            return 0;
        }
        int count = f.count;
        MemorySegment bounce = null;
        if (f.bounce) {
            bounce = s.bounce();
            if (write) {
                bio.copyTo(0, bounce, 0, lengthBytes);
            }
            s.iov.set(WORD, 0, bounce.address());
            s.iov.set(WORD, 8, lengthBytes);
            count = 1;
        }
        long offsetBytes = Sectors.toBytes(bio.sector());
        long n = write ? Posix.pwritev2(s.errno, fd, s.iov, count, offsetBytes, Posix.RWF_NOWAIT)
                : Posix.preadv2(s.errno, fd, s.iov, count, offsetBytes, Posix.RWF_NOWAIT);
        if (n < 0) {
            int e = Posix.errno(s.errno);
            if (isRefusal(e)) {
                if (write) {
                    nowaitWriteRefused = true;
                } else {
                    nowaitReadRefused = true;
                }
                LOG.log(System.Logger.Level.DEBUG, () -> name + ": the file system refuses RWF_NOWAIT "
                        + (write ? "writes" : "reads") + " (" + Posix.errnoName(e) + "); they all go to the pool");
            }
            return 0; // EAGAIN (not cached, would block), EINTR, or an error the pool thread will meet and report
        }
        if (!write && bounce != null && n > 0) {
            bio.copyFrom(bounce, 0, 0, n);
        }
        return (int) n; // 0 at end of file: the pool thread reports the shrunken file
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
            return new Scratch(arena, INLINE_IOVECS, Math.max(inlineReadMaxBytes, inlineWriteMaxBytes));
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

    /**
     * Collects a bio's pieces into an inline scratch's iovecs; notes memory another thread may not touch
     * ({@code foreign}) and whether the bounce buffer is needed (heap memory, or more than
     * {@link #INLINE_IOVECS} pieces).
     */
    private static final class InlineFiller implements Bio.SegmentVisitor {
        final Scratch s;
        int count;
        boolean bounce;
        boolean foreign;

        InlineFiller(Scratch s) {
            this.s = s;
        }

        InlineFiller reset() {
            count = 0;
            bounce = false;
            foreign = false;
            return this;
        }

        @Override
        public void visit(MemorySegment segment, long segmentOffsetBytes, long lengthBytes, long bioOffsetBytes) {
            if (!segment.isAccessibleBy(ANY_OTHER_THREAD) || !segment.scope().isAlive()) {
                foreign = true;
            } else if (!segment.isNative() || count == INLINE_IOVECS) {
                bounce = true;
            } else if (!bounce) {
                s.iov.set(WORD, count * Posix.IOVEC_BYTES, segment.address() + segmentOffsetBytes);
                s.iov.set(WORD, count * Posix.IOVEC_BYTES + 8, lengthBytes);
                count++;
            }
        }
    }

    // ---------------------------------------------------------------- on a pool thread

    /**
     * Runs {@code bio}'s system calls on a pool thread; the status to complete it with. {@code skipBytes} (of a
     * plain READ or WRITE) were already transferred by an inline attempt.
     */
    private BioStatus perform(Bio bio, Scratch s, int skipBytes) {
        BioOp op = bio.op();
        long offsetBytes = Sectors.toBytes(bio.sector());
        int lengthBytes = bio.sizeBytes();
        if (op == BioOp.FLUSH) {
            return status(sync(s), bio);
        }
        int blockMask = limits.logicalBlockBytes() - 1;
        if ((offsetBytes & blockMask) != 0 || (lengthBytes & blockMask) != 0 || bio.endSector() > capacitySectors
                || (op.hasData() && !bio.hasData())) {
            return BioStatus.INVALID;
        }
        if (op.isWrite() && config.readOnly()) {
            return BioStatus.PERM;
        }
        int e = 0;
        boolean fua = bio.hasFlag(BioFlags.FUA) && op.isWrite();
        if (bio.hasFlag(BioFlags.PREFLUSH)) {
            e = sync(s);
        }
        if (e == 0) {
            switch (op) {
                case READ -> e = transferBio(bio, s, false, false, skipBytes);
                case WRITE -> {
                    e = transferBio(bio, s, true, fua && !dsyncRefused, skipBytes);
                    fua &= dsyncRefused; // written with RWF_DSYNC unless that was (or just got) refused
                }
                case DISCARD -> e = zero(s, offsetBytes, lengthBytes, true, false);
                case WRITE_ZEROES -> e = zero(s, offsetBytes, lengthBytes, !bio.hasFlag(BioFlags.NOUNMAP),
                        bio.hasFlag(BioFlags.FAST_ZERO));
                case FLUSH -> throw new AssertionError("handled above");
            }
        }
        if (e == 0 && fua) {
            e = sync(s);
        }
        return status(e, bio);
    }

    private BioStatus status(int errno, Bio bio) {
        if (errno == 0) {
            return BioStatus.OK;
        }
        BioStatus status = switch (errno) {
            case Posix.EIO -> BioStatus.IOERR;
            case Posix.ENOSPC, Posix.EDQUOT, Posix.EFBIG -> BioStatus.NOSPC;
            case Posix.EROFS, Posix.EPERM, Posix.EACCES, Posix.EBADF -> BioStatus.PERM;
            case Posix.EOPNOTSUPP -> BioStatus.NOTSUPP;
            default -> BioStatus.IOERR;
        };
        if (!(errno == Posix.EOPNOTSUPP && bio.hasFlag(BioFlags.FAST_ZERO))) {
            LOG.log(System.Logger.Level.WARNING, () -> name + ": " + bio + " failed with " + Posix.errnoName(errno)
                    + " -> " + status);
        }
        return status;
    }

    /** READ or WRITE of the bio from byte {@code skipBytes} on; returns 0 or an errno. */
    private int transferBio(Bio bio, Scratch s, boolean write, boolean dsync, int skipBytes) {
        long offsetBytes = Sectors.toBytes(bio.sector());
        int length = bio.sizeBytes();
        if (isZeroCopy(bio)) {
            IovecFiller filler = new IovecFiller(this, s, write, dsync, offsetBytes + skipBytes);
            try {
                bio.forRange(skipBytes, length - skipBytes, filler);
            } catch (IOException e) {
                throw new AssertionError("the filler throws none", e);
            }
            return filler.errno != 0 ? filler.errno : filler.finish();
        }
        MemorySegment bounce = s.bounce();
        for (int done = skipBytes; done < length; ) {
            int n = Math.min(BOUNCE_BYTES, length - done);
            if (write) {
                bio.copyTo(done, bounce, 0, n);
            }
            s.iov.set(WORD, 0, bounce.address());
            s.iov.set(WORD, 8, n);
            int e = transfer(s, write, dsync, offsetBytes + done, 1, n);
            if (e != 0) {
                return e;
            }
            if (!write) {
                bio.copyFrom(bounce, 0, done, n);
            }
            done += n;
        }
        return 0;
    }

    /**
     * True when the kernel can use the bio's memory directly: all native, and aligned for O_DIRECT. Throws when
     * this worker may not touch the memory (a confined or closed arena): the kernel would be handed a bare
     * address that the FFM checks never see.
     */
    private boolean isZeroCopy(Bio bio) {
        boolean[] ok = {true};
        Thread worker = Thread.currentThread();
        try {
            bio.forEachSegment((segment, segmentOffsetBytes, lengthBytes, bioOffsetBytes) -> {
                if (!segment.isAccessibleBy(worker) || !segment.scope().isAlive()) {
                    throw new IllegalStateException("bio memory " + segment + " (expected: accessible from the store's "
                            + "threads: heap, or a global, automatic or shared arena that stays open until completion)");
                }
                if (!segment.isNative() || (config.direct()
                        && (((segment.address() + segmentOffsetBytes) | lengthBytes) & (DIRECT_ALIGN - 1)) != 0)) {
                    ok[0] = false;
                }
            });
        } catch (IOException e) {
            throw new AssertionError("the visitor throws none", e);
        }
        return ok[0];
    }

    /** Collects a bio's pieces into the worker's iovec array, issuing a call each time it is full. */
    private static final class IovecFiller implements Bio.SegmentVisitor {
        final FileStore store;
        final Scratch s;
        final boolean write;
        final boolean dsync;
        long fileOffsetBytes;
        int count;
        long batchBytes;
        int errno;

        IovecFiller(FileStore store, Scratch s, boolean write, boolean dsync, long fileOffsetBytes) {
            this.store = store;
            this.s = s;
            this.write = write;
            this.dsync = dsync;
            this.fileOffsetBytes = fileOffsetBytes;
        }

        @Override
        public void visit(MemorySegment segment, long segmentOffsetBytes, long lengthBytes, long bioOffsetBytes) {
            if (errno != 0) {
                return;
            }
            if (count == Posix.IOV_MAX) {
                errno = finish();
                if (errno != 0) {
                    return;
                }
            }
            s.iov.set(WORD, count * Posix.IOVEC_BYTES, segment.address() + segmentOffsetBytes);
            s.iov.set(WORD, count * Posix.IOVEC_BYTES + 8, lengthBytes);
            count++;
            batchBytes += lengthBytes;
        }

        /** Issues the pending batch; returns 0 or an errno. */
        int finish() {
            if (count == 0) {
                return 0;
            }
            int e = store.transfer(s, write, dsync, fileOffsetBytes, count, batchBytes);
            fileOffsetBytes += batchBytes;
            count = 0;
            batchBytes = 0;
            return e;
        }
    }

    /**
     * One {@code preadv}/{@code pwritev(2)} of {@code count} iovecs ({@code totalBytes}) at {@code fileOffsetBytes},
     * resumed after short transfers and EINTR/EAGAIN; returns 0 or an errno. The iovec array is consumed.
     */
    private int transfer(Scratch s, boolean write, boolean dsync, long fileOffsetBytes, int count, long totalBytes) {
        long done = 0;
        int first = 0;
        while (done < totalBytes) {
            MemorySegment iov = s.iov.asSlice(first * Posix.IOVEC_BYTES);
            long n;
            if (!write) {
                n = Posix.preadv(s.errno, fd, iov, count - first, fileOffsetBytes + done);
            } else if (dsync && !dsyncRefused) {
                n = Posix.pwritev2(s.errno, fd, iov, count - first, fileOffsetBytes + done, Posix.RWF_DSYNC);
                if (n < 0 && isRefusal(Posix.errno(s.errno))) {
                    dsyncRefused = true; // the caller sees the flag and syncs after the write instead
                    continue;
                }
            } else {
                n = Posix.pwritev(s.errno, fd, iov, count - first, fileOffsetBytes + done);
            }
            if (n < 0) {
                int e = Posix.errno(s.errno);
                if (e == Posix.EINTR || e == Posix.EAGAIN) {
                    continue;
                }
                return e;
            }
            if (n == 0) {
                return Posix.EIO; // end of file inside the capacity: the file shrank under us
            }
            done += n;
            while (n > 0) {
                long at = first * Posix.IOVEC_BYTES;
                long len = s.iov.get(WORD, at + 8);
                if (n >= len) {
                    n -= len;
                    first++;
                } else {
                    s.iov.set(WORD, at, s.iov.get(WORD, at) + n);
                    s.iov.set(WORD, at + 8, len - n);
                    n = 0;
                }
            }
        }
        return 0;
    }

    private static boolean isRefusal(int errno) {
        return errno == Posix.EOPNOTSUPP || errno == Posix.ENOSYS;
    }

    /** fdatasync, retried on EINTR; 0 or an errno. */
    private int sync(Scratch s) {
        while (Posix.fdatasync(s.errno, fd) < 0) {
            int e = Posix.errno(s.errno);
            if (e != Posix.EINTR) {
                return e;
            }
        }
        return 0;
    }

    /**
     * Makes {@code [offsetBytes, +lengthBytes)} read as zeros: punch a hole when {@code unmap}, else zero the
     * range in place; where the file system refuses, write zeros (or, with {@code fastOnly}, fail with
     * EOPNOTSUPP). Returns 0 or an errno.
     */
    private int zero(Scratch s, long offsetBytes, long lengthBytes, boolean unmap, boolean fastOnly) {
        if (unmap && !punchRefused) {
            int e = fallocate(s, Posix.FALLOC_FL_PUNCH_HOLE | Posix.FALLOC_FL_KEEP_SIZE, offsetBytes, lengthBytes);
            if (!isRefusal(e)) {
                return e;
            }
            punchRefused = true;
        }
        if (!zeroRangeRefused) {
            int e = fallocate(s, Posix.FALLOC_FL_ZERO_RANGE | Posix.FALLOC_FL_KEEP_SIZE, offsetBytes, lengthBytes);
            if (!isRefusal(e)) {
                return e;
            }
            zeroRangeRefused = true;
        }
        if (fastOnly) {
            return Posix.EOPNOTSUPP;
        }
        return writeZeros(s, offsetBytes, lengthBytes);
    }

    private int fallocate(Scratch s, int mode, long offsetBytes, long lengthBytes) {
        while (Posix.fallocate(s.errno, fd, mode, offsetBytes, lengthBytes) < 0) {
            int e = Posix.errno(s.errno);
            if (e != Posix.EINTR) {
                return e;
            }
        }
        return 0;
    }

    /** The fallback of {@link #zero}: writes from the shared zero buffer, 16 MiB per call. */
    int writeZeros(Scratch s, long offsetBytes, long lengthBytes) {
        for (long done = 0; done < lengthBytes; ) {
            int count = 0;
            long batch = 0;
            while (count < ZERO_IOVECS && done + batch < lengthBytes) {
                long n = Math.min(BOUNCE_BYTES, lengthBytes - done - batch);
                s.iov.set(WORD, count * Posix.IOVEC_BYTES, zeros.address());
                s.iov.set(WORD, count * Posix.IOVEC_BYTES + 8, n);
                count++;
                batch += n;
            }
            int e = transfer(s, true, false, offsetBytes + done, count, batch);
            if (e != 0) {
                return e;
            }
            done += batch;
        }
        return 0;
    }

    // ---------------------------------------------------------------- extents

    /**
     * Holes of the file ({@code lseek SEEK_DATA/SEEK_HOLE}) are HOLE|ZERO, the rest is data. File systems (and
     * block devices) that do not report holes answer "all data". Runs on the calling thread.
     */
    @Override
    public void queryExtents(long sector, long sectors, Extents.Sink sink) {
        if (sectors <= 0) {
            return;
        }
        queries.incrementAndGet();
        try (Arena a = Arena.ofConfined()) {
            if (closed) {
                sink.extent(sectors, 0);
                return;
            }
            MemorySegment errno = Posix.newErrnoState(a);
            long pos = Sectors.toBytes(sector);
            long end = Sectors.toBytes(sector + sectors);
            // Holes are described only inside the file as it is now: a file that shrank under an open store
            // (truncated behind it) fails reads past its end with EIO, so that range must not be called zeros
            // (nbdcopy would write zeros for it and exit 0). It is data: reading it tells the truth.
            long holesEnd = Math.min(end, readableEndBytes(errno));
            while (pos < end) {
                if (pos >= holesEnd) {
                    sink.extent((end - pos) >>> Sectors.SECTOR_SHIFT, 0);
                    return;
                }
                long data = Posix.lseek(errno, fd, pos, Posix.SEEK_DATA);
                if (data < 0) {
                    if (Posix.errno(errno) != Posix.ENXIO) { // ENXIO: no data after pos; else: holes unsupported
                        sink.extent((end - pos) >>> Sectors.SECTOR_SHIFT, 0);
                        return;
                    }
                    // ENXIO also answers a pos at or past the end of a file that shrank since holesEnd was read:
                    // look again, so only what is still inside the file is called a hole.
                    holesEnd = Math.min(holesEnd, readableEndBytes(errno));
                    data = holesEnd;
                }
                data = Math.min(data, holesEnd);
                // Holes are whole file-system blocks, but round inwards anyway: calling a hole data is always safe.
                long holeEnd = Math.min(data, end) & ~(long) (Sectors.SECTOR_SIZE - 1);
                if (holeEnd > pos) {
                    if (!sink.extent((holeEnd - pos) >>> Sectors.SECTOR_SHIFT, Extents.HOLE | Extents.ZERO)) {
                        return;
                    }
                    pos = holeEnd;
                    continue;
                }
                long hole = Posix.lseek(errno, fd, pos, Posix.SEEK_HOLE);
                long dataEnd = hole < 0 ? end : Math.min(end, (hole + Sectors.SECTOR_SIZE - 1) & ~(long) (Sectors.SECTOR_SIZE - 1));
                if (dataEnd <= pos) {
                    dataEnd = pos + Sectors.SECTOR_SIZE; // the file changed between the two calls
                }
                if (!sink.extent((dataEnd - pos) >>> Sectors.SECTOR_SHIFT, 0)) {
                    return;
                }
                pos = dataEnd;
            }
        } finally {
            queries.decrementAndGet();
        }
    }

    /**
     * The end of the whole sectors the file has now ({@code lseek(SEEK_END)}, which pread and pwrite, with
     * their own offsets, do not depend on), or 0 when it cannot be told: then nothing is called a hole.
     */
    private long readableEndBytes(MemorySegment errno) {
        long size = Posix.lseek(errno, fd, 0, Posix.SEEK_END);
        return size < 0 ? 0 : size & ~(long) (Sectors.SECTOR_SIZE - 1);
    }

    // ---------------------------------------------------------------- close

    /**
     * Stops accepting bios, waits for every queued and running one of this store to complete and every piece
     * of a referenced read ({@link SpliceSink}) to be released (other stores on the shared pool go on
     * undisturbed), then closes the file and, with {@code ioThreads > 0}, stops the private
     * pool. Idempotent. Does not flush: the caller sends a FLUSH first if it wants the data durable. Must not be
     * called from an end-io callback of a file store's bio: for this store's own that would wait for itself; for
     * another store's it holds a shared pool thread that this store's queued bios may need.
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        boolean interrupted = false;
        synchronized (drained) {
            while (inflight.get() > 0) {
                try {
                    drained.wait(100); // finished() notifies; the timeout is a safety net only
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (privateExecutor) {
            executor.shutdown();
            while (true) {
                try {
                    if (executor.awaitTermination(1, TimeUnit.SECONDS)) {
                        break;
                    }
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        while (queries.get() > 0) {
            Thread.onSpinWait(); // a query runs a few lseek calls: microseconds
        }
        FileChannel[] channels;
        synchronized (this) {
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
        try (Arena a = Arena.ofConfined()) {
            MemorySegment errno = Posix.newErrnoState(a);
            if (Posix.close(errno, fd) < 0) {
                LOG.log(System.Logger.Level.WARNING, () -> name + ": close failed with " + Posix.errnoName(Posix.errno(errno)));
            }
        }
        arena.close();
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public String toString() {
        return "FileStore[" + name + ", " + Sectors.toBytes(capacitySectors) + " bytes"
                + (config.readOnly() ? ", read-only" : "") + (config.direct() ? ", direct" : "") + "]";
    }
}
