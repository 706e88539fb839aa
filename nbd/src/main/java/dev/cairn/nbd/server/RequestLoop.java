package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.*;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.util.function.BooleanSupplier;

/**
 * The request loop of one connection, as nbdkit's {@code protocol_recv_request_send_reply}: read a request
 * header, check its magic, dispatch it to its handler ({@link RequestHandlers}), then send what completed on
 * this thread ({@link InlineReplies#flush}) and let {@link ReaderThreads} decide whether the loop moves to
 * the other kind of thread.
 *
 * <p>Errors: a bad request gets its errno from its handler and the loop goes on; a bad request magic
 * throws ({@link Handshake.ProtocolException}): the stream cannot be trusted any more and the connection
 * drops.
 *
 * <p>Thread safety: {@link #run} runs on one thread at a time, the reader of the moment ({@link ReaderThreads}
 * hands it over by thread start and join); {@link #endCurrent} runs on the connection's thread after the loop
 * threw and its thread, if another, was joined.
 */
final class RequestLoop {
    private static final System.Logger LOG = System.getLogger("dev.cairn.nbd.server");

    private final Connection connection;
    private final WireReader in;
    private final RequestHandlers handlers;
    private final InlineReplies replies;
    private final ReaderThreads readers;
    private final BooleanSupplier stopRequested;
    /**
     * The request being handled, from its header until its handler returns; read by {@link #endCurrent} after
     * the loop threw.
     */
    private Request current;

    RequestLoop(Connection connection, WireReader in, RequestHandlers handlers, InlineReplies replies,
            ReaderThreads readers, BooleanSupplier stopRequested) {
        this.connection = connection;
        this.in = in;
        this.handlers = handlers;
        this.replies = replies;
        this.readers = readers;
        this.stopRequested = stopRequested;
    }

    /**
     * Reads, validates and submits requests until the client is done (false) or the loop should move to the
     * other kind of thread (true).
     */
    boolean run() throws IOException {
        while (!stopRequested.getAsBoolean()) {
            if (!in.ensure(REQUEST_HEADER_BYTES)) {
                return false;
            }
            int magic = in.getInt();
            int flags = in.getUnsignedShort();
            int type = in.getUnsignedShort();
            long cookie = in.getLong();
            long offsetBytes = in.getLong();
            int lengthBytes = in.getInt();
            if (magic != REQUEST_MAGIC) {
                throw new Handshake.ProtocolException("request magic: 0x" + Integer.toHexString(magic)
                        + " (expected: 0x" + Integer.toHexString(REQUEST_MAGIC) + ")");
            }
            if (type == CMD_DISC) {
                LOG.log(Level.DEBUG, () -> connection + ": DISC");
                return false;
            }
            Request r = new Request(handlers, type, flags, cookie, offsetBytes, lengthBytes);
            current = r;
            dispatch(r);
            current = null;
            replies.flush();
            if (readers.afterRequest(type, lengthBytes)) {
                return true;
            }
        }
        return false;
    }

    private void dispatch(Request r) throws IOException {
        switch (r.type) {
            case CMD_READ -> handlers.read(r);
            case CMD_WRITE -> handlers.write(r);
            case CMD_FLUSH -> handlers.flush(r);
            case CMD_TRIM -> handlers.trim(r);
            case CMD_CACHE -> handlers.cache(r);
            case CMD_WRITE_ZEROES -> handlers.writeZeroes(r);
            case CMD_BLOCK_STATUS -> handlers.blockStatus(r);
            default -> handlers.reject(r, EINVAL, "unknown command " + r.type);
        }
    }

    /**
     * After an unexpected exception inside a request: a request that holds a share of the in-flight budget
     * but was never answered would keep the writer waiting for it for ever, and with it the connection
     * (issue 22: a reader parked in the join, the writer in its loop, the socket in CLOSE-WAIT). It is
     * answered EIO here; if the device got it after all, its completion finds the reply claimed, and its
     * buffer is never reused (the device may still hold it).
     */
    void endCurrent() {
        Request r = current;
        current = null;
        if (r != null && r.acquired && !r.pieced) {
            r.dropBuffer = true;
            handlers.finish(r.fail(EIO, "internal error"));
        }
    }
}
