package dev.cairn.nbd.server;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;

/** The server's end of an in-memory connection made of two pipes; {@link TestClient} holds the other end. */
final class PipeTransport implements NbdTransport {
    final Pipe toServer;
    final Pipe toClient;

    PipeTransport() {
        try {
            toServer = Pipe.open();
            toClient = Pipe.open();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        return toServer.source().read(dst);
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        return toClient.sink().write(srcs, offset, length);
    }

    @Override
    public void shutdownInput() {
        try {
            toServer.source().close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public String peer() {
        return "pipe";
    }

    @Override
    public void close() {
        try {
            toServer.source().close();
            toClient.sink().close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
