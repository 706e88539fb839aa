package dev.cairn.nbd.client;

import dev.cairn.nbd.server.TlsClientChannel;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/**
 * The byte stream of one client connection: the socket itself, or TLS over it after STARTTLS.
 *
 * <p>Thread safety: one reader and one writer thread at a time; {@link #close} from any thread.
 */
sealed interface Wire permits Wire.Plain, Wire.Tls {
    int read(ByteBuffer dst) throws IOException;

    long write(ByteBuffer[] srcs) throws IOException;

    /** After NBD_CMD_DISC: a half-close where the transport has one (TLS has not: the server closes). */
    void shutdownOutput() throws IOException;

    void close() throws IOException;

    /** The socket, straight. */
    record Plain(SocketChannel channel) implements Wire {
        @Override
        public int read(ByteBuffer dst) throws IOException {
            return channel.read(dst);
        }

        @Override
        public long write(ByteBuffer[] srcs) throws IOException {
            return channel.write(srcs);
        }

        @Override
        public void shutdownOutput() throws IOException {
            channel.shutdownOutput();
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }

    /** TLS records over the socket. */
    record Tls(TlsClientChannel tls) implements Wire {
        @Override
        public int read(ByteBuffer dst) throws IOException {
            return tls.read(dst);
        }

        @Override
        public long write(ByteBuffer[] srcs) throws IOException {
            return tls.write(srcs);
        }

        @Override
        public void shutdownOutput() {
            // TLS 1.2 has no half-close; the server closes the connection after NBD_CMD_DISC.
        }

        @Override
        public void close() {
            tls.close();
        }
    }
}
