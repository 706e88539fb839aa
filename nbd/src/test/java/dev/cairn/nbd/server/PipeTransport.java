package dev.cairn.nbd.server;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The server's end of an in-memory connection made of two pipes; {@link TestClient} holds the other end.
 * For tests of the reply path it counts writes by the server thread that made them (the connection's
 * reader, {@code nbd-conn-*}, or its writer, {@code nbd-writer-*}) and can fail writes on demand.
 */
final class PipeTransport implements NbdTransport {
    final Pipe toServer;
    final Pipe toClient;
    /** Write calls made on the connection's reader thread (inline replies). */
    final AtomicInteger readerWrites = new AtomicInteger();
    /** Write calls made on the connection's writer thread. */
    final AtomicInteger writerWrites = new AtomicInteger();
    /** Write calls that failed because of {@link #failWrites}, by thread name. */
    final Queue<String> failedWriters = new ConcurrentLinkedQueue<>();
    private volatile boolean failWrites;
    private volatile boolean crashWrites;

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
        String name = Thread.currentThread().getName();
        if (name.startsWith("nbd-conn-")) {
            readerWrites.incrementAndGet();
        } else if (name.startsWith("nbd-writer-")) {
            writerWrites.incrementAndGet();
        }
        if (failWrites) {
            failedWriters.add(name);
            throw new IOException("injected write failure");
        }
        if (crashWrites) {
            failedWriters.add(name);
            throw new IllegalStateException("injected bug in the transport");
        }
        long n = toClient.sink().write(srcs, offset, length);
        Runnable after = afterWrite;
        if (after != null) {
            after.run();
        }
        return n;
    }

    /** Runs after every successful write, on the writing thread: widens races for tests. */
    volatile Runnable afterWrite;

    /** From now on every write throws an unchecked exception (as a bug below the writer would). */
    void crashWrites() {
        crashWrites = true;
    }

    /** From now on every write throws an IOException (as a reset connection would). */
    void failWrites() {
        failWrites = true;
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
