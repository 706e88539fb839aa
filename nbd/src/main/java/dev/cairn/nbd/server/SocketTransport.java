package dev.cairn.nbd.server;

import java.io.IOException;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/**
 * A connection over a blocking {@link SocketChannel} (TCP or Unix domain). TCP gets {@code TCP_NODELAY}:
 * replies are already batched by the writer, and Nagle would only add latency to small ones. Both ask
 * for {@value #SOCKET_BUFFER_BYTES}-byte send and receive buffers (the kernel caps them at
 * {@code net.core.wmem_max}/{@code rmem_max}): with the default ~208 KiB a 1 MiB reply parks the writer
 * five or six times; measured, the larger buffer cuts a 1 MiB read from 24 to 3 context switches and
 * its server CPU by a fifth (docs/benchmarks/harness.md).
 *
 * <p>Thread safety: see {@link NbdTransport}.
 */
final class SocketTransport implements NbdTransport {
    static final int SOCKET_BUFFER_BYTES = 4 << 20;

    private final SocketChannel channel;
    private final String peer;

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
        boolean unix = channel.getLocalAddress() instanceof java.net.UnixDomainSocketAddress;
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
