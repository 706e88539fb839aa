package dev.cairn.nbd.server;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * A connection's transport on a server that offers TLS: plaintext until {@link #upgrade} (the handshake's
 * STARTTLS), then the {@link TlsTransport} for the rest of the connection. A server with TLS off never makes
 * one, so plaintext connections pay nothing.
 *
 * <p>Thread safety: as {@link NbdTransport}. {@link #current} changes once, on the connection's thread
 * during the handshake, before the reply writer starts; it is volatile so that a close or shutdown from
 * another thread reaches the transport in use.
 */
final class StartTlsTransport implements NbdTransport {
    private final NbdTransport raw;
    private final ServerTls tls;
    private volatile NbdTransport current;

    StartTlsTransport(NbdTransport raw, ServerTls tls) {
        this.raw = raw;
        this.tls = tls;
        this.current = raw;
    }

    TlsMode mode() {
        return tls.mode();
    }

    boolean upgraded() {
        return current != raw;
    }

    /** Runs the TLS handshake; from then on every byte goes through TLS. */
    void upgrade(ByteBuffer alreadyRead) throws IOException {
        if (upgraded()) {
            throw new IllegalStateException("TLS is already active");
        }
        current = tls.startTls(raw, alreadyRead);
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        return current.read(dst);
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        return current.write(srcs, offset, length);
    }

    @Override
    public int bufferedBytes() {
        return current.bufferedBytes();
    }

    @Override
    public boolean splices() {
        return current.splices();
    }

    @Override
    public boolean sendsFileRanges() {
        return current.sendsFileRanges();
    }

    @Override
    public void sendFile(FileChannel file, long positionBytes, long lengthBytes) throws IOException {
        current.sendFile(file, positionBytes, lengthBytes);
    }

    @Override
    public void shutdownInput() {
        current.shutdownInput();
    }

    @Override
    public String peer() {
        return raw.peer();
    }

    @Override
    public void close() {
        current.close(); // a TLS transport sends close_notify first
        raw.close(); // a handshake may be in progress on raw: this ends it
    }
}
