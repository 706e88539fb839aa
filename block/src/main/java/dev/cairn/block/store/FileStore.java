package dev.cairn.block.store;

import dev.cairn.block.Bio;
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
import java.nio.channels.FileChannel;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Objects;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
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
 * slots. The other shared mutable state is what the file system refuses ({@link FileCapabilities}, monotonic)
 * and the count of bios in flight, which {@link #close} waits on.
 *
 * <p>The work is split: this class opens, routes ({@link #submitBio}), answers extent queries and closes;
 * {@link FileIo} makes the system calls and maps errnos; {@link FastPaths} holds the ways around the pool and
 * the one rule they share; {@link FileCapabilities} remembers what the file system refused.
 */
public final class FileStore implements BlockDevice, AutoCloseable {
    private static final System.Logger LOG = System.getLogger(FileStore.class.getName());
    private final Path path;
    private final String name;
    private final FileStoreConfig config;
    private final int fd;
    private final long capacitySectors;
    private final QueueLimits limits;
    private final Arena arena = Arena.ofShared();
    private final ThreadPoolExecutor executor;
    private final boolean privateExecutor;
    /** What the file system allows, learnt as the store goes. */
    private final FileCapabilities caps = FileCapabilities.probe();
    /** The system calls and their errno mapping. */
    private final FileIo io;
    /** The ways a bio is served without the pool, behind one eligibility rule. */
    private final FastPaths fast;
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
    /** Pieces of READs answered by reference ({@link SpliceSink}): for tests. */
    final LongAdder spliced = new LongAdder();
    /** Releases one referenced piece (the count of I/O in flight it held). */
    final Runnable unpin = this::finished;

    private FileStore(Path path, FileStoreConfig config, int fd, long sizeBytes) {
        this.path = path;
        this.name = path.toString();
        this.config = config;
        this.fd = fd;
        this.capacitySectors = sizeBytes >>> Sectors.SECTOR_SHIFT;
        int logical = config.direct() ? FileIo.DIRECT_ALIGN : Sectors.SECTOR_SIZE;
        this.limits = new QueueLimits(logical, 4096, 0, 4096, Long.MAX_VALUE >> 10, Long.MAX_VALUE >> 10, true, true,
                config.readOnly());
        MemorySegment zeros = arena.allocate(FileIo.BOUNCE_BYTES, FileIo.DIRECT_ALIGN); // allocate() zero-fills
        this.io = new FileIo(fd, name, config, limits, capacitySectors, caps, zeros);
        this.fast = new FastPaths(this, io, caps, path, name, fd, config, capacitySectors, arena);
        this.privateExecutor = !config.sharedPool();
        this.executor = privateExecutor
                ? FileIoPool.create("cairn-file-" + path.getFileName() + "-", config.ioThreads(), false)
                : FileIoPool.shared();
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
            int logical = config.direct() ? FileIo.DIRECT_ALIGN : Sectors.SECTOR_SIZE;
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
        return !caps.allows(write ? FileCapabilities.Capability.NOWAIT_WRITE : FileCapabilities.Capability.NOWAIT_READ);
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

    /**
     * Routes the bio: the fast paths ({@link FastPaths}: by reference, an inline attempt, a blocking write,
     * the submitter's own thread) when the one shared rule lets it take them, else the pool.
     */
    @Override
    public void submitBio(Bio bio) {
        inflight.incrementAndGet(); // before the check: close either sees this bio or this bio sees closed
        if (closed) {
            finished();
            bio.complete(BioStatus.ABORTED);
            return;
        }
        if (!fast.plainTransfer(bio)) {
            executeRest(bio, 0);
            return;
        }
        int doneBytes = 0;
        if (fast.spliceable(bio)) {
            doneBytes = fast.splice(bio);
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
        if (fast.nowaitable(bio)) {
            doneBytes = fast.tryInline(bio);
            if (completedInline(bio, doneBytes)) {
                return;
            }
            inlineHandedOver.increment();
        }
        if (doneBytes == 0 && fast.blockingWritable(bio)) {
            doneBytes = fast.blockingWrite(bio);
            if (completedInline(bio, doneBytes)) {
                return;
            }
        }
        if (fast.onSubmitter()) {
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

    /** One bio (or referenced piece) fewer in flight; wakes {@link #close} when it was the last. */
    void finished() {
        if (inflight.decrementAndGet() == 0 && closed) {
            synchronized (drained) {
                drained.notifyAll();
            }
        }
    }

    /** Counts one more bio (or referenced piece) in flight; {@link #finished} counts it out. */
    void pin() {
        inflight.incrementAndGet();
    }

    /** A pool thread's task: the system calls, then the completion, which nothing may prevent. */
    private void run(Bio bio, int skipBytes) {
        BioStatus status;
        try {
            status = io.perform(bio, FileIo.WORKER_SCRATCH.get(), skipBytes);
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
        fast.closeChannels();
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
