package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.*;

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
import dev.cairn.block.Submitter;
import java.io.EOFException;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.util.ArrayList;
import java.util.List;

/**
 * One client connection: the handshake, then the transmission phase.
 *
 * <p>Why one class of this size: every command's path shares the reader's state (the read-ahead window,
 * the replies parked on the reader, the negotiated flags, the budgets) and the order in which it is touched
 * is the design; the pieces that stand alone live apart ({@link Request}, {@link ReplyWriter},
 * {@link WritePieces}, {@link WireReader}, {@link InFlightBudget}, {@link BufferPool}).
 *
 * <h2>Implementation notes</h2>
 * <b>Threads.</b> The connection's virtual thread reads and validates requests and submits them (while
 * the client streams large WRITEs, a platform thread does, see {@link #transmission}); a second virtual
 * thread ({@link ReplyWriter}) writes replies. Each request becomes one bio (two or more for a
 * zero/trim longer than {@link #MAX_BIO_BYTES}) whose end-io is the {@link Request}: it queues the reply,
 * so replies go out in completion order, not request order (the client matches them by cookie).
 *
 * <p><b>Inline replies.</b> A request that completes on the reader's own thread (an inline store such as
 * {@code MemoryStore}, dm over one, an error found while validating, a BLOCK_STATUS) is not handed to the
 * writer at once: {@link #finish} parks it in {@link #completedOnReader}, and after the request's
 * {@code submit} has returned the reader writes the reply itself when the client has nothing more
 * buffered and the writer is idle ({@link ReplyWriter#tryWriteInline}), at any queue depth. Handing it to
 * the writer would cost an unpark of the writer and a park of the reader per request: at depth 1 the
 * whole cost of a request (docs/benchmarks/harness-history.md: 4k randread qd1 14.5k to 27.2k IOPS, 54 to 24 µs
 * of server CPU each); under nbdcopy (16 requests in flight per connection, each arriving on its own)
 * about a tenth of the server's CPU per GiB written. The write waits until {@code submit} has returned
 * because the completion runs inside {@code Submitter.submit}, in the device's make_request: blocking on
 * the socket there would hold up whatever the submission still has queued on this thread. When the
 * client has already sent part of its next request, the writer takes the reply, so it can batch, and
 * the reader goes back to reading at once. While the reader writes it does not read: like nbd-server, which reads and replies
 * on one thread, this expects a client to read replies while it sends (libnbd, qemu and the kernel's
 * client do; a client that does not can stall against the in-flight budget anyway); the read-ahead check
 * and the reply size bound keep a client that is in the middle of sending from waiting on a reader that
 * waits on it.
 *
 * <p><b>Bounds.</b> Before reading a payload or allocating a buffer the reader takes a share of the
 * {@link InFlightBudget}; a length above the maximum payload is refused (a WRITE's payload is skipped
 * through the read-ahead window, never buffered), so no allocation follows a client's number unchecked.
 * Every buffer is then reserved against the server-wide client memory budget ({@link BufferPool}) before it
 * is allocated; a spent budget is ENOMEM for that request ({@link #buffer}). A WRITE longer than
 * {@link #WRITE_PIECE_BYTES} is read and written in pieces as it arrives ({@link #writeInPieces}), so a
 * client holds the memory of what it has sent, not of what its header claims (docs/nbd.md, "Bounds").
 *
 * <p><b>Errors.</b> A bad request gets its errno and the connection goes on. The connection is dropped only
 * when the stream cannot be trusted any more: a bad request magic or a stream that ends inside a request.
 * Then in-flight requests still complete (their replies are dropped) before the socket is closed.
 *
 * <p><b>Ending.</b> DISC, end of stream, {@link #stopReading} (export removed, server closing) all stop the
 * reader; the writer sends the replies of everything in flight, then the socket closes.
 *
 * <p>Thread safety: the reader state, {@link #completedOnReader} included, is confined to the thread that
 * runs the request loop ({@link #readerThread}: one at a time, handed over by thread start and join);
 * {@link #bioDone} runs on completing threads and touches only the request and the writer's queue, or,
 * on the reader's own thread, {@link #completedOnReader}. A reply is queued or written once:
 * {@link Request#claim} picks the one caller that may, and the reader hands each entry of
 * {@link #completedOnReader} either to {@link ReplyWriter#tryWriteInline} or to the queue, never both.
 */
final class Connection implements Runnable {
    private static final System.Logger LOG = System.getLogger("dev.cairn.nbd.server");
    /** Largest bio this server makes (a bio's size is an int); longer zero/trim requests are chained. */
    static final int MAX_BIO_BYTES = 1 << 30;
    /**
     * Structured reads of at least this size report holes (a device query per read is not free), unless
     * the client negotiated {@code base:allocation}: see {@link #read}.
     */
    static final int SPARSE_READ_MIN_BYTES = 64 * 1024;
    /**
     * READs of at least this size carry a {@link SpliceSink}: a memory store may hand over its pages, and a
     * file store may leave pieces of at least {@link #FILE_RANGE_MIN_BYTES} in its page cache, sent from there
     * with sendfile. A smaller reply is cheaper as part of one gathering write with its neighbours.
     */
    static final int SPLICE_READ_MIN_BYTES = 64 * 1024;
    /**
     * The smallest read a file store answers with a file range (one sendfile call each) rather than a copy.
     * A striped device splits a 1 MiB read into 16 pieces of 64 KiB: sent as 16 sendfile calls, 1 MiB reads
     * at depth 8 ran at 3.9-4.2 GiB/s; copied by the reader and sent in one gathering write, 4.8-5.3
     * (docs/benchmarks/harness.md, "Large reads over TCP"). Whole large reads are still sent with sendfile.
     */
    static final int FILE_RANGE_MIN_BYTES = 128 * 1024;
    /** At most this many chunks per structured read; the rest is sent as data. */
    static final int MAX_READ_EXTENTS = 64;
    /** At most this many extents per BLOCK_STATUS reply (the spec allows 2^20; the client asks again). */
    static final int MAX_STATUS_EXTENTS = 16 * 1024;

    /** Zeros to write where a device has no WRITE_ZEROES; read-only, shared by every connection. */
    private static final int ZERO_SEGMENT_BYTES = 1 << 20;
    private static final MemorySegment ZEROS = Arena.global().allocate(ZERO_SEGMENT_BYTES, 4096).asReadOnly();

    private final NbdServer server;
    private final NbdTransport transport;
    private final long id;
    private final Submitter submitter;
    private final BufferPool pool;
    private final InFlightBudget budget;
    private final WireReader in;
    /** The connection's own (virtual) thread: the handshake, then the request loop or a wait for the streaming reader. */
    private final Thread connectionThread;
    /**
     * The thread that runs the request loop now: {@link #connectionThread}, or a platform thread while the
     * client streams large writes (see {@link #transmission}). Changed only between two requests.
     */
    private volatile Thread readerThread;
    /** Consecutive requests that argue for the other kind of reader thread; see {@link #switchReader}. */
    private int switchVotes;
    /** Times the request loop moved to a platform thread (for tests). */
    private volatile int streamingSwitches;
    /**
     * The request being handled by the request loop, from its header until its handler returns; read by
     * {@link #endCurrent} on the connection's thread after the loop threw (after its thread was joined, when
     * it ran on the streaming thread).
     */
    private Request current;
    /** Requests that completed on the reader's own thread during the current request; see {@link #finish}. */
    private final List<Request> completedOnReader = new ArrayList<>(4);

    private volatile NbdExport export;
    private volatile boolean readerDone;
    private volatile boolean stopRequested;
    private ReplyWriter writer;
    private Thread writerThread;
    private boolean structured;
    private boolean baseAllocation;
    private int maxPayloadBytes;
    private int minBlockBytes;

    Connection(NbdServer server, NbdTransport transport, long id) {
        this.server = server;
        this.transport = transport;
        this.id = id;
        this.submitter = server.submitter();
        this.pool = server.bufferPool();
        this.budget = new InFlightBudget(server.maxInFlightRequests(), server.maxInFlightBytes());
        this.in = new WireReader(transport);
        // happens-before: Thread.start (by the server) publishes this fully built connection to the thread.
        this.connectionThread = Thread.ofVirtual().name("nbd-conn-" + id).unstarted(this);
        this.readerThread = connectionThread;
    }

    /** The unstarted thread that runs this connection; the server starts it. */
    Thread connectionThread() {
        return connectionThread;
    }

    /** This connection's figures now. */
    ConnectionStats stats() {
        NbdExport e = export;
        return new ConnectionStats(id, transport.peer(), e == null ? null : e.name(), readerDone, budget.requests(),
                budget.waiting(), streamingSwitches, transport.copiedFileRangeBytes());
    }

    @Override
    public void run() {
        try {
            // The export is set before the handshake's last reply (Handshake.run), so a client that acts on
            // that reply finds this connection counted, and before the check below: a removeExport racing
            // with us either sees this connection on the export (and stops it) or has removed the export
            // before we look (NbdServer.connectionCount).
            Handshake.Result agreed = new Handshake(server, transport, in, e -> export = e).run();
            if (agreed == null) {
                return;
            }
            if (stopRequested || !server.isExported(export)) {
                return;
            }
            structured = agreed.structuredReplies();
            baseAllocation = agreed.baseAllocation();
            maxPayloadBytes = server.maxPayloadBytes();
            minBlockBytes = export.device().limits().logicalBlockBytes();
            LOG.log(Level.DEBUG, () -> this + ": serving '" + export.name() + "' structured=" + structured);
            writer = new ReplyWriter(this, transport, budget, pool, structured);
            writerThread = Thread.ofVirtual().name("nbd-writer-" + id).start(writer);
            transmission();
        } catch (Handshake.ProtocolException e) {
            LOG.log(Level.INFO, () -> this + ": dropped: " + e.getMessage());
        } catch (EOFException | ClosedChannelException e) {
            LOG.log(Level.DEBUG, () -> this + ": client went away: " + e);
        } catch (AllocationFailedException e) {
            LOG.log(Level.WARNING, () -> this + ": closing the connection: " + e.getMessage());
            if (!e.request.pieced) {
                finish(e.request.fail(ENOMEM, NO_MEMORY)); // a long WRITE's pieces end it themselves
            }
            // Everything it holds comes back as the writer drops its replies; a client that reads nothing
            // cannot keep the writer (and so the connection) waiting.
            transport.close();
        } catch (IOException e) {
            LOG.log(Level.DEBUG, () -> this + ": I/O error: " + e);
        } catch (RuntimeException | Error e) {
            server.internalError();
            LOG.log(Level.ERROR, () -> this + ": internal error", e);
            endCurrent();
        } finally {
            if (writer != null) {
                // Only after an exception inside a request can something be left here; the writer sends it.
                queueCompletedOnReader();
            }
            readerDone = true;
            if (writer != null) {
                writer.wake();
                joinUninterruptibly(writerThread);
            }
            transport.close();
            server.connectionClosed(this);
        }
    }

    /**
     * After an unexpected exception inside a request: a request that holds a share of the in-flight budget
     * but was never answered would keep the writer waiting for it for ever, and with it the connection
     * (issue 22: a reader parked in the join below, the writer in its loop, the socket in CLOSE-WAIT). It is
     * answered EIO here; if the device got it after all, its completion finds the reply claimed, and its
     * buffer is never reused (the device may still hold it).
     */
    private void endCurrent() {
        Request r = current;
        current = null;
        if (r != null && r.acquired && !r.pieced) {
            r.dropBuffer = true;
            finish(r.fail(EIO, "internal error"));
        }
    }

    private static void joinUninterruptibly(Thread t) {
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

    NbdExport export() {
        return export;
    }

    boolean readerDone() {
        return readerDone;
    }

    /** Stops taking requests; in-flight ones are answered, then the connection closes. */
    void stopReading() {
        stopRequested = true;
        transport.shutdownInput();
    }

    /** Gives up on draining: wakes a reader waiting for budget and closes the socket. */
    void forceClose() {
        stopRequested = true;
        budget.abort();
        transport.close();
    }

    int inFlight() {
        return budget.requests();
    }

    /** An unchecked exception from the transport while writing replies: counted as an internal error. */
    void writeCrashed(RuntimeException e) {
        server.internalError();
        LOG.log(Level.ERROR, () -> this + ": internal error while writing replies; closing the connection", e);
        transport.close();
    }

    void writeFailed(IOException e) {
        LOG.log(Level.DEBUG, () -> this + ": write failed, dropping replies: " + e);
        // Nobody will read our replies: wake the reader if it is blocked on the socket (when this is the
        // reader's own inline write, its next read fails), so the connection ends and drains.
        transport.close();
    }

    // ------------------------------------------------------------------ transmission

    /** Large WRITEs (at least this payload) in a row move the request loop to a platform thread. */
    static final int STREAM_WRITE_MIN_BYTES = 64 * 1024;
    /** How many large WRITEs in a row move the loop to a platform thread. */
    static final int STREAM_ENTER_REQUESTS = 8;
    /** How many other requests in a row move it back to the virtual thread. */
    static final int STREAM_LEAVE_REQUESTS = 16;

    /**
     * The request loop, on the connection's virtual thread or, while the client streams large WRITEs, on
     * a platform thread of its own.
     *
     * <p>Why two kinds. A virtual thread that reads a socket parks whenever the data is not there yet and
     * is woken through the JDK's poller (an {@code epoll_ctl}, the poller's {@code epoll_wait}, a
     * scheduler hand-off). For small requests that is cheap, and the virtual-thread scheduler's carriers,
     * which spin a little before they sleep, answer the next request sooner than a sleeping platform
     * thread would (4k randread qd1: 25-29k IOPS against 16-18k on a platform thread). A large WRITE
     * payload, though, arrives in pieces (a Unix socket holds about 200 KiB of the sender's data), and
     * each piece costs a park and a poller wake-up: under nbdcopy writes (256 KiB payloads) the server
     * spent 44 ticks of CPU per GiB on a virtual reader and 28 on a platform reader, which blocks in
     * {@code read(2)} and is woken by the kernel directly (1.8 against 2.5 GiB/s; docs/benchmarks/harness-history.md).
     * On that thread the loop runs inside {@link InlineIo#call}, so a file store writes the payload right
     * there, like nbdkit's threads do, instead of handing each bio to its pool and the reply back (the
     * CPU of those hand-offs exceeded that of the writes: nbdcopy into a file export).
     * So after {@link #STREAM_ENTER_REQUESTS} large WRITEs in a row the loop moves to a platform thread,
     * and after {@link #STREAM_LEAVE_REQUESTS} other requests in a row it moves back. A move happens only
     * between two requests (nothing of the reader's is half done: the read-ahead window and every reply
     * completed on the reader have been handed on), and the connection's own thread waits for the
     * platform thread meanwhile, so everything that joins or interrupts the connection still sees one
     * thread; thread start and join order the two threads' accesses to the reader state.
     */
    private void transmission() throws IOException {
        boolean streaming = false;
        while (true) {
            boolean moveOn = streaming ? onStreamingThread() : requestLoop();
            if (!moveOn) {
                return;
            }
            streaming = !streaming;
            switchVotes = 0;
        }
    }

    /** Runs {@link #requestLoop} on a new platform thread while this (virtual) thread waits for it. */
    private boolean onStreamingThread() throws IOException {
        boolean[] moveOn = {false};
        Throwable[] failed = {null};
        Thread t = Thread.ofPlatform().daemon().name("nbd-conn-" + id + "-stream").unstarted(() -> {
            try {
                // Stores may do their blocking I/O right here (FileStore does): no hand-off to a worker and back.
                moveOn[0] = InlineIo.call(this::requestLoop);
            } catch (Throwable e) {
                failed[0] = e;
            }
        });
        readerThread = t;
        streamingSwitches++;
        try {
            t.start();
            joinUninterruptibly(t);
        } finally {
            readerThread = connectionThread;
        }
        switch (failed[0]) {
            case null -> {
                return moveOn[0];
            }
            case IOException e -> throw e;
            case RuntimeException e -> throw e;
            case Error e -> throw e;
            default -> throw new IllegalStateException("request loop failed", failed[0]);
        }
    }

    /**
     * Reads, validates and submits requests until the client is done (false) or the loop should move to
     * the other kind of thread (true).
     */
    private boolean requestLoop() throws IOException {
        while (!stopRequested) {
            if (!in.ensure(REQUEST_HEADER_BYTES)) {
                return false;
            }
            int magic = in.getInt();
            int flags = in.getUnsignedShort();
            int type = in.getUnsignedShort();
            long cookie = in.getLong();
            long offset = in.getLong();
            int length = in.getInt();
            if (magic != REQUEST_MAGIC) {
                throw new Handshake.ProtocolException("request magic: 0x" + Integer.toHexString(magic)
                        + " (expected: 0x" + Integer.toHexString(REQUEST_MAGIC) + ")");
            }
            if (type == CMD_DISC) {
                LOG.log(Level.DEBUG, () -> this + ": DISC");
                return false;
            }
            Request r = new Request(this, type, flags, cookie, offset, length);
            current = r;
            switch (type) {
                case CMD_READ -> read(r);
                case CMD_WRITE -> write(r);
                case CMD_FLUSH -> flush(r);
                case CMD_TRIM -> trim(r);
                case CMD_CACHE -> cache(r);
                case CMD_WRITE_ZEROES -> writeZeroes(r);
                case CMD_BLOCK_STATUS -> blockStatus(r);
                default -> reject(r, EINVAL, "unknown command " + type);
            }
            current = null;
            replyCompletedOnReader();
            if (switchReader(type, length)) {
                return true;
            }
        }
        return false;
    }

    /** Counts this request's vote for the other kind of reader thread; true when the loop should move. */
    private boolean switchReader(int type, int lengthBytes) {
        boolean largeWrite = type == CMD_WRITE && Integer.compareUnsigned(lengthBytes, STREAM_WRITE_MIN_BYTES) >= 0;
        boolean streaming = Thread.currentThread() != connectionThread;
        if (largeWrite != streaming) {
            switchVotes++;
        } else {
            switchVotes = 0;
        }
        return switchVotes >= (streaming ? STREAM_LEAVE_REQUESTS : STREAM_ENTER_REQUESTS);
    }

    /**
     * The largest reply payload the reader writes itself. A reply that fits the socket's send buffer
     * (4 MiB, {@link SocketTransport}) with room to spare goes out without waiting for the client, so the
     * reader cannot stall against a client that is still sending; larger replies gain nothing from
     * skipping the hand-off (its cost is per request, the copy is per byte) and go to the writer.
     */
    static final int MAX_INLINE_REPLY_BYTES = 256 * 1024;

    /**
     * Sends the replies that completed on this thread while the last request was handled: written here
     * when nothing of the next request is buffered and the writer is idle, else queued for the writer.
     * Called outside any bio submission.
     */
    private void replyCompletedOnReader() {
        if (completedOnReader.isEmpty()) {
            return;
        }
        // Buffered bytes mean the client pipelines: the reader goes back to parsing and the writer batches.
        // Otherwise the reader is about to make a system call anyway, and writing the replies itself saves
        // waking the writer, whatever the queue depth (the writer must be idle: tryWriteInline).
        if (in.buffered() == 0 && inlineReplyBytes() <= MAX_INLINE_REPLY_BYTES
                && writer.tryWriteInline(completedOnReader)) {
            completedOnReader.clear();
            return;
        }
        queueCompletedOnReader();
    }

    private long inlineReplyBytes() {
        long bytes = 0;
        for (Request r : completedOnReader) {
            bytes += r.replyDataBytes;
        }
        return bytes;
    }

    private void queueCompletedOnReader() {
        for (Request r : completedOnReader) {
            writer.enqueue(r);
        }
        completedOnReader.clear();
    }

    /** Replies {@code errno} without touching the device. */
    private void reject(Request r, int errno, String why) {
        if (!acquire(r, 0)) {
            return;
        }
        finish(r.fail(errno, why));
    }

    private boolean acquire(Request r, long bytes) {
        return acquire(r, bytes, Long.MAX_VALUE);
    }

    private boolean acquire(Request r, long bytes, long maxQueuedReadBytes) {
        if (!budget.acquire(bytes, maxQueuedReadBytes)) {
            return false;
        }
        r.budgetBytes = bytes;
        r.acquired = true;
        return true;
    }

    /**
     * The checks every command with a range shares; 0 when the request may go on. Order: flags, read-only,
     * zero length, maximum payload, alignment, range.
     */
    private int check(Request r, int allowedFlags, boolean writeLike, int outOfRangeErrno) {
        return check(r, allowedFlags, writeLike, outOfRangeErrno, 0xffff_ffffL);
    }

    private int check(Request r, int allowedFlags, boolean writeLike, int outOfRangeErrno, long maxLength) {
        // FUA is valid on every command (the spec: accept it, even by ignoring it).
        if ((r.flags & ~(allowedFlags | CMD_FLAG_FUA)) != 0) {
            r.message = "flags 0x" + Integer.toHexString(r.flags) + " not valid for " + commandName(r.type);
            return EINVAL;
        }
        if (writeLike && export.readOnly()) {
            r.message = "export '" + export.name() + "' is read-only";
            return EPERM;
        }
        long length = Integer.toUnsignedLong(r.lengthBytes);
        if (length == 0) {
            r.message = "length 0";
            return EINVAL;
        }
        if (length > maxLength) {
            r.message = "length " + length + " above the maximum payload " + maxLength;
            return EINVAL;
        }
        if (((r.offsetBytes | length) & (minBlockBytes - 1)) != 0) {
            r.message = "offset " + Long.toUnsignedString(r.offsetBytes) + " or length " + length
                    + " not aligned to " + minBlockBytes;
            return EINVAL;
        }
        long size = export.sizeBytes();
        if (r.offsetBytes < 0 || r.offsetBytes > size || length > size - r.offsetBytes) {
            r.message = "range " + Long.toUnsignedString(r.offsetBytes) + "+" + length + " beyond size " + size;
            return outOfRangeErrno;
        }
        return 0;
    }

    private void read(Request r) throws IOException {
        int allowed = structured ? CMD_FLAG_DF : 0;
        int err = check(r, allowed, false, EINVAL, maxPayloadBytes);
        if (err != 0) {
            reject(r, err, r.message);
            return;
        }
        // Also waits while too much read data is queued for the writer (NbdServer.DEFAULT_MAX_QUEUED_READ_BYTES).
        if (!acquire(r, r.lengthBytes, server.maxQueuedReadBytes())) {
            return;
        }
        BlockDevice device = export.device();
        // A client that negotiated base:allocation asks for holes itself (nbdcopy, qemu-img) and skips
        // them, so asking the device again for every read is duplicated work: a page walk in memory,
        // lseek(SEEK_DATA/SEEK_HOLE) on a file, a walk of every dm layer. Such a client gets data chunks.
        if (structured && !baseAllocation && !r.hasFlag(CMD_FLAG_DF) && r.lengthBytes >= SPARSE_READ_MIN_BYTES) {
            ExtentCollector layout = new ExtentCollector(r.lengthBytes, MAX_READ_EXTENTS, Extents.ZERO);
            if (!query(device, r.offsetBytes, r.lengthBytes, layout)) {
                finish(r.fail(EIO, "extent query failed"));
                return;
            }
            boolean allZero = layout.count == 1 && layout.flags[0] != 0 && layout.coveredBytes == r.lengthBytes;
            if (allZero) {
                // All zeros: one hole chunk, no I/O at all.
                r.extents = new int[] {-r.lengthBytes};
                r.extentCount = 1;
                finish(r);
                return;
            }
            if (layout.count > 1 || layout.flags[0] != 0) {
                r.extents = layout.signedLengths();
                r.extentCount = layout.count;
            }
        }
        r.buffer = buffer(r, r.lengthBytes);
        if (r.buffer == null) {
            finish(r.fail(ENOMEM, NO_MEMORY));
            return;
        }
        r.replyDataBytes = r.lengthBytes;
        MemorySegment data = r.buffer.segment(r.lengthBytes);
        Bio bio = Bio.alloc().setDevice(device).setOp(BioOp.READ).setSector(r.offsetBytes >>> Sectors.SECTOR_SHIFT)
                .setData(data).setEndIo(r);
        if (r.lengthBytes >= SPLICE_READ_MIN_BYTES && transport.splices()) {
            long minFileRangeBytes = transport.sendsFileRanges() ? FILE_RANGE_MIN_BYTES : SpliceSink.NO_FILE_RANGES;
            r.splice = new SpliceSink(data, minFileRangeBytes);
            bio.setSpliceSink(r.splice);
        }
        submit(r, bio);
    }

    /**
     * A WRITE payload longer than this is read, and written to the device, in pieces of this size as they
     * arrive, so a client that sends a header and then its payload slowly holds one piece of server memory,
     * not the length its header claims (a 32 MiB header followed by a byte every 10 ms reserved 32 MiB each:
     * issue 22). Each piece goes to the device once it is full and its buffer comes back when that write
     * completes; the reply waits for every piece. A payload up to this size is one buffer and one bio, as
     * before, whether it arrives at once or not; a longer one that arrives at once costs one bio per piece
     * but no copy: each piece is read from the socket straight into the buffer the device writes from.
     * nbdcopy's writes (256 KiB) are one piece.
     */
    static final int WRITE_PIECE_BYTES = 256 * 1024;

    private void write(Request r) throws IOException {
        long length = Integer.toUnsignedLong(r.lengthBytes);
        int err = check(r, 0, true, ENOSPC, maxPayloadBytes);
        if (err != 0) {
            // Keep the stream in step: the payload follows whatever we think of the request.
            in.skip(length);
            reject(r, err, r.message);
            return;
        }
        if (!acquire(r, length)) {
            return;
        }
        if (length > WRITE_PIECE_BYTES) {
            writeInPieces(r, (int) length);
            return;
        }
        r.buffer = buffer(r, r.lengthBytes);
        if (r.buffer == null) {
            in.skip(length);
            finish(r.fail(ENOMEM, NO_MEMORY));
            return;
        }
        try {
            in.readFully(r.buffer.bytes(r.lengthBytes));
        } catch (IOException e) {
            pool.release(r.buffer);
            r.buffer = null;
            budget.release(length);
            r.acquired = false; // its share is back: nothing of it is left to answer
            throw e;
        }
        int bioFlags = fuaFlags(r);
        Bio bio = Bio.alloc().setDevice(export.device()).setOp(BioOp.WRITE)
                .setSector(r.offsetBytes >>> Sectors.SECTOR_SHIFT).setData(r.buffer.segment(r.lengthBytes))
                .setFlags(bioFlags).setEndIo(r);
        submit(r, bio);
    }

    /**
     * A long WRITE: each {@link #WRITE_PIECE_BYTES} of payload is read into a buffer of its own and submitted
     * as soon as it is full; {@link WritePieces} replies when every piece has completed. When the budget is
     * spent part way, the rest of the payload is skipped (nothing allocated) and the request fails with
     * ENOMEM; pieces already submitted still complete first.
     */
    private void writeInPieces(Request r, int lengthBytes) throws IOException {
        WritePieces pieces = new WritePieces(this, r, pool);
        r.pieced = true;
        BlockDevice device = export.device();
        int bioFlags = fuaFlags(r);
        int doneBytes = 0;
        try {
            while (doneBytes < lengthBytes) {
                int n = Math.min(WRITE_PIECE_BYTES, lengthBytes - doneBytes);
                BufferPool.Buffer piece = buffer(r, n);
                if (piece == null) {
                    in.skip(lengthBytes - doneBytes);
                    pieces.fail(ENOMEM, NO_MEMORY);
                    break;
                }
                try {
                    in.readFully(piece.bytes(n));
                } catch (IOException e) {
                    pool.release(piece);
                    throw e;
                }
                WritePieces.Piece end = pieces.add(piece);
                Bio bio = Bio.alloc().setDevice(device).setOp(BioOp.WRITE)
                        .setSector((r.offsetBytes + doneBytes) >>> Sectors.SECTOR_SHIFT).setData(piece.segment(n))
                        .setFlags(bioFlags).setEndIo(end);
                doneBytes += n;
                try {
                    submitter.submit(bio);
                } catch (RuntimeException e) {
                    LOG.log(Level.WARNING, () -> this + ": device failed " + r, e);
                    end.submitFailed(); // the device may still hold the buffer
                    in.skip(lengthBytes - doneBytes);
                    break;
                }
            }
        } catch (IOException | RuntimeException | Error e) {
            // The stream ended (or the JVM could not allocate) inside the payload: what was submitted still
            // completes, then the request ends; the connection is closing.
            if (e instanceof AllocationFailedException) {
                pieces.fail(ENOMEM, NO_MEMORY);
            } else {
                pieces.fail(EIO, "payload incomplete");
            }
            pieces.readerDone();
            throw e;
        }
        pieces.readerDone();
    }

    /** The message of an ENOMEM reply. */
    static final String NO_MEMORY = "the server's memory budget for clients is spent; try again";

    /**
     * A buffer for request {@code r}'s data, or null when the server-wide budget is spent (the caller fails
     * the request with ENOMEM and the connection goes on).
     *
     * <p>While the budget is spent and this connection has other requests in flight, the reader waits for one
     * of them to complete and tries again: a pipelining client is slowed down, as by its own in-flight
     * budget, rather than failed. With nothing else in flight it fails at once: nothing of its own would
     * wake it, and waiting on memory that other clients hold (slow senders, clients that read no replies)
     * is how one client would stall another. No timer is involved either way.
     *
     * @throws AllocationFailedException when the JVM could not allocate the memory although the budget
     *     allowed it: {@code r} is failed with ENOMEM and the connection must close
     */
    private BufferPool.Buffer buffer(Request r, int lengthBytes) throws AllocationFailedException {
        while (true) {
            BufferPool.Buffer b;
            try {
                b = pool.acquire(lengthBytes);
            } catch (OutOfMemoryError e) {
                server.allocationFailed();
                throw new AllocationFailedException(r, lengthBytes, e);
            }
            if (b != null) {
                return b;
            }
            // r itself is one of the requests in flight: wait only while there is another.
            int inFlight = budget.requests();
            if (inFlight <= 1 || !budget.awaitFewerThan(inFlight)) {
                server.memoryRefused();
                return null;
            }
        }
    }

    /**
     * The JVM refused direct memory the budget allowed (its own limit is lower). The request it was for is
     * answered ENOMEM and the connection closes, releasing everything it holds: a stream whose payload was
     * not read cannot go on, and a reader left waiting for budget it will never get was issue 22's leak.
     */
    static final class AllocationFailedException extends IOException {
        private static final long serialVersionUID = 1L;
        final transient Request request;

        AllocationFailedException(Request request, int lengthBytes, OutOfMemoryError cause) {
            super("could not allocate " + lengthBytes + " bytes for " + request + ": " + cause.getMessage(), cause);
            this.request = request;
        }
    }

    /** Bio flags for a client's FUA; on a cached device without native FUA, a flush after the write instead. */
    private int fuaFlags(Request r) {
        if (!r.hasFlag(CMD_FLAG_FUA)) {
            return 0;
        }
        QueueLimits limits = export.device().limits();
        if (!limits.writeCache()) {
            return 0; // every completed write is already durable
        }
        if (limits.fua()) {
            return BioFlags.FUA;
        }
        r.flushAfter = true;
        return 0;
    }

    private void flush(Request r) {
        if ((r.flags & ~CMD_FLAG_FUA) != 0 || r.offsetBytes != 0 || r.lengthBytes != 0) {
            reject(r, EINVAL, "FLUSH takes no flags but FUA, no offset and no length");
            return;
        }
        if (!acquire(r, 0)) {
            return;
        }
        submit(r, Bio.alloc().setDevice(export.device()).setOp(BioOp.FLUSH).setEndIo(r));
    }

    private void trim(Request r) {
        int err = check(r, 0, true, EINVAL);
        if (err == 0 && !export.device().limits().supportsDiscard()) {
            err = EINVAL;
            r.message = "TRIM not supported by this export";
        }
        if (err != 0) {
            reject(r, err, r.message);
            return;
        }
        if (!acquire(r, 0)) {
            return;
        }
        submitRange(r, BioOp.DISCARD, fuaFlags(r), false);
    }

    private void cache(Request r) {
        int err = check(r, 0, false, EINVAL);
        // Advisory: the block API has no prefetch hint, and a read into a scratch buffer would only cost.
        reject(r, err, r.message);
    }

    private void writeZeroes(Request r) {
        int err = check(r, CMD_FLAG_NO_HOLE | CMD_FLAG_FAST_ZERO, true, ENOSPC);
        if (err != 0) {
            reject(r, err, r.message);
            return;
        }
        boolean nativeZero = export.device().limits().supportsWriteZeroes();
        if (r.hasFlag(CMD_FLAG_FAST_ZERO) && !nativeZero) {
            reject(r, ENOTSUP, "zeroing is not faster than writing on this export");
            return;
        }
        if (!acquire(r, 0)) {
            return;
        }
        int bioFlags = fuaFlags(r);
        if (nativeZero) {
            bioFlags |= (r.hasFlag(CMD_FLAG_NO_HOLE) ? BioFlags.NOUNMAP : 0)
                    | (r.hasFlag(CMD_FLAG_FAST_ZERO) ? BioFlags.FAST_ZERO : 0);
            submitRange(r, BioOp.WRITE_ZEROES, bioFlags, false);
        } else {
            r.zeroFallback = true;
            submitRange(r, BioOp.WRITE, bioFlags, true);
        }
    }

    private void blockStatus(Request r) throws AllocationFailedException {
        int err = check(r, CMD_FLAG_REQ_ONE, false, EINVAL);
        if (err == 0 && !baseAllocation) {
            err = EINVAL;
            r.message = "no metadata context was negotiated";
        }
        if (err != 0) {
            reject(r, err, r.message);
            return;
        }
        int maxExtents = r.hasFlag(CMD_FLAG_REQ_ONE) ? 1 : MAX_STATUS_EXTENTS;
        if (!acquire(r, 4 + 8L * maxExtents)) {
            return;
        }
        ExtentCollector extents = new ExtentCollector(Integer.toUnsignedLong(r.lengthBytes), maxExtents,
                Extents.HOLE | Extents.ZERO);
        if (!query(export.device(), r.offsetBytes, Integer.toUnsignedLong(r.lengthBytes), extents)) {
            finish(r.fail(EIO, "extent query failed"));
            return;
        }
        int bytes = 4 + 8 * extents.count;
        r.buffer = buffer(r, bytes);
        if (r.buffer == null) {
            finish(r.fail(ENOMEM, NO_MEMORY));
            return;
        }
        ByteBuffer b = r.buffer.bytes(bytes);
        b.putInt(Handshake.BASE_ALLOCATION_ID);
        for (int i = 0; i < extents.count; i++) {
            // Extents lie inside the request, whose length is a u32.
            b.putInt((int) extents.lengths[i]).putInt(extents.flags[i]);
        }
        r.replyDataBytes = bytes;
        finish(r);
    }

    /** Runs the device's extent query into {@code sink}; false if the device threw. */
    private boolean query(BlockDevice device, long offsetBytes, long lengthBytes, ExtentCollector sink) {
        try {
            device.queryExtents(offsetBytes >>> Sectors.SECTOR_SHIFT, lengthBytes >>> Sectors.SECTOR_SHIFT, sink);
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, () -> this + ": queryExtents failed on " + device.name(), e);
            return false;
        }
        sink.finish();
        return true;
    }

    /**
     * Submits {@code op} over the request's whole range, as one bio or, beyond {@link #MAX_BIO_BYTES}, as
     * chained pieces of an unsubmitted parent whose end-io is the request (the first error wins).
     */
    private void submitRange(Request r, BioOp op, int bioFlags, boolean zeroData) {
        BlockDevice device = export.device();
        long length = Integer.toUnsignedLong(r.lengthBytes);
        if (length <= MAX_BIO_BYTES) {
            submit(r, rangeBio(device, op, bioFlags, r.offsetBytes, (int) length, zeroData).setEndIo(r));
            return;
        }
        Bio parent = Bio.alloc().setDevice(device).setOp(op).setEndIo(r);
        try {
            for (long done = 0; done < length; done += MAX_BIO_BYTES) {
                int piece = (int) Math.min(MAX_BIO_BYTES, length - done);
                Bio child = rangeBio(device, op, bioFlags, r.offsetBytes + done, piece, zeroData);
                child.chain(parent);
                submitter.submit(child);
            }
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, () -> this + ": submit failed for " + r, e);
            parent.setError(BioStatus.IOERR);
        }
        parent.complete(); // drops the parent's own count; it ends when every piece has
    }

    private static Bio rangeBio(BlockDevice device, BioOp op, int bioFlags, long offsetBytes, int lengthBytes,
            boolean zeroData) {
        Bio bio = Bio.alloc().setDevice(device).setOp(op).setSector(offsetBytes >>> Sectors.SECTOR_SHIFT)
                .setFlags(bioFlags);
        if (zeroData) {
            bio.setData(zeroVector(lengthBytes));
        } else {
            bio.setSizeBytes(lengthBytes);
        }
        return bio;
    }

    /** {@code lengthBytes} of zeros as a vector of views of one shared segment: no allocation of data. */
    private static MemorySegment[] zeroVector(int lengthBytes) {
        int n = (lengthBytes + ZERO_SEGMENT_BYTES - 1) / ZERO_SEGMENT_BYTES;
        MemorySegment[] v = new MemorySegment[n];
        for (int i = 0; i < n; i++) {
            v[i] = i < n - 1 ? ZEROS : ZEROS.asSlice(0, lengthBytes - (long) i * ZERO_SEGMENT_BYTES);
        }
        return v;
    }

    private void submit(Request r, Bio bio) {
        try {
            submitter.submit(bio);
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, () -> this + ": device failed " + r, e);
            r.dropBuffer = true; // the device may still hold the buffer
            if (r.claim()) {
                reply(r.fail(EIO, "device error: " + e.getClass().getSimpleName()));
            }
        }
    }

    /** End-io of every bio this connection submits (on the completing thread). */
    void bioDone(Request r, BioStatus status) {
        if (status.isOk() && r.flushAfter) {
            r.flushAfter = false;
            submit(r, Bio.alloc().setDevice(export.device()).setOp(BioOp.FLUSH).setEndIo(r));
            return;
        }
        if (status == BioStatus.NOTSUPP && r.type == CMD_WRITE_ZEROES && !r.zeroFallback
                && !r.hasFlag(CMD_FLAG_FAST_ZERO)) {
            // The device advertised WRITE_ZEROES but refused this one: write zeros instead (Linux zeroout fallback).
            r.zeroFallback = true;
            submitRange(r, BioOp.WRITE, fuaFlags(r), true);
            return;
        }
        if (!status.isOk()) {
            r.fail(status.errno(), status.name());
        }
        finish(r);
    }

    /** Replies {@code r} as it stands (once: the first caller claims it). */
    void finish(Request r) {
        if (r.claim()) {
            reply(r);
        }
    }

    /**
     * Hands a claimed request's reply on: from another thread to the writer's queue; on the reader's own
     * thread to {@link #completedOnReader}, which {@link #replyCompletedOnReader} empties once the current
     * request's submission has returned (this may be deep inside {@code Submitter.submit}).
     */
    private void reply(Request r) {
        if (Thread.currentThread() == readerThread) {
            completedOnReader.add(r);
        } else {
            writer.enqueue(r);
        }
    }

    @Override
    public String toString() {
        return "nbd#" + id + "[" + transport.peer() + "]";
    }

    /**
     * Collects a device's extents for one request: merges neighbours with the same (masked) flags, clips to
     * the request, stops at {@code maxExtents}, and for reads ({@link #finish}) covers the rest as data.
     */
    static final class ExtentCollector implements Extents.Sink {
        final long limitBytes;
        final int maxExtents;
        final int mask;
        long[] lengths = new long[4];
        int[] flags = new int[4];
        int count;
        long coveredBytes;

        ExtentCollector(long limitBytes, int maxExtents, int mask) {
            this.limitBytes = limitBytes;
            this.maxExtents = maxExtents;
            this.mask = mask;
        }

        @Override
        public boolean extent(long sectors, int extentFlags) {
            long left = limitBytes - coveredBytes;
            if (sectors <= 0 || left <= 0) {
                return false;
            }
            long bytes = Math.min(left, Math.min(sectors, left >>> Sectors.SECTOR_SHIFT) << Sectors.SECTOR_SHIFT);
            if (bytes == 0) {
                bytes = left;
            }
            int key = extentFlags & mask;
            if (count > 0 && flags[count - 1] == key) {
                lengths[count - 1] += bytes;
            } else {
                if (count == maxExtents) {
                    return false;
                }
                if (count == lengths.length) {
                    lengths = java.util.Arrays.copyOf(lengths, count * 2);
                    flags = java.util.Arrays.copyOf(flags, count * 2);
                }
                lengths[count] = bytes;
                flags[count] = key;
                count++;
            }
            coveredBytes += bytes;
            return coveredBytes < limitBytes;
        }

        /** For a read the layout must cover everything: what the device did not describe is data. */
        void finish() {
            if (count == 0) {
                // A device that described nothing broke its contract; "data" is always a safe answer.
                lengths[0] = limitBytes;
                flags[0] = 0;
                count = 1;
                coveredBytes = limitBytes;
            }
        }

        /** Lengths for a sparse read: positive for data, negative for zeros; the tail beyond coverage is data. */
        int[] signedLengths() {
            int[] out = new int[count + 1];
            int n = 0;
            for (int i = 0; i < count; i++) {
                out[n++] = flags[i] != 0 ? -(int) lengths[i] : (int) lengths[i];
            }
            long rest = limitBytes - coveredBytes;
            if (rest > 0) {
                if (out[n - 1] > 0) {
                    out[n - 1] += (int) rest;
                } else {
                    out[n++] = (int) rest;
                }
            }
            count = n;
            return out;
        }
    }
}
