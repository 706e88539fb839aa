package dev.cairn.nbd.server;

import java.io.EOFException;
import java.io.IOException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.SocketChannel;

/**
 * A connection over a blocking {@link SocketChannel} (TCP or Unix domain). TCP gets {@code TCP_NODELAY}:
 * replies are already batched by the writer, and Nagle would only add latency to small ones. Both ask
 * for {@value #SOCKET_BUFFER_BYTES}-byte send and receive buffers (the kernel caps them at
 * {@code net.core.wmem_max}/{@code rmem_max}): with the default ~208 KiB a 1 MiB reply parks the writer
 * five or six times; measured, the larger buffer cuts a 1 MiB read from 24 to 3 context switches and
 * its server CPU by a fifth (docs/benchmarks/harness-history.md).
 *
 * <p>Thread safety: see {@link NbdTransport}.
 */
final class SocketTransport implements NbdTransport {
    static final int SOCKET_BUFFER_BYTES = 4 << 20;
    /** What {@link #sendFile} sends through memory to wait for room in the socket. */
    static final int WAIT_PIECE_BYTES = 16 * 1024;

    private final SocketChannel channel;
    private final String peer;
    private final boolean unix;
    /** The memory for {@link #sendCopied}; used by one writer at a time (writes never overlap). */
    private ByteBuffer waitPiece;
    /** Bytes {@link #sendFile} sent through memory because the socket was full; for tests and diagnostics. */
    private volatile long copiedBytes;

    SocketTransport(SocketChannel channel) throws IOException {
        this.channel = channel;
        String p;
        try {
            p = String.valueOf(channel.getRemoteAddress());
        } catch (IOException e) {
            p = "?";
        }
        channel.setOption(StandardSocketOptions.SO_SNDBUF, SOCKET_BUFFER_BYTES);
        channel.setOption(StandardSocketOptions.SO_RCVBUF, SOCKET_BUFFER_BYTES);
        unix = channel.getLocalAddress() instanceof java.net.UnixDomainSocketAddress;
        if (unix) {
            p = "unix:" + channel.getLocalAddress();
        } else {
            channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
        }
        this.peer = p;
    }

    @Override
    public int read(ByteBuffer dst) throws IOException {
        return channel.read(dst);
    }

    @Override
    public long write(ByteBuffer[] srcs, int offset, int length) throws IOException {
        return channel.write(srcs, offset, length);
    }

    @Override
    public boolean splices() {
        return true;
    }

    /**
     * Unix sockets only. Over loopback TCP, {@code sendfile} measured slower than a copy (ab.sh, 1 GiB file,
     * 1M reads qd8: 2190-2730 MiB/s with it, 2640-3030 without; docs/benchmarks/harness-history.md, #16), so TCP
     * connections take file data by copy and only memory stores' pages by reference.
     */
    @Override
    public boolean sendsFileRanges() {
        return unix;
    }

    /**
     * {@code sendfile(2)} through {@link FileChannel#transferTo}: the kernel hands the file's page-cache pages
     * to the socket, no copy in this process. When the socket's buffer is full the JDK does not wait: under
     * virtual threads the descriptor is non-blocking, {@code sendfile} fails with {@code EAGAIN} and
     * {@code transferTo} returns 0 (JDK 25). Then the next {@value #WAIT_PIECE_BYTES} bytes go the ordinary
     * way, a read into memory and a blocking write, which parks until the socket has room; a socket reports
     * room only once a good part of its buffer is free, so {@code sendfile} goes on with a large piece after.
     */
    @Override
    public void sendFile(FileChannel file, long positionBytes, long lengthBytes) throws IOException {
        long pos = positionBytes;
        long end = positionBytes + lengthBytes;
        while (pos < end) {
            long n = file.transferTo(pos, end - pos, channel);
            if (n <= 0) {
                n = sendCopied(file, pos, (int) Math.min(WAIT_PIECE_BYTES, end - pos));
                copiedBytes = copiedBytes + n; // one writer at a time
            }
            pos += n;
        }
    }

    @Override
    public long copiedFileRangeBytes() {
        return copiedBytes;
    }

    private int sendCopied(FileChannel file, long positionBytes, int lengthBytes) throws IOException {
        if (waitPiece == null) {
            waitPiece = ByteBuffer.allocateDirect(WAIT_PIECE_BYTES);
        }
        ByteBuffer b = waitPiece.clear().limit(lengthBytes);
        while (b.hasRemaining()) {
            if (file.read(b, positionBytes + b.position()) < 0) {
                throw new EOFException("file ended at " + (positionBytes + b.position()) + " (expected: "
                        + (positionBytes + lengthBytes) + " bytes)");
            }
        }
        b.flip();
        while (b.hasRemaining()) {
            channel.write(b);
        }
        return lengthBytes;
    }

    @Override
    public void shutdownInput() {
        try {
            channel.shutdownInput();
        } catch (IOException e) {
            // already closed: the reader sees that as the end of the stream too
        }
    }

    @Override
    public String peer() {
        return peer;
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException e) {
            // nothing left to do for a socket that failed to close
        }
    }
}
