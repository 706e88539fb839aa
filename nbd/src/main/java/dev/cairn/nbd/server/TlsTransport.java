package dev.cairn.nbd.server;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A connection after {@code NBD_OPT_STARTTLS}: records over the raw transport. Two engines: the JDK's
 * {@code SSLEngine} for X.509 ({@link SslEngineTransport}) and Bouncy Castle's non-blocking TLS for pre-shared
 * keys ({@link PskTlsTransport}).
 *
 * <p><b>Large reads.</b> {@code sendfile(2)} cannot apply (the kernel does not encrypt here), so
 * {@link #sendsFileRanges} is false and file stores copy READ data into pooled buffers, which the writer
 * encrypts straight into its socket buffer: one copy and one encryption pass per byte. Memory stores still
 * hand over their pages ({@link #splices} is true): encryption reads them in place, so their data is copied
 * only once, by the cipher.
 *
 * <p>Thread safety: as {@link NbdTransport}. {@link #writeLock} orders every byte that goes to the raw
 * socket: the writer's records, and the records the reader's side must send (a TLS 1.3 key update reply, an
 * alert, close_notify); the engine state each subclass keeps is guarded as it documents. The lock is per
 * connection and held while writing to its own socket only.
 */
abstract sealed class TlsTransport implements NbdTransport permits SslEngineTransport, PskTlsTransport {
    protected final NbdTransport raw;
    protected final ReentrantLock writeLock = new ReentrantLock();
    private final AtomicBoolean closed = new AtomicBoolean();

    TlsTransport(NbdTransport raw) {
        this.raw = raw;
    }

    /** Runs the TLS handshake on the connection's thread; throws when it fails (the alert is sent first). */
    abstract void handshake() throws IOException;

    /** The negotiated protocol and cipher suite, e.g. {@code TLSv1.3 TLS_AES_256_GCM_SHA384}. */
    abstract String negotiated();

    /** Queues and sends close_notify; called with {@link #writeLock} held. */
    abstract void sendCloseNotify() throws IOException;

    /** Writes all of {@code b} to the raw socket; callers hold {@link #writeLock}. */
    protected final void writeRaw(ByteBuffer b) throws IOException {
        ByteBuffer[] one = {b};
        while (b.hasRemaining()) {
            raw.write(one, 0, 1);
        }
    }

    /** Memory pages go by reference: the cipher reads them in place (see the class comment). */
    @Override
    public boolean splices() {
        return true;
    }

    @Override
    public boolean sendsFileRanges() {
        return false;
    }

    @Override
    public void shutdownInput() {
        raw.shutdownInput();
    }

    @Override
    public String peer() {
        return raw.peer();
    }

    /**
     * Sends close_notify (the spec asks for it before the TCP close) when no write is in progress, then closes
     * the socket. A thread that finds the writer busy (a forced close while a reply is stuck on a full socket)
     * closes the socket at once, which also wakes that writer.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        if (writeLock.tryLock()) {
            try {
                sendCloseNotify();
            } catch (IOException | RuntimeException e) {
                // the peer is gone or the session already failed: nothing to say goodbye to
            } finally {
                writeLock.unlock();
            }
        }
        raw.close();
    }

    static boolean hasRemaining(ByteBuffer[] srcs, int offset, int length) {
        for (int i = offset; i < offset + length; i++) {
            if (srcs[i].hasRemaining()) {
                return true;
            }
        }
        return false;
    }
}
