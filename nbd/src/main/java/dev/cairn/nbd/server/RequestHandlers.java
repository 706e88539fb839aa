package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.*;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.Extents;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.Sectors;
import dev.cairn.block.SpliceSink;
import dev.cairn.block.Submitter;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * The request handlers of one connection in transmission, as nbdkit's {@code protocol.c} has them: each
 * command is checked ({@link #check}: flags, read-only, length, alignment, range, in that order), takes its
 * share of the {@link InFlightBudget} and a buffer, becomes one bio (or chained bios) whose end-io is the
 * {@link Request}, and is answered through {@link #finish} exactly once. {@link RequestLoop} reads the
 * headers and calls these; {@link InlineReplies} decides who writes each reply.
 *
 * <p><b>Bounds.</b> Before reading a payload or allocating a buffer the reader takes a share of the
 * {@link InFlightBudget}; a length above the maximum payload is refused (a WRITE's payload is skipped
 * through the read-ahead window, never buffered), so no allocation follows a client's number unchecked.
 * Every buffer is then reserved against the server-wide client memory budget ({@link BufferPool}) before it
 * is allocated; a spent budget is ENOMEM for that request ({@link #buffer}). A WRITE longer than
 * {@link #WRITE_PIECE_BYTES} is read and written in pieces as it arrives ({@link #writeInPieces}), so a
 * client holds the memory of what it has sent, not of what its header claims (docs/nbd.md, "Bounds").
 *
 * <p>Why over 500 lines: the seven handlers share the checks, the budget, the buffers and the submission
 * ({@link #check}, {@link #acquire}, {@link #buffer}, {@link #submit}), and the order in which a request
 * touches them is the protocol's; split by command, each piece would need all of them.
 *
 * <p>Thread safety: the handlers ({@link #read} ... {@link #blockStatus}) run on the reader thread of the
 * moment ({@link ReaderThreads}); {@link #bioDone} and {@link #finish} run on any completing thread and touch
 * only the request, the device and {@link InlineReplies#reply}. The negotiated settings are final.
 */
final class RequestHandlers {
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

    private final Connection connection;
    private final NbdServer server;
    private final NbdTransport transport;
    private final Submitter submitter;
    private final BufferPool pool;
    private final InFlightBudget budget;
    private final WireReader in;
    private final InlineReplies replies;
    private final NbdExport export;
    private final boolean structured;
    private final boolean baseAllocation;
    private final int maxPayloadBytes;
    private final int minBlockBytes;

    RequestHandlers(Connection connection, NbdServer server, NbdTransport transport, InFlightBudget budget,
            WireReader in, InlineReplies replies, NbdExport export, Handshake.Result agreed) {
        this.connection = connection;
        this.server = server;
        this.transport = transport;
        this.submitter = server.submitter();
        this.pool = server.bufferPool();
        this.budget = budget;
        this.in = in;
        this.replies = replies;
        this.export = export;
        this.structured = agreed.structuredReplies();
        this.baseAllocation = agreed.baseAllocation();
        this.maxPayloadBytes = server.maxPayloadBytes();
        this.minBlockBytes = export.device().limits().logicalBlockBytes();
    }

    /** Replies {@code errno} without touching the device. */
    void reject(Request r, int errno, String why) {
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

    void read(Request r) throws IOException {
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

    void write(Request r) throws IOException {
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
                    LOG.log(Level.WARNING, () -> connection + ": device failed " + r, e);
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

    void flush(Request r) {
        if ((r.flags & ~CMD_FLAG_FUA) != 0 || r.offsetBytes != 0 || r.lengthBytes != 0) {
            reject(r, EINVAL, "FLUSH takes no flags but FUA, no offset and no length");
            return;
        }
        if (!acquire(r, 0)) {
            return;
        }
        submit(r, Bio.alloc().setDevice(export.device()).setOp(BioOp.FLUSH).setEndIo(r));
    }

    void trim(Request r) {
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

    void cache(Request r) {
        int err = check(r, 0, false, EINVAL);
        // Advisory: the block API has no prefetch hint, and a read into a scratch buffer would only cost.
        reject(r, err, r.message);
    }

    void writeZeroes(Request r) {
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

    void blockStatus(Request r) throws AllocationFailedException {
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
            LOG.log(Level.WARNING, () -> connection + ": queryExtents failed on " + device.name(), e);
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
            LOG.log(Level.WARNING, () -> connection + ": submit failed for " + r, e);
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
            LOG.log(Level.WARNING, () -> connection + ": device failed " + r, e);
            r.dropBuffer = true; // the device may still hold the buffer
            if (r.claim()) {
                replies.reply(r.fail(EIO, "device error: " + e.getClass().getSimpleName()));
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
            replies.reply(r);
        }
    }
}
