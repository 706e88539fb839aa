package dev.cairn.nbd.server;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Supplier;
import org.bouncycastle.tls.TlsClientProtocol;
import org.bouncycastle.tls.TlsProtocol;
import org.bouncycastle.tls.TlsServerProtocol;

/**
 * TLS with pre-shared keys through Bouncy Castle's non-blocking {@link TlsServerProtocol} (the JDK has no
 * TLS-PSK): raw bytes go in with {@code offerInput}, records come out with {@code readOutput}. The NBD client
 * ({@link TlsClientChannel}) runs the same transport over a {@link TlsClientProtocol}.
 *
 * <p>Thread safety: {@link #protocolLock} guards {@link #protocol} and is never held during socket I/O. Output
 * is taken from the protocol only under {@link #writeLock} (lock order: writeLock, then protocolLock), so records
 * reach the socket in the order the protocol made them, whether the writer (replies) or the reader (an alert, a
 * key update) drains them. {@link #rawIn} belongs to the reader; {@link #plain} and {@link #netOut} to the
 * holder of {@link #writeLock}.
 */
final class PskTlsTransport extends TlsTransport {
    /** Plaintext handed to the protocol at once by the writer, and raw bytes read at once by the reader. */
    static final int CHUNK_BYTES = 64 * 1024;

    private final TlsProtocol protocol;
    private final Starter starter;
    private final Supplier<String> negotiated;
    private final ReentrantLock protocolLock = new ReentrantLock();
    private final byte[] rawIn = new byte[CHUNK_BYTES];
    private final ByteBuffer rawInBuffer = ByteBuffer.wrap(rawIn);
    private final byte[] plain = new byte[CHUNK_BYTES];
    private final ByteBuffer netOut = ByteBuffer.allocateDirect(CHUNK_BYTES);
    private ByteBuffer alreadyRead;

    /** Starts the protocol's handshake in non-blocking mode (queues its first records, if any). */
    @FunctionalInterface
    private interface Starter {
        void start(TlsProtocol protocol) throws IOException;
    }

    PskTlsTransport(NbdTransport raw, PskServer server, ByteBuffer alreadyRead) {
        this(raw, new TlsServerProtocol(), p -> ((TlsServerProtocol) p).accept(server), server::negotiated, alreadyRead);
    }

    /** The client side: sends the ClientHello first; nothing was read ahead. */
    PskTlsTransport(NbdTransport raw, PskClient client) {
        this(raw, new TlsClientProtocol(), p -> ((TlsClientProtocol) p).connect(client), client::negotiated,
                ByteBuffer.allocate(0));
    }

    private PskTlsTransport(NbdTransport raw, TlsProtocol protocol, Starter starter, Supplier<String> negotiated,
            ByteBuffer alreadyRead) {
        super(raw);
        this.protocol = protocol;
        this.starter = starter;
        this.negotiated = negotiated;
        this.alreadyRead = alreadyRead;
    }

    @Override
    void handshake() throws IOException {
        protocolLock.lock();
        try {
            starter.start(protocol);
        } finally {
            protocolLock.unlock();
        }
        if (alreadyRead.hasRemaining()) {
            byte[] early = new byte[alreadyRead.remaining()];
            alreadyRead.get(early);
            offer(early, early.length);
        }
        alreadyRead = null;
        flushOutput();
        while (handshaking()) {
            int n = readRaw();
            if (n < 0) {
                throw new EOFException("the peer closed the connection during the TLS handshake");
            }
            offer(rawIn, n);
            flushOutput();
        }
        protocolLock.lock();
        try {
            if (protocol.isClosed()) {
                throw new EOFException("the peer closed TLS during the handshake");
            }
        } finally {
            protocolLock.unlock();
        }
    }

    private boolean handshaking() {
        protocolLock.lock();
        try {
            return protocol.isHandshaking() && !protocol.isClosed();
        } finally {
            protocolLock.unlock();
        }
    }

    @Override
    String negotiated() {
        return negotiated.get();
    }

    private int readRaw() throws IOException {
        rawInBuffer.clear();
        int n;
        do {
            n = raw.read(rawInBuffer);
        } while (n == 0);
        return n;
    }

    /** Hands raw bytes to the protocol; on a fatal error sends the alert it queued, then rethrows. */
    private void offer(byte[] bytes, int length) throws IOException {
        protocolLock.lock();
        try {
            protocol.offerInput(bytes, 0, length);
        } catch (IOException | RuntimeException e) {
            protocolLock.unlock();
            try {
                flushOutput();
            } catch (IOException | RuntimeException again) {
                e.addSuppressed(again);
            }
            throw e;
        }
        protocolLock.unlock();
    }

    private boolean outputAvailable() {
        protocolLock.lock();
        try {
            return protocol.getAvailableOutputBytes() > 0;
        } finally {
            protocolLock.unlock();
        }
    }

    /** Sends every record the protocol has made. */
    private void flushOutput() throws IOException {
        writeLock.lock();
        try {
            drainLocked();
        } finally {
            writeLock.unlock();
        }
    }

    /** Under {@link #writeLock}. */
    private void drainLocked() throws IOException {
        while (true) {
            netOut.clear();
            protocolLock.lock();
            try {
                int available = protocol.getAvailableOutputBytes();
                if (available == 0) {
                    return;
                }
                protocol.readOutput(netOut, Math.min(available, netOut.remaining()));
            } finally {
                protocolLock.unlock();
            }
            netOut.flip();
            writeRaw(netOut);
        }
    }

    @Override
    public int bufferedBytes() {
        protocolLock.lock();
        try {
            return protocol.getAvailableInputBytes();
        } finally {
            protocolLock.unlock();
        }
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        if (!dst.hasRemaining()) {
            return 0;
        }
        while (true) {
            protocolLock.lock();
            try {
                int available = protocol.getAvailableInputBytes();
                if (available > 0) {
                    return protocol.readInput(dst, Math.min(available, dst.remaining()));
                }
                if (protocol.isClosed()) {
                    return -1;
                }
            } finally {
                protocolLock.unlock();
            }
            int n = readRaw();
            if (n < 0) {
                return -1;
            }
            offer(rawIn, n);
            if (outputAvailable()) {
                flushOutput();
            }
        }
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        writeLock.lock();
        try {
            int n = 0;
            for (int i = offset; i < offset + length && n < plain.length; i++) {
                ByteBuffer b = srcs[i];
                int k = Math.min(b.remaining(), plain.length - n);
                b.get(plain, n, k);
                n += k;
            }
            if (n == 0) {
                return 0;
            }
            protocolLock.lock();
            try {
                if (protocol.isClosed()) {
                    throw new ClosedChannelException();
                }
                protocol.writeApplicationData(plain, 0, n);
            } finally {
                protocolLock.unlock();
            }
            drainLocked();
            return n;
        } finally {
            writeLock.unlock();
        }
    }

    @Override
    void sendCloseNotify() throws IOException {
        protocolLock.lock();
        try {
            if (protocol.isClosed()) {
                return;
            }
            protocol.close();
        } finally {
            protocolLock.unlock();
        }
        drainLocked();
    }
}
