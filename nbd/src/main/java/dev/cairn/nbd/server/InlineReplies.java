package dev.cairn.nbd.server;

import java.util.ArrayList;
import java.util.List;

/**
 * Where a claimed request's reply goes: to the {@link ReplyWriter}'s queue, or, when it completed on the
 * reader's own thread, written by the reader itself once the request's submission has returned.
 *
 * <p>A request that completes on the reader's own thread (an inline store such as {@code MemoryStore}, dm
 * over one, an error found while validating, a BLOCK_STATUS) is not handed to the writer at once:
 * {@link #reply} parks it in {@link #completedOnReader}, and after the request's {@code submit} has returned
 * the reader writes the reply itself ({@link #flush}) when the client has nothing more buffered and the
 * writer is idle ({@link ReplyWriter#tryWriteInline}), at any queue depth. Handing it to the writer would
 * cost an unpark of the writer and a park of the reader per request: at depth 1 the whole cost of a request
 * (docs/benchmarks/harness-history.md: 4k randread qd1 14.5k to 27.2k IOPS, 54 to 24 µs of server CPU each);
 * under nbdcopy (16 requests in flight per connection, each arriving on its own) about a tenth of the
 * server's CPU per GiB written. The write waits until {@code submit} has returned because the completion
 * runs inside {@code Submitter.submit}, in the device's make_request: blocking on the socket there would hold
 * up whatever the submission still has queued on this thread. When the client has already sent part of its
 * next request, the writer takes the reply, so it can batch, and the reader goes back to reading at once.
 * While the reader writes it does not read: like nbd-server, which reads and replies on one thread, this
 * expects a client to read replies while it sends (libnbd, qemu and the kernel's client do; a client that
 * does not can stall against the in-flight budget anyway); the read-ahead check and the reply size bound
 * ({@link #MAX_INLINE_REPLY_BYTES}) keep a client that is in the middle of sending from waiting on a reader
 * that waits on it.
 *
 * <p>Thread safety: {@link #reply} from any thread; {@link #completedOnReader} is touched only on the reader's
 * thread of the moment ({@link ReaderThreads#onReader}), and {@link #flush} and {@link #queueAll} run there
 * (or on the connection's thread after the loop's thread was joined). Each entry goes either to
 * {@link ReplyWriter#tryWriteInline} or to the queue, never both.
 */
final class InlineReplies {
    /**
     * The largest reply payload the reader writes itself. A reply that fits the socket's send buffer (4 MiB,
     * {@link SocketTransport}) with room to spare goes out without waiting for the client, so the reader
     * cannot stall against a client that is still sending; larger replies gain nothing from skipping the
     * hand-off (its cost is per request, the copy is per byte) and go to the writer.
     */
    static final int MAX_INLINE_REPLY_BYTES = 256 * 1024;

    private final ReaderThreads readers;
    private final WireReader in;
    private final ReplyWriter writer;
    /** Requests that completed on the reader's own thread during the current request. */
    private final List<Request> completedOnReader = new ArrayList<>(4);

    InlineReplies(ReaderThreads readers, WireReader in, ReplyWriter writer) {
        this.readers = readers;
        this.in = in;
        this.writer = writer;
    }

    /**
     * Hands a claimed request's reply on: from another thread to the writer's queue; on the reader's own
     * thread to {@link #completedOnReader} (this may be deep inside {@code Submitter.submit}).
     */
    void reply(Request r) {
        if (readers.onReader()) {
            completedOnReader.add(r);
        } else {
            writer.enqueue(r);
        }
    }

    /**
     * Sends the replies that completed on this thread while the last request was handled: written here when
     * nothing of the next request is buffered and the writer is idle, else queued for the writer. Called by
     * the reader outside any bio submission.
     */
    void flush() {
        if (completedOnReader.isEmpty()) {
            return;
        }
        // Buffered bytes mean the client pipelines: the reader goes back to parsing and the writer batches.
        // Otherwise the reader is about to make a system call anyway, and writing the replies itself saves
        // waking the writer, whatever the queue depth (the writer must be idle: tryWriteInline).
        if (in.buffered() == 0 && replyBytes() <= MAX_INLINE_REPLY_BYTES && writer.tryWriteInline(completedOnReader)) {
            completedOnReader.clear();
            return;
        }
        queueAll();
    }

    /** Queues every parked reply for the writer (when the loop ends, the writer sends them). */
    void queueAll() {
        for (Request r : completedOnReader) {
            writer.enqueue(r);
        }
        completedOnReader.clear();
    }

    private long replyBytes() {
        long bytes = 0;
        for (Request r : completedOnReader) {
            bytes += r.replyDataBytes;
        }
        return bytes;
    }
}
