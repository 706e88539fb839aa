package dev.cairn.nbd.server;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLEngineResult;
import javax.net.ssl.SSLEngineResult.HandshakeStatus;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLHandshakeException;

/**
 * TLS with X.509 certificates through the JDK's {@link SSLEngine} (TLS 1.3 and 1.2).
 *
 * <p>The writer wraps as many records as fit {@link #NET_OUT_RECORDS} packet buffers from the gathered
 * replies and sends them in one socket write. The reader unwraps into {@link #appIn}, or straight into the
 * caller's buffer when that is a heap buffer with room for a whole record.
 *
 * <p><b>Heap buffers.</b> The engine encrypts and decrypts inside the record buffers, and the JDK's AES-GCM
 * runs several times slower on direct buffers than on heap arrays (JDK 25 on this machine's Xeon, 16 KiB
 * records, warmed up: about 2.2 GB/s on heap, 0.4 GB/s direct). So every record buffer here is on the heap,
 * and decrypted data goes through a heap buffer on its way to a bio's native memory: one memory copy, much
 * cheaper than the slow cipher path. The socket copies heap buffers to its own direct buffer, another copy.
 *
 * <p>Thread safety: {@code SSLEngine} allows one thread in {@code wrap} and one in {@code unwrap} at a time.
 * {@link #netIn} and {@link #appIn} belong to the reader; {@link #netOut} and every {@code wrap} are guarded by
 * {@link #writeLock}, also when the reader must answer something (a key update, an alert).
 */
final class SslEngineTransport extends TlsTransport {
    /** Records the writer encrypts before one socket write (~128 KiB of TLS 1.3 records). */
    static final int NET_OUT_RECORDS = 8;
    /** Raw bytes read at once: several records, so a pipelining client costs fewer system calls. */
    static final int NET_IN_BYTES = 64 * 1024;
    private static final ByteBuffer EMPTY = ByteBuffer.allocate(0);

    private final SSLEngine engine;
    /** Raw bytes read and not yet unwrapped; read mode ({@code [position, limit)}). Reader only. */
    private ByteBuffer netIn;
    /** Plaintext unwrapped and not yet returned; read mode. Reader only. */
    private ByteBuffer appIn;
    /** Guarded by {@link #writeLock}. */
    private ByteBuffer netOut;
    private int packetBytes;
    private int appBytes;
    private boolean inboundDone;

    SslEngineTransport(NbdTransport raw, SSLEngine engine, ByteBuffer alreadyRead) {
        super(raw);
        this.engine = engine;
        var session = engine.getSession();
        packetBytes = session.getPacketBufferSize();
        appBytes = session.getApplicationBufferSize();
        netIn = ByteBuffer.allocate(Math.max(NET_IN_BYTES + packetBytes, alreadyRead.remaining()));
        netIn.put(alreadyRead).flip();
        appIn = ByteBuffer.allocate(appBytes).flip();
        netOut = ByteBuffer.allocate(NET_OUT_RECORDS * packetBytes);
    }

    @Override
    void handshake() throws IOException {
        engine.beginHandshake();
        while (true) {
            HandshakeStatus hs = engine.getHandshakeStatus();
            switch (hs) {
                case NEED_WRAP -> {
                    writeLock.lock();
                    try {
                        if (wrapControl() == SSLEngineResult.Status.CLOSED) {
                            throw new SSLHandshakeException("the TLS engine closed during the handshake");
                        }
                    } finally {
                        writeLock.unlock();
                    }
                }
                case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
                    appIn.compact();
                    SSLEngineResult r;
                    try {
                        r = unwrap(appIn);
                    } finally {
                        appIn.flip();
                    }
                    if (r == null) {
                        throw new EOFException("the peer closed the connection during the TLS handshake");
                    }
                    if (r.getStatus() == SSLEngineResult.Status.CLOSED) {
                        throw new SSLHandshakeException("the peer closed TLS during the handshake");
                    }
                    if (r.getStatus() == SSLEngineResult.Status.BUFFER_OVERFLOW) {
                        growAppIn();
                    }
                }
                case NEED_TASK -> runTasks();
                case FINISHED, NOT_HANDSHAKING -> {
                    var session = engine.getSession();
                    packetBytes = session.getPacketBufferSize();
                    appBytes = session.getApplicationBufferSize();
                    return;
                }
            }
        }
    }

    @Override
    String negotiated() {
        var s = engine.getSession();
        return s.getProtocol() + " " + s.getCipherSuite();
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        if (!dst.hasRemaining()) {
            return 0;
        }
        while (true) {
            if (appIn.hasRemaining()) {
                int n = Math.min(appIn.remaining(), dst.remaining());
                int limit = appIn.limit();
                appIn.limit(appIn.position() + n);
                dst.put(appIn);
                appIn.limit(limit);
                return n;
            }
            if (inboundDone) {
                return -1;
            }
            SSLEngineResult r;
            if (dst.hasArray() && dst.remaining() >= appBytes) {
                int before = dst.position();
                r = unwrap(dst);
                if (r == null) {
                    return -1;
                }
                afterUnwrap(r);
                if (dst.position() > before) {
                    return dst.position() - before;
                }
            } else {
                appIn.compact();
                try {
                    r = unwrap(appIn);
                } finally {
                    appIn.flip();
                }
                if (r == null) {
                    return -1;
                }
                afterUnwrap(r);
                if (r.getStatus() == SSLEngineResult.Status.BUFFER_OVERFLOW) {
                    growAppIn();
                }
            }
        }
    }

    @Override
    public int bufferedBytes() {
        return appIn.remaining() + netIn.remaining();
    }

    private void afterUnwrap(SSLEngineResult r) throws IOException {
        if (r.getStatus() == SSLEngineResult.Status.CLOSED) {
            // close_notify: the end of the client's stream. Replies still in flight may go out (TLS 1.3
            // half-close); under TLS 1.2 the engine closes both ways and they fail like on a reset socket.
            inboundDone = true;
        }
        HandshakeStatus hs = r.getHandshakeStatus();
        while (hs == HandshakeStatus.NEED_TASK || hs == HandshakeStatus.NEED_WRAP) {
            if (hs == HandshakeStatus.NEED_TASK) {
                runTasks();
            } else {
                writeLock.lock();
                try {
                    if (wrapControl() == SSLEngineResult.Status.CLOSED) {
                        return;
                    }
                } finally {
                    writeLock.unlock();
                }
            }
            hs = engine.getHandshakeStatus();
        }
    }

    /** One unwrap into {@code dst} (write mode), reading from the socket as needed; null at end of stream. */
    private SSLEngineResult unwrap(ByteBuffer dst) throws IOException {
        while (true) {
            SSLEngineResult r;
            try {
                r = engine.unwrap(netIn, dst);
            } catch (SSLException e) {
                sendAlertQuietly();
                throw e;
            }
            if (r.getStatus() != SSLEngineResult.Status.BUFFER_UNDERFLOW) {
                return r;
            }
            if (!fill()) {
                return null;
            }
        }
    }

    /** Reads more raw bytes after the unconsumed ones; false at end of stream. */
    private boolean fill() throws IOException {
        if (netIn.remaining() == netIn.capacity() || netIn.capacity() - netIn.remaining() < packetBytes) {
            ByteBuffer bigger = ByteBuffer.allocate(netIn.remaining() + NET_IN_BYTES + packetBytes);
            bigger.put(netIn).flip();
            netIn = bigger;
        }
        netIn.compact();
        try {
            return raw.read(netIn) >= 0;
        } finally {
            netIn.flip();
        }
    }

    private void growAppIn() {
        appBytes = Math.max(appBytes, engine.getSession().getApplicationBufferSize());
        ByteBuffer bigger = ByteBuffer.allocate(appIn.remaining() + appBytes);
        bigger.put(appIn).flip();
        appIn = bigger;
    }

    /** Wraps and sends what the engine has to say by itself (handshake, alert, close_notify). Under writeLock. */
    private SSLEngineResult.Status wrapControl() throws IOException {
        SSLEngineResult.Status status;
        do {
            netOut.clear();
            SSLEngineResult r = engine.wrap(EMPTY, netOut);
            status = r.getStatus();
            if (status == SSLEngineResult.Status.BUFFER_OVERFLOW) {
                netOut = ByteBuffer.allocate(Math.max(netOut.capacity() * 2, engine.getSession().getPacketBufferSize()));
                continue;
            }
            netOut.flip();
            writeRaw(netOut);
            if (r.getHandshakeStatus() == HandshakeStatus.NEED_TASK) {
                runTasks();
            }
            if (r.bytesProduced() == 0 || r.getHandshakeStatus() != HandshakeStatus.NEED_WRAP) {
                break;
            }
        } while (status != SSLEngineResult.Status.CLOSED);
        return status;
    }

    /** After a failed unwrap the engine holds an alert for the client; send it if the socket still takes it. */
    private void sendAlertQuietly() {
        writeLock.lock();
        try {
            if (engine.getHandshakeStatus() == HandshakeStatus.NEED_WRAP) {
                wrapControl();
            }
        } catch (IOException | RuntimeException e) {
            // the client is gone: the original failure is what matters
        } finally {
            writeLock.unlock();
        }
    }

    private void runTasks() {
        Runnable task;
        while ((task = engine.getDelegatedTask()) != null) {
            task.run();
        }
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        writeLock.lock();
        try {
            long consumed = 0;
            netOut.clear();
            int from = offset;
            int end = offset + length;
            while (netOut.remaining() >= packetBytes) {
                while (from < end && !srcs[from].hasRemaining()) {
                    from++;
                }
                if (from == end) {
                    break;
                }
                SSLEngineResult r = engine.wrap(srcs, from, end - from, netOut);
                if (r.getStatus() == SSLEngineResult.Status.CLOSED) {
                    throw new ClosedChannelException();
                }
                if (r.getStatus() == SSLEngineResult.Status.BUFFER_OVERFLOW) {
                    if (netOut.position() == 0) {
                        packetBytes = engine.getSession().getPacketBufferSize();
                        netOut = ByteBuffer.allocate(NET_OUT_RECORDS * packetBytes);
                        continue;
                    }
                    break;
                }
                consumed += r.bytesConsumed();
                if (r.getHandshakeStatus() == HandshakeStatus.NEED_TASK) {
                    runTasks();
                }
            }
            netOut.flip();
            writeRaw(netOut);
            return consumed;
        } finally {
            writeLock.unlock();
        }
    }

    @Override
    void sendCloseNotify() throws IOException {
        engine.closeOutbound();
        wrapControl();
    }
}
