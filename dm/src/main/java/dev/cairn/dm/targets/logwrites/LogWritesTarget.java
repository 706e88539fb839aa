package dev.cairn.dm.targets.logwrites;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.Extents;
import dev.cairn.block.IoCompletion;
import dev.cairn.block.IoMutex;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.Submitter;
import dev.cairn.dm.DeviceRef;
import dev.cairn.dm.DmException;
import dev.cairn.dm.EndIoResult;
import dev.cairn.dm.MapResult;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetContext;
import dev.cairn.dm.TargetIo;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.LockSupport;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The log-writes target (Linux {@code dm-log-writes.c}, 1.1.0): I/O goes to the data device unchanged (same
 * sectors), and every write is appended to the log device in the {@link LogWritesFormat} layout, in the
 * order it became durable. The ordering rules are the kernel's:
 *
 * <ul>
 *   <li>a write's data is copied at map time (the caller may reuse its buffer) and, when the write
 *       completes, it joins the <em>unflushed</em> list: it is not logged yet;</li>
 *   <li>a FLUSH takes the unflushed list <em>at map time</em> (only writes already completed then); when
 *       the flush completes those writes are logged in completion order, then the FLUSH entry;</li>
 *   <li>a FUA write skips the list: it is logged when it completes, and the super block is rewritten;</li>
 *   <li>a DISCARD is treated as a write (joins the unflushed list when it completes), so "write then
 *       discard" keeps its order; when the data device cannot discard, the target still accepts discards,
 *       completes them at once and logs them;</li>
 *   <li>{@code message 0 mark <text>} queues a MARK entry (and a super block update);</li>
 *   <li>{@link #close()} (device removed or table replaced) logs the unflushed writes, then the mark
 *       {@code dm-log-writes-end}, and rewrites the super block.</li>
 * </ul>
 * As in the kernel, a write is logged whether it succeeded or not, and running out of log space or a
 * log write error turns logging off for the rest of the table's life (status {@code logging_disabled}),
 * while I/O to the data device goes on.
 *
 * <p>Deviations, each to make the log more useful and none visible to a reader of the format: the super
 * block (0 entries) is written when the table is built, so a new log is valid before its first FUA; each
 * super block update is written after a FLUSH of the log device and with FUA, so the entries it counts
 * are durable; the target advertises a write cache with FUA (a device that drops flushes could never
 * record an order) and no WRITE_ZEROES (as Linux, whose log-writes sets no {@code num_write_zeroes_bios}:
 * callers write zeroes as data, which the log records).
 *
 * <p>Status: INFO is {@code <#logged entries> <highest allocated sector>} (512-byte sectors of the log
 * device) plus {@code logging_disabled} when off; TABLE is {@code <dev> <log dev>}.
 *
 * <p>Thread safety: {@code map} and {@code endIo} run concurrently on any thread and touch the lists only
 * under {@link #lock}, for a few list operations. One logger thread (a platform thread, outside any
 * submission, so its idle park needs no before-block hook) takes the entries off the logging list (up to
 * {@link #BATCH_MAX_BYTES}, and never past a FUA or mark, whose super block update must follow it) and
 * writes them with one {@link IoCompletion#submitAndWait} from a native buffer it owns, outside the lock.
 */
final class LogWritesTarget implements Target {
    private static final Logger LOG = Logger.getLogger(LogWritesTarget.class.getName());

    /**
     * Most bytes of consecutive entries the logger writes to the log device at once. A flush releases all the
     * writes it held together; writing them as one I/O instead of one per entry saves a thread handoff and a
     * system call per logged write (docs/benchmarks/log-writes.md). An entry larger than this is written alone.
     */
    static final int BATCH_MAX_BYTES = 1 << 20;

    /** One write, flush, discard or mark on its way to the log (Linux {@code struct pending_block}). */
    private static final class PendingBlock {
        final long sector;
        final long nrSectors;
        final long flags;
        /** Header block plus data blocks; the header is filled in by the logger. */
        final MemorySegment buffer;
        final byte[] mark;
        /** A flush: the writes it took from the unflushed list when it was mapped. */
        List<PendingBlock> held = List.of();

        PendingBlock(long sector, long nrSectors, long flags, MemorySegment buffer, byte[] mark) {
            this.sector = sector;
            this.nrSectors = nrSectors;
            this.flags = flags;
            this.buffer = buffer;
            this.mark = mark;
        }
    }

    private final TargetContext ctx;
    private final LogWritesConfig config;
    private final DeviceRef dev;
    private final DeviceRef logDev;
    private final Submitter submitter;
    private final int sectorsize;
    /** {@code log2(sectorsize / 512)}: bio sectors to log units. */
    private final int unitShift;
    private final boolean deviceSupportsDiscard;
    /** The log device's capacity in 512-byte sectors (Linux {@code end_sector}). */
    private final long endSector;
    private final IoMutex lock;

    // guarded by lock
    private final ArrayList<PendingBlock> unflushed = new ArrayList<>();
    private final ArrayDeque<PendingBlock> logging = new ArrayDeque<>();
    private long loggedEntries;
    /** Next free 512-byte sector of the log device. */
    private long nextSector;
    private boolean stopping;
    /** Read without the lock in map (a stale true only logs one more block, as in the kernel). */
    private volatile boolean loggingEnabled = true;

    /** Set by {@link #start} before the table is published (happens-before: the table's publication). */
    private Thread logger;
    /** Releases the log device for other tables; run once the log is complete. */
    private final Runnable release;

    LogWritesTarget(TargetContext ctx, LogWritesConfig config, DeviceRef dev, DeviceRef logDev, Runnable release) {
        this.ctx = ctx;
        this.config = config;
        this.dev = dev;
        this.logDev = logDev;
        this.submitter = ctx.submitter();
        this.sectorsize = dev.device().limits().logicalBlockBytes();
        this.unitShift = Integer.numberOfTrailingZeros(sectorsize) - 9;
        this.deviceSupportsDiscard = dev.device().limits().supportsDiscard();
        this.endSector = logDev.capacitySectors();
        this.nextSector = sectorsize >>> 9;
        this.lock = new IoMutex(submitter, "log-writes " + ctx);
        this.release = release;
    }

    /** Writes the super block with 0 entries; called once by the constructor's caller, before {@link #start}. */
    void writeInitialSuper() throws IOException {
        if (Submitter.inSubmission()) {
            throw new IOException("a table cannot be built inside a bio submission");
        }
        writeSuper(0);
    }

    void start() {
        logger = Thread.ofPlatform().daemon().name("cairn-log-writes-" + ctx.deviceName() + "-" + ctx.lineNumber())
                .start(this::logLoop);
    }

    private long toUnits(long bioSectors) {
        return bioSectors >>> unitShift;
    }

    @Override
    public MapResult map(Bio clone) {
        clone.setDevice(dev.device());
        BioOp op = clone.op();
        if (op == BioOp.READ) {
            return MapResult.REMAPPED;
        }
        if (!loggingEnabled) {
            if (op == BioOp.DISCARD && !deviceSupportsDiscard) {
                // Still advertised (the limits do not change with logging): accepted and dropped, as when logging.
                clone.complete(BioStatus.OK);
                return MapResult.SUBMITTED;
            }
            return MapResult.REMAPPED;
        }
        boolean flush = op == BioOp.FLUSH || clone.hasFlag(BioFlags.PREFLUSH);
        if (clone.sectors() == 0 && !flush) {
            return MapResult.REMAPPED;
        }
        long flags = (flush ? LogWritesFormat.FLAG_FLUSH : 0) | (clone.hasFlag(BioFlags.FUA) ? LogWritesFormat.FLAG_FUA : 0);
        long sector = toUnits(clone.sector());
        long units = toUnits(clone.sectors());
        if (op == BioOp.DISCARD) {
            PendingBlock b = new PendingBlock(sector, units, flags | LogWritesFormat.FLAG_DISCARD, null, null);
            TargetIo.of(clone).setData(b);
            if (deviceSupportsDiscard) {
                return MapResult.REMAPPED;
            }
            clone.complete(BioStatus.OK);
            return MapResult.SUBMITTED;
        }
        MemorySegment buffer;
        if (op == BioOp.FLUSH) {
            buffer = null;
        } else {
            // Copied now: the writer may reuse its buffer once the write completes, long before it is logged.
            buffer = MemorySegment.ofArray(new byte[(int) ((units + 1) * sectorsize)]);
            if (op == BioOp.WRITE) {
                clone.copyTo(0, buffer, sectorsize, clone.sizeBytes());
            }
            // WRITE_ZEROES is not advertised; should one arrive anyway, it is logged as the zeroes it writes.
        }
        PendingBlock b = new PendingBlock(sector, op == BioOp.FLUSH ? 0 : units, flags, buffer, null);
        if (flush) {
            lock.lock();
            try {
                b.held = new ArrayList<>(unflushed);
                unflushed.clear();
            } finally {
                lock.unlock();
            }
        }
        TargetIo.of(clone).setData(b);
        return MapResult.REMAPPED;
    }

    @Override
    public EndIoResult endIo(Bio clone, BioStatus status) {
        PendingBlock b = clone.op() == BioOp.READ ? null : TargetIo.of(clone).data();
        if (b != null) {
            boolean wake;
            lock.lock();
            try {
                if ((b.flags & LogWritesFormat.FLAG_FLUSH) != 0) {
                    logging.addAll(b.held);
                    b.held = List.of();
                    logging.addLast(b);
                    wake = true;
                } else if ((b.flags & LogWritesFormat.FLAG_FUA) != 0) {
                    logging.addLast(b);
                    wake = true;
                } else {
                    unflushed.add(b);
                    wake = false;
                }
            } finally {
                lock.unlock();
            }
            if (wake) {
                LockSupport.unpark(logger);
            }
        }
        return EndIoResult.done(status);
    }

    /** Queues a MARK entry (Linux {@code log_mark}); returns before it is written. */
    private void mark(String text) {
        PendingBlock b = new PendingBlock(0, 0, LogWritesFormat.FLAG_MARK, null,
                LogWritesFormat.markBytes(text, sectorsize));
        lock.lock();
        try {
            logging.addLast(b);
        } finally {
            lock.unlock();
        }
        LockSupport.unpark(logger);
    }

    @Override
    public String message(String... args) throws DmException {
        if (args.length != 2) {
            throw new DmException("Invalid log-writes message arguments, expect 2 arguments, got " + args.length);
        }
        if (!args[0].equalsIgnoreCase("mark")) {
            throw new DmException("Unrecognised log writes target message received: " + args[0]);
        }
        mark(args[1]);
        return "";
    }

    /** The logger thread (Linux {@code log_writes_kthread}), one batch of consecutive entries per pass. */
    private void logLoop() {
        ArrayList<PendingBlock> batch = new ArrayList<>();
        try (Arena arena = Arena.ofShared()) {
            MemorySegment batchBuffer = null;
            while (true) {
                batch.clear();
                long firstSector = 0;
                long batchBytes = 0;
                long superEntries = -1;
                lock.lock();
                try {
                    if (logging.isEmpty() && stopping) {
                        return;
                    }
                    while (loggingEnabled && !logging.isEmpty()) {
                        PendingBlock b = logging.peekFirst();
                        long bytes = entryBytes(b);
                        if (!batch.isEmpty() && batchBytes + bytes > BATCH_MAX_BYTES) {
                            break;
                        }
                        logging.pollFirst();
                        long sector = nextSector;
                        if ((b.flags & LogWritesFormat.FLAG_DISCARD) == 0) {
                            nextSector += b.nrSectors << unitShift;
                        }
                        nextSector += 1L << unitShift;
                        if (nextSector >= endSector) {
                            LOG.warning(ctx + ": Ran out of space on the logdev; logging disabled");
                            loggingEnabled = false;
                            break;
                        }
                        loggedEntries++;
                        if (batch.isEmpty()) {
                            firstSector = sector;
                        }
                        batch.add(b);
                        batchBytes += bytes;
                        if ((b.flags & (LogWritesFormat.FLAG_FUA | LogWritesFormat.FLAG_MARK)) != 0) {
                            // The super block must count this entry before anything after it is written.
                            superEntries = loggedEntries;
                            break;
                        }
                    }
                    if (!loggingEnabled) {
                        logging.clear(); // as the kernel: once disabled, entries are dropped unlogged
                        if (batch.isEmpty() && stopping) {
                            return;
                        }
                    }
                } finally {
                    lock.unlock();
                }
                if (batch.isEmpty()) {
                    LockSupport.park(this);
                    continue;
                }
                try {
                    if (batchBytes > BATCH_MAX_BYTES) {
                        writeAlone(batch.getFirst(), firstSector);
                    } else {
                        if (batchBuffer == null) {
                            batchBuffer = arena.allocate(BATCH_MAX_BYTES, 4096);
                        }
                        writeBatch(batch, batchBuffer.asSlice(0, batchBytes), firstSector);
                    }
                    if (superEntries >= 0) {
                        flushLog();
                        writeSuper(superEntries);
                    }
                } catch (IOException | RuntimeException e) {
                    LOG.log(Level.WARNING, ctx + ": log write failed; logging disabled", e);
                    loggingEnabled = false;
                }
            }
        }
    }

    /** Header block plus data blocks of {@code b} in the log. */
    private long entryBytes(PendingBlock b) {
        return b.buffer != null ? b.buffer.byteSize() : sectorsize;
    }

    /**
     * Writes consecutive entries with one log-device write from {@code dst} (native memory the logger owns,
     * reused for every batch: the write is waited for): one I/O and one thread handoff per batch instead of
     * one per entry, and a file store writes native memory with a single {@code pwritev}.
     */
    private void writeBatch(List<PendingBlock> batch, MemorySegment dst, long sector) throws IOException {
        long at = 0;
        for (PendingBlock b : batch) {
            MemorySegment header = dst.asSlice(at, sectorsize);
            if (b.buffer != null) {
                // Its header block is still zero (map copied the data after it); the header goes in below.
                MemorySegment.copy(b.buffer, 0, dst, at, b.buffer.byteSize());
            } else {
                header.fill((byte) 0);
            }
            LogWritesFormat.encodeEntry(header, b.sector, b.nrSectors, b.flags, b.mark);
            at += entryBytes(b);
        }
        io(BioOp.WRITE, 0, sector, dst);
    }

    /** An entry larger than a batch: written from its own buffer. */
    private void writeAlone(PendingBlock b, long sector) throws IOException {
        MemorySegment buf = b.buffer != null ? b.buffer : MemorySegment.ofArray(new byte[sectorsize]);
        LogWritesFormat.encodeEntry(buf, b.sector, b.nrSectors, b.flags, b.mark);
        io(BioOp.WRITE, 0, sector, buf);
    }

    private void writeSuper(long entries) throws IOException {
        MemorySegment block = MemorySegment.ofArray(new byte[sectorsize]);
        LogWritesFormat.encodeSuper(block, entries, sectorsize);
        io(BioOp.WRITE, BioFlags.FUA, 0, block);
    }

    private void flushLog() throws IOException {
        BioStatus st = IoCompletion.submitAndWait(submitter, Bio.alloc().setDevice(logDev.device()).setOp(BioOp.FLUSH));
        if (!st.isOk()) {
            throw new IOException(logDev + ": flush failed: " + st);
        }
    }

    private void io(BioOp op, int flags, long sector, MemorySegment buf) throws IOException {
        Bio bio = Bio.alloc().setDevice(logDev.device()).setOp(op).setFlags(flags).setSector(sector).setData(buf);
        BioStatus st = IoCompletion.submitAndWait(submitter, bio);
        if (!st.isOk()) {
            throw new IOException(logDev + ": " + op + " of " + buf.byteSize() + " bytes at sector " + sector + ": " + st);
        }
    }

    /** Linux {@code log_writes_dtr}: the unflushed writes go to the log, then the end mark; waits for the logger. */
    @Override
    public void close() {
        lock.lock();
        try {
            logging.addAll(unflushed);
            unflushed.clear();
        } finally {
            lock.unlock();
        }
        mark(LogWritesFormat.END_MARK);
        lock.lock();
        try {
            stopping = true;
        } finally {
            lock.unlock();
        }
        Thread t = logger;
        if (t != null) {
            LockSupport.unpark(t);
            boolean interrupted = false;
            while (true) {
                try {
                    t.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
        release.run();
    }

    /** Reads pass through untouched, so a file store below may answer them by reference. */
    @Override
    public boolean passesSpliceReads() {
        return true;
    }

    @Override
    public String statusInfo() {
        lock.lock();
        try {
            return loggedEntries + " " + (nextSector - 1) + (loggingEnabled ? "" : " logging_disabled");
        } finally {
            lock.unlock();
        }
    }

    @Override
    public String statusTable() {
        return config.toTable();
    }

    @Override
    public void iterateDevices(DeviceVisitor visitor) {
        // The data device only, at the same sectors (the kernel does not remap); the log is not stacked on.
        visitor.visit(dev, ctx.beginSector(), ctx.lengthSectors());
    }

    @Override
    public QueueLimits ioHints(QueueLimits limits) {
        QueueLimits data = dev.device().limits();
        QueueLimits l = new QueueLimits(data.logicalBlockBytes(), data.physicalBlockBytes(), limits.maxSectors(),
                limits.discardGranularityBytes(), limits.maxDiscardSectors(), 0, true, true, limits.readOnly(),
                limits.optimalIoBytes() % data.physicalBlockBytes() == 0 ? limits.optimalIoBytes() : 0);
        if (!deviceSupportsDiscard) {
            l = l.withDiscard(sectorsize, 0xFFFF_FFFFL >>> 9);
        }
        return l;
    }

    @Override
    public void queryExtents(long sector, long sectors, Extents.Sink sink) {
        dev.device().queryExtents(sector, sectors, sink);
    }
}
