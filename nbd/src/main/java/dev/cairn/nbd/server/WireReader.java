package dev.cairn.nbd.server;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Buffered reads from a connection: headers are parsed from a read-ahead window so a pipelining
 * client's requests cost one system call per batch, not one per header. A large payload goes straight
 * into the caller's (bio's) buffer; only the bytes that already arrived in the window with a header are
 * copied, at most {@link #WINDOW_BYTES}. A small payload ({@link #SMALL_PAYLOAD_BYTES} or less) whose end
 * has not arrived with it is read through the window too, so the same system call also fetches the
 * requests queued behind it: 4 KiB writes at queue depth 32 used to cost a read per window and another
 * for the payload it cut, each of which could find the socket empty and park the reader (2.3 context
 * switches and 31 us of server CPU per write against 0.7 and 11 us per read; docs/benchmarks/harness.md,
 * "Writes at depth").
 *
 * <p>Thread safety: confined to the connection's reader thread.
 */
final class WireReader {
    static final int WINDOW_BYTES = 128 * 1024;
    /** Payloads up to this size are read through the window (see above). */
    static final int SMALL_PAYLOAD_BYTES = 16 * 1024;

    private final NbdTransport transport;
    /** Unread bytes are {@code [position, limit)}. */
    private final ByteBuffer window = ByteBuffer.allocateDirect(WINDOW_BYTES).flip();

    WireReader(NbdTransport transport) {
        this.transport = transport;
    }

    /**
     * Makes at least {@code n} bytes available. Returns false on a clean end of stream (no byte of the
     * next item arrived); throws {@link EOFException} when the stream ends inside it.
     */
    boolean ensure(int n) throws IOException {
        if (window.remaining() >= n) {
            return true;
        }
        window.compact();
        try {
            while (window.position() < n) {
                if (transport.read(window) < 0) {
                    if (window.position() == 0) {
                        return false;
                    }
                    throw new EOFException("stream ended after " + window.position() + " of " + n + " bytes");
                }
            }
        } finally {
            window.flip();
        }
        return true;
    }

    /** Like {@link #ensure} but a clean end of stream is an error too. */
    void require(int n) throws IOException {
        if (!ensure(n)) {
            throw new EOFException("stream ended before " + n + " expected bytes");
        }
    }

    /**
     * Bytes already read from the stream and not yet consumed (the start of a pipelined request), including
     * what the transport holds back (TLS records read ahead).
     */
    int buffered() {
        return window.remaining() + transport.bufferedBytes();
    }

    /**
     * Hands over the bytes read ahead and not consumed, leaving the window empty: after STARTTLS they are the
     * start of the client's TLS handshake, which the TLS engine must see.
     */
    ByteBuffer takeBuffered() {
        ByteBuffer copy = ByteBuffer.allocate(window.remaining());
        copy.put(window).flip();
        return copy;
    }

    ByteBuffer window() {
        return window;
    }

    int getInt() {
        return window.getInt();
    }

    long getLong() {
        return window.getLong();
    }

    int getUnsignedShort() {
        return Short.toUnsignedInt(window.getShort());
    }

    /**
     * Fills {@code dst} completely: first from the window, then (the rest of a small payload) through a
     * refilled window, or (a large one) directly from the stream.
     */
    void readFully(ByteBuffer dst) throws IOException {
        copyFromWindow(dst);
        if (dst.hasRemaining() && dst.remaining() <= SMALL_PAYLOAD_BYTES) {
            int missing = dst.remaining();
            if (!ensure(missing)) {
                throw new EOFException("stream ended with " + missing + " payload bytes missing");
            }
            copyFromWindow(dst);
        }
        while (dst.hasRemaining()) {
            if (transport.read(dst) < 0) {
                throw new EOFException("stream ended with " + dst.remaining() + " payload bytes missing");
            }
        }
    }

    private void copyFromWindow(ByteBuffer dst) {
        int buffered = Math.min(window.remaining(), dst.remaining());
        if (buffered > 0) {
            int limit = window.limit();
            window.limit(window.position() + buffered);
            dst.put(window);
            window.limit(limit);
        }
    }

    /** Reads and drops {@code n} bytes (an unwanted payload), without allocating. */
    void skip(long n) throws IOException {
        long left = n;
        while (left > 0) {
            if (!window.hasRemaining()) {
                require(1);
            }
            int k = (int) Math.min(left, window.remaining());
            window.position(window.position() + k);
            left -= k;
        }
    }
}
