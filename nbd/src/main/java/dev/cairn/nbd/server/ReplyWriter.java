package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.*;

import com.google.errorprone.annotations.concurrent.GuardedBy;
import dev.cairn.block.SpliceSink;
import dev.cairn.nbd.protocol.NbdWire;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The thread that writes replies of a connection. Completions (on any thread) queue their request
 * and return at once, so a slow client never stalls a device's completion thread; the writer drains the
 * queue in batches, packs every header of a batch into one direct buffer and sends headers and data
 * buffers with a single gathering write. A READ that a store answered by reference ({@link SpliceSink})
 * has, in place of (some of) its data, a memory store's pages, which go into the gathering write as they
 * are, or ranges of a file: the batch is then written as gathering writes between
 * {@link NbdTransport#sendFile} calls, in order. After a batch is on the wire it
 * gives the requests' budget back, releases their splice sinks and returns their buffers to the pool.
 *
 * <p>If the client goes away, the writer keeps draining (without writing) until the reader has stopped and
 * every in-flight request has completed, so no buffer or budget is lost and no buffer is reused while a
 * device may still touch it.
 *
 * <p>The connection's reader may write replies itself ({@link #tryWriteInline}, see {@link Connection}):
 * it takes {@link #writeLock}, which the writer also holds for each batch, so the two never interleave
 * bytes on the socket and share the header buffer, the iov array and {@link #broken}. The reader never
 * waits for the lock (it queues the reply instead), and its reply never passes through the queue, so the
 * writer's parking and waking are the same as without it and each reply is written by exactly one of them.
 * A transport error while the reader writes takes the writer's path ({@link Connection#writeFailed}).
 *
 * <p>Parking and locking use {@link LockSupport} and a plain {@link ReentrantLock}, not block-layer
 * primitives: neither thread holds parked bios while it waits here (the writer never submits, and the
 * reader writes only after its {@code submit} has returned).
 *
 * <p>Thread safety: {@link #enqueue} and {@link #wake} from any thread; {@link #tryWriteInline} from the
 * connection's reader; the batch state (headers, iov, batch, broken) is guarded by {@link #writeLock}.
 */
final class ReplyWriter implements Runnable {
    private static final int HEADER_SPACE = 128 * 1024;
    private static final int MAX_IOV = 512;
    private static final int MAX_BATCH = 256;

    private final Connection connection;
    private final NbdTransport transport;
    private final InFlightBudget budget;
    private final BufferPool pool;
    private final boolean structured;
    private final ConcurrentLinkedQueue<Request> queue = new ConcurrentLinkedQueue<>();
    private volatile Thread waiter;
    /** Held while a batch is encoded, written and released, by the writer or by an inline reply. */
    private final ReentrantLock writeLock = new ReentrantLock();

    @GuardedBy("writeLock")

    private final ByteBuffer headers = ByteBuffer.allocateDirect(HEADER_SPACE);
    @GuardedBy("writeLock")
    private final ByteBuffer[] iov = new ByteBuffer[MAX_IOV];
    /** Where {@code iov[i]} is null, entry i is a range of a file, sent with {@link NbdTransport#sendFile}. */
    @GuardedBy("writeLock")
    private final FileChannel[] fileOf = new FileChannel[MAX_IOV];
    @GuardedBy("writeLock")
    private final long[] filePositionOf = new long[MAX_IOV];
    @GuardedBy("writeLock")
    private final long[] fileLengthOf = new long[MAX_IOV];
    @GuardedBy("writeLock")
    private final Request[] batch = new Request[MAX_BATCH];
    @GuardedBy("writeLock")
    private int iovCount;
    @GuardedBy("writeLock")
    private int runStart;
    /** The transport failed: replies are dropped (their buffers and budget still released). */
    @GuardedBy("writeLock")
    private boolean broken;

    ReplyWriter(Connection connection, NbdTransport transport, InFlightBudget budget, BufferPool pool, boolean structured) {
        this.connection = connection;
        this.transport = transport;
        this.budget = budget;
        this.pool = pool;
        this.structured = structured;
    }

    void enqueue(Request r) {
        if (r.type == CMD_READ && r.error == 0 && r.replyDataBytes > 0 && (r.splice == null || r.splice.count() == 0)) {
            // copied into r.buffer (not sent by reference): counts against the reader's read-ahead
            r.queuedReadBytes = r.replyDataBytes;
            budget.readQueued(r.queuedReadBytes);
        }
        queue.offer(r);
        // happens-before: the offer above precedes this read; the writer sets waiter before re-polling.
        Thread w = waiter;
        if (w != null) {
            LockSupport.unpark(w);
        }
    }

    void wake() {
        Thread w = waiter;
        if (w != null) {
            LockSupport.unpark(w);
        }
    }

    /**
     * Writes the replies of {@code replies} on the calling thread (the connection's reader) as one batch,
     * unless replies are queued, the writer is busy or they do not fit one batch: then it returns false and
     * the caller queues them. True means every reply was written (or dropped on a broken transport) and
     * its buffer and budget released.
     */
    // The lock is held from the successful tryLock in the condition to the finally; Error Prone's
    // GuardedBy analysis does not follow a tryLock, so it would call every access below unguarded.
    @SuppressWarnings("GuardedBy")
    boolean tryWriteInline(List<Request> replies) {
        if (!fitsOneBatch(replies) || !queue.isEmpty() || !writeLock.tryLock()) {
            return false;
        }
        try {
            startBatch();
            int n = 0;
            for (Request r : replies) {
                batch[n++] = r;
                if (!broken) {
                    encode(r);
                }
            }
            send(n);
        } finally {
            writeLock.unlock();
        }
        return true;
    }

    private boolean fitsOneBatch(List<Request> replies) {
        if (replies.size() > MAX_BATCH) {
            return false;
        }
        int headerBytes = 0;
        int iovEntries = 0;
        for (Request r : replies) {
            headerBytes += headerBytes(r);
            iovEntries += iovEntries(r);
        }
        return headerBytes <= HEADER_SPACE && iovEntries <= MAX_IOV;
    }

    @Override
    public void run() {
        while (true) {
            if (queue.isEmpty()) {
                if (connection.readerDone() && budget.requests() == 0 && queue.isEmpty()) {
                    return;
                }
                waiter = Thread.currentThread();
                if (queue.isEmpty() && !(connection.readerDone() && budget.requests() == 0)) {
                    LockSupport.park(this);
                }
                waiter = null;
                continue;
            }
            writeLock.lock();
            try {
                writeBatch();
            } finally {
                writeLock.unlock();
            }
        }
    }

    @GuardedBy("writeLock")
    private void startBatch() {
        headers.clear();
        iovCount = 0;
        runStart = 0;
    }

    @GuardedBy("writeLock")
    private void writeBatch() {
        startBatch();
        int n = 0;
        Request r;
        while (n < MAX_BATCH && (r = queue.peek()) != null) {
            if (n > 0 && (headers.remaining() < headerBytes(r) || iovCount + iovEntries(r) > MAX_IOV)) {
                break;
            }
            queue.poll();
            batch[n++] = r;
            if (!broken) {
                encode(r);
            }
        }
        send(n);
    }

    /**
     * Writes the encoded replies of {@code batch[0, n)}, then releases their buffers and budget, whatever
     * the transport did: a reply's buffer goes back to the pool exactly once, here.
     */
    @GuardedBy("writeLock")
    private void send(int n) {
        closeRun();
        try {
            if (!broken) {
                try {
                    int from = 0;
                    while (from < iovCount) {
                        if (iov[from] == null) {
                            transport.sendFile(fileOf[from], filePositionOf[from], fileLengthOf[from]);
                            from++;
                            continue;
                        }
                        int to = from + 1;
                        while (to < iovCount && iov[to] != null) {
                            to++;
                        }
                        transport.write(iov, from, to - from);
                        while (from < to && !iov[from].hasRemaining()) {
                            from++;
                        }
                    }
                } catch (IOException e) {
                    broken = true;
                    connection.writeFailed(e);
                } catch (RuntimeException e) {
                    // A bug below us, not the client. The writer must live on (it releases every buffer and
                    // the budget, and the reader may be waiting on that budget), so end the connection as
                    // for a failed write, and count and log the bug.
                    broken = true;
                    connection.writeCrashed(e);
                }
            }
        } finally {
            for (int i = 0; i < n; i++) {
                release(batch[i]);
                batch[i] = null;
            }
            for (int i = 0; i < iovCount; i++) {
                iov[i] = null;
                fileOf[i] = null;
            }
        }
    }

    private void release(Request r) {
        if (r.splice != null) {
            r.splice.release(); // after the file ranges were sent, or dropped: the stores may close
            r.splice = null;
        }
        if (r.buffer != null) {
            if (r.dropBuffer) {
                pool.abandon(r.buffer);
            } else {
                pool.release(r.buffer);
            }
        }
        r.buffer = null;
        budget.release(r.budgetBytes, r.queuedReadBytes);
        r.queuedReadBytes = 0;
    }

    /** Upper bound of the header bytes {@link #encode} writes for {@code r}. */
    private int headerBytes(Request r) {
        if (r.error != 0) {
            return structured ? NbdWire.errorChunkBytes(message(r)) : SIMPLE_REPLY_BYTES;
        }
        if (r.type == CMD_READ && structured) {
            return r.extents == null ? CHUNK_HEADER_BYTES + 8 : r.extentCount * (CHUNK_HEADER_BYTES + 12);
        }
        if (r.type == CMD_BLOCK_STATUS) {
            return CHUNK_HEADER_BYTES;
        }
        return SIMPLE_REPLY_BYTES;
    }

    /**
     * Upper bound of the iov entries {@link #encode} uses for {@code r}: a header run and a data entry per
     * chunk; with referenced pieces, a chunk's data is its pieces with memory around them (2k + 1 entries
     * for k pieces), and a chunk boundary may cut a piece in two, so the chunks see at most pieces + chunks
     * of them. At most {@link #maxIovEntries}, which fits one batch.
     */
    static int iovEntries(int chunks, int pieces) {
        return pieces == 0 ? 2 * chunks : 4 * chunks + 2 * pieces;
    }

    /** The most iov entries one reply can take: a reply always fits a batch of its own. */
    static int maxIovEntries() {
        return iovEntries(RequestHandlers.MAX_READ_EXTENTS, SpliceSink.MAX_PIECES);
    }

    static int maxIov() {
        return MAX_IOV;
    }

    private int iovEntries(Request r) {
        return iovEntries(r.extents == null ? 1 : r.extentCount, r.splice == null ? 0 : r.splice.count());
    }

    private static String message(Request r) {
        return r.message == null ? "" : r.message;
    }

    @GuardedBy("writeLock")
    private void encode(Request r) {
        boolean structuredReply = structured && (r.type == CMD_READ || r.type == CMD_BLOCK_STATUS);
        if (r.error != 0) {
            if (structuredReply) {
                NbdWire.putErrorChunk(headers, r.cookie, r.error, message(r));
            } else {
                NbdWire.putSimpleReply(headers, r.error, r.cookie);
            }
            return;
        }
        switch (r.type) {
            case CMD_READ -> {
                if (!structured) {
                    NbdWire.putSimpleReply(headers, 0, r.cookie);
                    addReadData(r, 0, r.replyDataBytes);
                } else if (r.extents == null) {
                    NbdWire.putChunkHeader(headers, REPLY_FLAG_DONE, REPLY_TYPE_OFFSET_DATA, r.cookie, 8 + r.lengthBytes);
                    headers.putLong(r.offsetBytes);
                    addReadData(r, 0, r.lengthBytes);
                } else {
                    encodeSparseRead(r);
                }
            }
            case CMD_BLOCK_STATUS -> {
                NbdWire.putChunkHeader(headers, REPLY_FLAG_DONE, REPLY_TYPE_BLOCK_STATUS, r.cookie, r.replyDataBytes);
                addData(r.buffer.bytes(r.replyDataBytes));
            }
            default -> NbdWire.putSimpleReply(headers, 0, r.cookie);
        }
    }

    /** One chunk per extent: OFFSET_HOLE for zero runs, OFFSET_DATA (a slice of the read buffer) for data. */
    @GuardedBy("writeLock")
    private void encodeSparseRead(Request r) {
        int at = 0;
        for (int i = 0; i < r.extentCount; i++) {
            int e = r.extents[i];
            int flags = i == r.extentCount - 1 ? REPLY_FLAG_DONE : 0;
            if (e < 0) {
                NbdWire.putChunkHeader(headers, flags, REPLY_TYPE_OFFSET_HOLE, r.cookie, 12);
                headers.putLong(r.offsetBytes + at).putInt(-e);
                at += -e;
            } else {
                NbdWire.putChunkHeader(headers, flags, REPLY_TYPE_OFFSET_DATA, r.cookie, 8 + e);
                headers.putLong(r.offsetBytes + at);
                addReadData(r, at, e);
                at += e;
            }
        }
    }

    /**
     * The read data {@code [from, from + lengthBytes)}: from the buffer, except for the ranges a file store
     * referenced ({@link Request#splice}), which are sent from the file.
     */
    @GuardedBy("writeLock")
    private void addReadData(Request r, int from, int lengthBytes) {
        SpliceSink sink = r.splice;
        int pieces = sink == null ? 0 : sink.count();
        if (pieces == 0) {
            addData(from == 0 && lengthBytes == r.lengthBytes ? r.buffer.bytes(lengthBytes)
                    : slice(r, from, lengthBytes));
            return;
        }
        long at = from;
        long end = from + (long) lengthBytes;
        for (int i = 0; i < pieces && at < end; i++) {
            SpliceSink.Piece p = sink.piece(i);
            long pieceEnd = p.offsetBytes() + p.lengthBytes();
            if (pieceEnd <= at) {
                continue;
            }
            if (p.offsetBytes() >= end) {
                break;
            }
            if (p.offsetBytes() > at) {
                addData(slice(r, (int) at, (int) (p.offsetBytes() - at)));
                at = p.offsetBytes();
            }
            long take = Math.min(end, pieceEnd) - at;
            long into = at - p.offsetBytes();
            switch (p) {
                case SpliceSink.FileRange f -> addFile(f.channel(), f.positionBytes() + into, take);
                case SpliceSink.MemoryRange m -> addData(m.memory().asSlice(into, take).asByteBuffer());
            }
            at += take;
        }
        if (at < end) {
            addData(slice(r, (int) at, (int) (end - at)));
        }
    }

    /**
     * {@code [from, from + lengthBytes)} of the request's read buffer. The pooled buffer's NIO view keeps the
     * limit of its previous use, and {@code slice(index, length)} is bounded by the limit: reset it to this
     * request's length first, or a gap after a smaller earlier read throws (and the writer thread dies).
     */
    private static ByteBuffer slice(Request r, int from, int lengthBytes) {
        return r.buffer.bytes(r.lengthBytes).slice(from, lengthBytes);
    }

    @GuardedBy("writeLock")
    private void addFile(FileChannel file, long positionBytes, long lengthBytes) {
        closeRun();
        fileOf[iovCount] = file;
        filePositionOf[iovCount] = positionBytes;
        fileLengthOf[iovCount] = lengthBytes;
        iov[iovCount++] = null;
    }

    @GuardedBy("writeLock")
    private void addData(ByteBuffer data) {
        closeRun();
        iov[iovCount++] = data;
    }

    /** Consecutive headers share one iov entry; a data buffer ends the run. */
    @GuardedBy("writeLock")
    private void closeRun() {
        int pos = headers.position();
        if (pos > runStart) {
            iov[iovCount++] = headers.slice(runStart, pos - runStart);
        }
        runStart = pos;
    }
}
