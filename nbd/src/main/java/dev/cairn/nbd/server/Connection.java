package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.ENOMEM;

import java.io.EOFException;
import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.channels.ClosedChannelException;
import java.time.Duration;

/**
 * One client connection: its lifecycle. The handshake ({@link Handshake}, within the server's
 * {@link HandshakeLimit}), then the transmission phase, then the drain and the close.
 *
 * <p>The request path reads like nbdkit's {@code protocol.c}: {@link RequestLoop} reads each header and
 * dispatches it to {@link RequestHandlers}, which check it and turn it into bios; each request's reply goes
 * through {@link InlineReplies} (written by the reader itself, or queued for the {@link ReplyWriter}, which
 * sends data inline or with sendfile); {@link ReaderThreads} moves the loop between the connection's virtual
 * thread and a platform thread while the client streams large WRITEs.
 *
 * <h2>Implementation notes</h2>
 * <b>Threads.</b> The connection's virtual thread negotiates, then runs the request loop (or waits for the
 * platform thread that runs it); a second virtual thread ({@link ReplyWriter}) writes replies. Each request
 * becomes one bio (two or more for a zero/trim longer than {@link RequestHandlers#MAX_BIO_BYTES}) whose
 * end-io is the {@link Request}: replies go out in completion order, not request order (the client matches
 * them by cookie).
 *
 * <p><b>Errors.</b> A bad request gets its errno and the connection goes on. The connection is dropped only
 * when the stream cannot be trusted any more: a bad request magic or a stream that ends inside a request; or
 * when the handshake is not done within the limit. Then in-flight requests still complete (their replies are
 * dropped) before the socket is closed.
 *
 * <p><b>Ending.</b> DISC, end of stream, {@link #stopReading} (export removed, server closing) all stop the
 * reader; the writer sends the replies of everything in flight, then the socket closes.
 *
 * <p>Thread safety: {@link #run} and the state it builds are confined to the connection's thread (the
 * request loop's state is handed to and from the streaming thread by {@link ReaderThreads});
 * {@link #stopReading}, {@link #forceClose}, {@link #stats} and the accessors run on any thread and touch only
 * volatile fields, the budget and the transport; the writer's callbacks ({@link #writeFailed},
 * {@link #writeCrashed}) close the transport.
 */
final class Connection implements Runnable {
    private static final System.Logger LOG = System.getLogger("dev.cairn.nbd.server");

    private final NbdServer server;
    private final NbdTransport transport;
    private final long id;
    private final InFlightBudget budget;
    private final WireReader in;
    /** The connection's own (virtual) thread: the handshake, then the request loop or a wait for the streaming reader. */
    private final Thread connectionThread;
    private final ReaderThreads readers;

    private volatile NbdExport export;
    private volatile boolean readerDone;
    private volatile boolean stopRequested;
    private ReplyWriter writer;
    private Thread writerThread;
    private InlineReplies replies;
    private RequestHandlers handlers;
    private RequestLoop loop;

    Connection(NbdServer server, NbdTransport transport, long id) {
        this.server = server;
        this.transport = transport;
        this.id = id;
        this.budget = new InFlightBudget(server.maxInFlightRequests(), server.maxInFlightBytes());
        this.in = new WireReader(transport);
        // happens-before: Thread.start (by the server) publishes this fully built connection to the thread.
        this.connectionThread = Thread.ofVirtual().name("nbd-conn-" + id).unstarted(this);
        this.readers = new ReaderThreads(connectionThread, "nbd-conn-" + id + "-stream");
    }

    /** The unstarted thread that runs this connection; the server starts it. */
    Thread connectionThread() {
        return connectionThread;
    }

    /** This connection's figures now. */
    ConnectionStats stats() {
        NbdExport e = export;
        return new ConnectionStats(id, transport.peer(), e == null ? null : e.name(), readerDone, budget.requests(),
                budget.waiting(), readers.switches(), transport.copiedFileRangeBytes());
    }

    @Override
    public void run() {
        try {
            // The export is set before the handshake's last reply (Handshake.run), so a client that acts on
            // that reply finds this connection counted, and before the check below: a removeExport racing
            // with us either sees this connection on the export (and stops it) or has removed the export
            // before we look (NbdServer.connectionCount).
            Handshake.Result agreed = negotiate();
            if (agreed == null) {
                return;
            }
            if (stopRequested || !server.isExported(export)) {
                return;
            }
            LOG.log(Level.DEBUG, () -> this + ": serving '" + export.name() + "' structured=" + agreed.structuredReplies());
            writer = new ReplyWriter(this, transport, budget, server.bufferPool(), agreed.structuredReplies());
            replies = new InlineReplies(readers, in, writer);
            handlers = new RequestHandlers(this, server, transport, budget, in, replies, export, agreed);
            loop = new RequestLoop(this, in, handlers, replies, readers, () -> stopRequested);
            writerThread = Thread.ofVirtual().name("nbd-writer-" + id).start(writer);
            readers.run(loop::run);
        } catch (Handshake.ProtocolException e) {
            LOG.log(Level.INFO, () -> this + ": dropped: " + e.getMessage());
        } catch (EOFException | ClosedChannelException e) {
            LOG.log(Level.DEBUG, () -> this + ": client went away: " + e);
        } catch (AllocationFailedException e) {
            LOG.log(Level.WARNING, () -> this + ": closing the connection: " + e.getMessage());
            if (!e.request.pieced) {
                handlers.finish(e.request.fail(ENOMEM, RequestHandlers.NO_MEMORY)); // a long WRITE's pieces end it themselves
            }
            // Everything it holds comes back as the writer drops its replies; a client that reads nothing
            // cannot keep the writer (and so the connection) waiting.
            transport.close();
        } catch (IOException e) {
            LOG.log(Level.DEBUG, () -> this + ": I/O error: " + e);
        } catch (RuntimeException | Error e) {
            server.internalError();
            LOG.log(Level.ERROR, () -> this + ": internal error", e);
            if (loop != null) {
                loop.endCurrent();
            }
        } finally {
            if (replies != null) {
                // Only after an exception inside a request can something be left here; the writer sends it.
                replies.queueAll();
            }
            readerDone = true;
            if (writer != null) {
                writer.wake();
                ReaderThreads.joinUninterruptibly(writerThread);
            }
            transport.close();
            server.connectionClosed(this);
        }
    }

    /**
     * The handshake within the server's {@link NbdServer#handshakeLimit}: null when the connection is to be
     * closed (ABORT, a bad client, the limit passed).
     */
    private Handshake.Result negotiate() throws IOException {
        Duration limitTime = server.handshakeLimit();
        HandshakeLimit limit = new HandshakeLimit(limitTime, transport, server::handshakeTimedOut, "nbd-handshake-" + id);
        Handshake.Result agreed;
        try {
            agreed = new Handshake(server, transport, in, e -> export = e).run();
        } catch (IOException | RuntimeException e) {
            if (limit.finish()) {
                throw e;
            }
            agreed = null; // the limit closed the socket under the handshake
        }
        if (!limit.finish()) {
            LOG.log(Level.INFO, () -> this + ": dropped: handshake not finished within " + limitTime);
            return null;
        }
        return agreed;
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

    @Override
    public String toString() {
        return "nbd#" + id + "[" + transport.peer() + "]";
    }
}
