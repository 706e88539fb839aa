package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.nbd.protocol.NbdWire;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.SelectableChannel;
import java.nio.channels.SocketChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A byte-level NBD client for tests: raw bytes when a test wants to misbehave, small helpers for the
 * well-formed parts. Reads time out (the test fails instead of hanging).
 */
final class TestClient implements AutoCloseable {
    static final long TIMEOUT_MS = 10_000;

    private final ReadableByteChannel in;
    private final WritableByteChannel out;
    private final AutoCloseable[] closeables;

    private TestClient(ReadableByteChannel in, WritableByteChannel out, AutoCloseable... closeables) {
        this.in = in;
        this.out = out;
        this.closeables = closeables;
        try {
            ((SelectableChannel) in).configureBlocking(false);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Connects through an in-memory pipe pair. */
    static TestClient connect(NbdServer server) {
        return connect(server, new PipeTransport());
    }

    /** Connects through {@code t}, a fresh pipe pair the test keeps to observe the server's side. */
    static TestClient connect(NbdServer server, PipeTransport t) {
        server.connect(t);
        return new TestClient(t.toClient.source(), t.toServer.sink(), t.toClient.source(), t.toServer.sink());
    }

    /** Connects to a Unix socket. */
    static TestClient connectUnix(Path socket) {
        try {
            SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(socket));
            SocketChannel reader = ch;
            return new TestClient(reader, new BlockingWriter(ch), ch);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Connects to a TCP port on the loopback address. */
    static TestClient connectTcp(int port) {
        try {
            SocketChannel ch = SocketChannel.open(new java.net.InetSocketAddress("127.0.0.1", port));
            return new TestClient(ch, new BlockingWriter(ch), ch);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Writes to a channel that the reader side switched to non-blocking mode. */
    private record BlockingWriter(SocketChannel ch) implements WritableByteChannel {
        @Override
        public int write(ByteBuffer src) throws IOException {
            int n = 0;
            long deadline = System.currentTimeMillis() + TIMEOUT_MS;
            while (src.hasRemaining()) {
                int k = ch.write(src);
                n += k;
                if (k == 0) {
                    if (System.currentTimeMillis() > deadline) {
                        throw new IOException("write timed out");
                    }
                    Thread.onSpinWait();
                    Thread.yield();
                }
            }
            return n;
        }

        @Override
        public boolean isOpen() {
            return ch.isOpen();
        }

        @Override
        public void close() throws IOException {
            ch.close();
        }
    }

    // ------------------------------------------------------------------ raw

    void send(ByteBuffer b) {
        try {
            while (b.hasRemaining()) {
                out.write(b);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    void send(byte[] bytes) {
        send(ByteBuffer.wrap(bytes));
    }

    /** Sends, ignoring a server that already closed. */
    void trySend(byte[] bytes) {
        try {
            send(bytes);
        } catch (UncheckedIOException e) {
            // the server may drop us mid-stream; that is what some tests provoke
        }
    }

    /** Exactly {@code n} bytes, or an assertion failure on timeout or end of stream. */
    ByteBuffer read(int n) {
        ByteBuffer b = ByteBuffer.allocate(n);
        long deadline = System.currentTimeMillis() + TIMEOUT_MS;
        try {
            while (b.hasRemaining()) {
                int k = in.read(b);
                if (k < 0) {
                    throw new AssertionError("server closed after " + b.position() + " of " + n + " bytes");
                }
                if (k == 0) {
                    if (System.currentTimeMillis() > deadline) {
                        throw new AssertionError("timed out after " + b.position() + " of " + n + " bytes");
                    }
                    Thread.sleep(1);
                }
            }
        } catch (IOException e) {
            throw new AssertionError("read failed after " + b.position() + " of " + n + " bytes", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
        return b.flip();
    }

    /** True when the server closes the stream (after any bytes still to come are skipped) within the timeout. */
    boolean closedByServer() {
        ByteBuffer b = ByteBuffer.allocate(65536);
        long deadline = System.currentTimeMillis() + TIMEOUT_MS;
        try {
            while (System.currentTimeMillis() < deadline) {
                b.clear();
                int k = in.read(b);
                if (k < 0) {
                    return true;
                }
                if (k == 0) {
                    Thread.sleep(2);
                }
            }
        } catch (IOException e) {
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return false;
    }

    /**
     * Bytes that arrive before the server closes the stream; fails if it does not close within the timeout.
     * After a DISC, 0 proves no reply came twice or late.
     */
    long bytesUntilClosed() {
        ByteBuffer b = ByteBuffer.allocate(65536);
        long n = 0;
        long deadline = System.currentTimeMillis() + TIMEOUT_MS;
        try {
            while (System.currentTimeMillis() < deadline) {
                b.clear();
                int k = in.read(b);
                if (k < 0) {
                    return n;
                }
                n += k;
                if (k == 0) {
                    Thread.sleep(1);
                }
            }
        } catch (IOException e) {
            return n;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        throw new AssertionError("the server did not close the stream within " + TIMEOUT_MS + " ms (" + n + " bytes)");
    }

    /** True when nothing arrives for {@code ms} milliseconds (and the stream is still open). */
    boolean quietFor(long ms) {
        ByteBuffer b = ByteBuffer.allocate(1);
        long deadline = System.currentTimeMillis() + ms;
        try {
            while (System.currentTimeMillis() < deadline) {
                int k = in.read(b);
                if (k != 0) {
                    return false;
                }
                Thread.sleep(2);
            }
        } catch (IOException | InterruptedException e) {
            return false;
        }
        return true;
    }

    // ------------------------------------------------------------------ handshake

    /** Reads the greeting, checks it, answers with {@code clientFlags}. */
    void hello(int clientFlags) {
        ByteBuffer g = read(18);
        assertThat(g.getLong()).isEqualTo(INIT_PASSWD);
        assertThat(g.getLong()).as("newstyle, never oldstyle").isEqualTo(IHAVEOPT);
        assertThat(Short.toUnsignedInt(g.getShort())).isEqualTo(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
        send(ByteBuffer.allocate(4).putInt(clientFlags).flip());
    }

    void hello() {
        hello(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
    }

    record OptionReply(int option, int type, ByteBuffer data) {
        String text() {
            return StandardCharsets.UTF_8.decode(data.duplicate()).toString();
        }

        boolean isError() {
            return (type & REP_FLAG_ERROR) != 0;
        }
    }

    void sendOption(int option, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(16 + data.length);
        NbdWire.putOption(b, option, data.length);
        send(b.put(data).flip());
    }

    OptionReply readOptionReply() {
        ByteBuffer h = read(20);
        assertThat(h.getLong()).isEqualTo(OPTION_REPLY_MAGIC);
        int option = h.getInt();
        int type = h.getInt();
        int length = h.getInt();
        assertThat(length).isBetween(0, 1 << 20);
        return new OptionReply(option, type, read(length));
    }

    /** Sends an option and reads replies up to the final one (ACK or an error). */
    List<OptionReply> option(int option, byte[] data) {
        sendOption(option, data);
        List<OptionReply> replies = new ArrayList<>();
        while (true) {
            OptionReply r = readOptionReply();
            assertThat(r.option()).isEqualTo(option);
            replies.add(r);
            if (r.type() == REP_ACK || r.isError()) {
                return replies;
            }
        }
    }

    static byte[] infoData(String name, int... infos) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(4 + n.length + 2 + 2 * infos.length);
        b.putInt(n.length).put(n).putShort((short) infos.length);
        for (int i : infos) {
            b.putShort((short) i);
        }
        return b.array();
    }

    static byte[] metaData(String name, String... queries) {
        byte[] n = name.getBytes(StandardCharsets.UTF_8);
        int len = 4 + n.length + 4;
        for (String q : queries) {
            len += 4 + q.getBytes(StandardCharsets.UTF_8).length;
        }
        ByteBuffer b = ByteBuffer.allocate(len);
        b.putInt(n.length).put(n).putInt(queries.length);
        for (String q : queries) {
            byte[] qb = q.getBytes(StandardCharsets.UTF_8);
            b.putInt(qb.length).put(qb);
        }
        return b.array();
    }

    /** The export's INFO_EXPORT fields after a GO; the connection is then in transmission. */
    record Go(long sizeBytes, int flags) {}

    /** Full negotiation: optionally structured replies and base:allocation, then GO. */
    Go go(String name, boolean structured, boolean baseAllocation) {
        hello();
        if (structured) {
            assertThat(option(OPT_STRUCTURED_REPLY, new byte[0])).last().extracting(OptionReply::type).isEqualTo(REP_ACK);
        }
        if (baseAllocation) {
            List<OptionReply> r = option(OPT_SET_META_CONTEXT, metaData(name, META_BASE_ALLOCATION));
            assertThat(r).hasSize(2);
            assertThat(r.get(0).type()).isEqualTo(REP_META_CONTEXT);
        }
        List<OptionReply> replies = option(OPT_GO, infoData(name, INFO_BLOCK_SIZE));
        assertThat(replies.getLast().type()).as("GO reply: %s", replies.getLast()).isEqualTo(REP_ACK);
        for (OptionReply r : replies) {
            if (r.type() == REP_INFO && r.data().getShort(0) == INFO_EXPORT) {
                return new Go(r.data().getLong(2), Short.toUnsignedInt(r.data().getShort(10)));
            }
        }
        throw new AssertionError("no NBD_INFO_EXPORT in " + replies);
    }

    // ------------------------------------------------------------------ transmission

    void request(int flags, int type, long cookie, long offset, int length) {
        ByteBuffer b = ByteBuffer.allocate(REQUEST_HEADER_BYTES);
        NbdWire.putRequest(b, flags, type, cookie, offset, length);
        send(b.flip());
    }

    void write(int flags, long cookie, long offset, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(REQUEST_HEADER_BYTES + data.length);
        NbdWire.putRequest(b, flags, CMD_WRITE, cookie, offset, data.length);
        send(b.put(data).flip());
    }

    record Simple(int error, long cookie) {}

    Simple readSimple() {
        ByteBuffer h = read(SIMPLE_REPLY_BYTES);
        assertThat(h.getInt()).as("simple reply magic").isEqualTo(SIMPLE_REPLY_MAGIC);
        return new Simple(h.getInt(), h.getLong());
    }

    record Chunk(int flags, int type, long cookie, ByteBuffer payload) {
        boolean done() {
            return (flags & REPLY_FLAG_DONE) != 0;
        }
    }

    Chunk readChunk() {
        ByteBuffer h = read(CHUNK_HEADER_BYTES);
        assertThat(h.getInt()).as("structured reply magic").isEqualTo(STRUCTURED_REPLY_MAGIC);
        int flags = Short.toUnsignedInt(h.getShort());
        int type = Short.toUnsignedInt(h.getShort());
        long cookie = h.getLong();
        int length = h.getInt();
        return new Chunk(flags, type, cookie, read(length));
    }

    /** Reads the chunks of one structured reply, up to the DONE one. */
    List<Chunk> readStructured() {
        List<Chunk> chunks = new ArrayList<>();
        while (true) {
            Chunk c = readChunk();
            chunks.add(c);
            if (c.done()) {
                return chunks;
            }
        }
    }

    /** Simple-reply READ: returns the data, fails on an error. */
    byte[] readSimpleData(long cookie, long offset, int length) {
        request(0, CMD_READ, cookie, offset, length);
        Simple s = readSimple();
        assertThat(s.error()).as("read error").isZero();
        assertThat(s.cookie()).isEqualTo(cookie);
        byte[] data = new byte[length];
        read(length).get(data);
        return data;
    }

    /** Structured READ assembled from its chunks (holes as zeros). */
    byte[] readStructuredData(int flags, long cookie, long offset, int length) {
        request(flags, CMD_READ, cookie, offset, length);
        byte[] data = new byte[length];
        for (Chunk c : readStructured()) {
            assertThat(c.cookie()).isEqualTo(cookie);
            ByteBuffer p = c.payload();
            switch (c.type()) {
                case REPLY_TYPE_OFFSET_DATA -> {
                    long at = p.getLong() - offset;
                    p.get(data, (int) at, p.remaining());
                }
                case REPLY_TYPE_OFFSET_HOLE -> {
                    p.getLong();
                    p.getInt();
                }
                case REPLY_TYPE_NONE -> { }
                default -> throw new AssertionError("unexpected chunk type " + c.type());
            }
        }
        return data;
    }

    /** Ends the client's sending side (the server sees end of stream). */
    void closeOutput() {
        try {
            out.close();
        } catch (IOException e) {
            // already closed
        }
    }

    void disconnect() {
        request(0, CMD_DISC, 0, 0, 0);
    }

    @Override
    public void close() {
        for (AutoCloseable c : closeables) {
            try {
                c.close();
            } catch (Exception e) {
                // closing twice is fine in tests
            }
        }
    }
}
