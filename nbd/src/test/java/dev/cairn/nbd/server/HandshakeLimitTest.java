package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.testkit.Poll;
import dev.cairn.testkit.TlsFiles;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The handshake limit (qemu-nbd's {@code --handshake-limit}) on a real Unix socket: a client that connects
 * and never finishes negotiating is dropped once the limit has passed, which frees its connection slot. The
 * drop is proved by the server's counter ({@link NbdServer#handshakesTimedOut()}), its connection count and
 * the end of the stream on the client's side; the freed slot by a real client that then gets through on a
 * server that allows one connection.
 */
class HandshakeLimitTest {
    private static final Duration LIMIT = Duration.ofMillis(300);
    private static final Duration WAIT = Duration.ofSeconds(20);

    @TempDir
    Path dir;

    private Submitter submitter;
    private NbdServer server;
    private Path socket;

    private void start(UnaryOperator<NbdServer.Builder> config) {
        socket = dir.resolve("nbd.sock");
        submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
        server = config.apply(NbdServer.builder().submitter(submitter).unix(socket).maxConnections(1)).build();
        server.addExport(NbdExport.of("disk", new MemoryStore("disk", 1 << 20)));
        server.start();
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
            assertThat(server.internalErrors()).isZero();
        }
        if (submitter != null) {
            submitter.close();
        }
    }

    @Test
    void aClientThatSendsNothingIsDroppedAndItsSlotFreed() throws Exception {
        start(b -> b.handshakeLimit(LIMIT));
        try (SocketChannel silent = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
            readGreeting(silent);
            assertDropped(silent);
        }
        assertSlotFree();
    }

    @Test
    void aClientThatSendsHalfAnOptionIsDropped() throws Exception {
        start(b -> b.handshakeLimit(LIMIT));
        try (SocketChannel half = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
            readGreeting(half);
            // Client flags, then an option whose header promises 16 bytes of data of which 3 arrive.
            ByteBuffer b = ByteBuffer.allocate(4 + 16 + 3);
            b.putInt(FLAG_C_FIXED_NEWSTYLE).putLong(IHAVEOPT).putInt(OPT_GO).putInt(16).put(new byte[3]).flip();
            writeFully(half, b);
            assertDropped(half);
        }
        assertSlotFree();
    }

    @Test
    void aTlsHandshakeThatNeverFinishesIsDroppedByTheConnectionsLimit() throws Exception {
        TlsFiles files = TlsFiles.create(dir.resolve("tls"));
        // The TLS layer's own timeout is far longer: the connection's limit is what ends this one.
        ServerTls tls = ServerTls.load(new TlsConfig(TlsMode.REQUIRE, new TlsConfig.X509(files.pki, false),
                Duration.ofMinutes(5)));
        start(b -> b.handshakeLimit(LIMIT).tls(tls));
        try (SocketChannel stuck = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
            readGreeting(stuck);
            ByteBuffer b = ByteBuffer.allocate(4 + 16);
            b.putInt(FLAG_C_FIXED_NEWSTYLE).putLong(IHAVEOPT).putInt(OPT_STARTTLS).putInt(0).flip();
            writeFully(stuck, b);
            ByteBuffer reply = readFully(stuck, 20);
            assertThat(reply.getLong()).isEqualTo(OPTION_REPLY_MAGIC);
            assertThat(reply.getInt()).isEqualTo(OPT_STARTTLS);
            assertThat(reply.getInt()).as("STARTTLS acknowledged").isEqualTo(REP_ACK);
            // The first bytes of a TLS record header, and then nothing.
            writeFully(stuck, ByteBuffer.wrap(new byte[] {0x16, 0x03}));
            assertDropped(stuck);
        }
        assertThat(tls.stats().handshakesTimedOut()).as("the TLS layer's own timeout did not fire").isZero();
    }

    @Test
    void aClientThatFinishesInTimeIsNotCounted() throws Exception {
        start(b -> b.handshakeLimit(Duration.ofSeconds(30)));
        try (TestClient c = TestClient.connectUnix(socket)) {
            c.go("disk", true, false);
            c.disconnect();
        }
        assertThat(Poll.until(() -> server.connectionCount() == 0, WAIT)).isTrue();
        assertThat(server.handshakesTimedOut()).isZero();
    }

    @Test
    void aNegativeLimitIsRefusedAndZeroMeansNone() {
        assertThatThrownBy(() -> NbdServer.builder().handshakeLimit(Duration.ofSeconds(-1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("handshakeLimit: PT-1S (expected: >= 0; 0: no limit)");
        HandshakeLimit none = new HandshakeLimit(Duration.ZERO, new PipeTransport(), () -> {
            throw new AssertionError("no limit cannot expire");
        }, "unused");
        assertThat(none.finish()).isTrue();
        assertThat(none.expired()).isFalse();
    }

    private void assertDropped(SocketChannel client) throws Exception {
        assertThat(Poll.until(() -> server.handshakesTimedOut() == 1, WAIT)).as("handshakes timed out").isTrue();
        assertThat(Poll.until(() -> server.connectionCount() == 0, WAIT)).as("connection closed").isTrue();
        // The server closed its end: the client reads the end of the stream (or a reset), not a hang.
        ByteBuffer one = ByteBuffer.allocate(1);
        int n;
        try {
            n = client.read(one);
        } catch (IOException e) {
            n = -1;
        }
        assertThat(n).as("bytes after the drop").isEqualTo(-1);
    }

    /** With one connection allowed, a real client gets through: the dropped client's slot is free again. */
    private void assertSlotFree() {
        try (TestClient c = TestClient.connectUnix(socket)) {
            c.go("disk", true, false);
            c.disconnect();
        }
    }

    private static void readGreeting(SocketChannel ch) throws IOException {
        ByteBuffer hello = readFully(ch, 18);
        assertThat(hello.getLong()).isEqualTo(INIT_PASSWD);
        assertThat(hello.getLong()).isEqualTo(IHAVEOPT);
    }

    private static ByteBuffer readFully(SocketChannel ch, int bytes) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(bytes);
        while (b.hasRemaining()) {
            if (ch.read(b) < 0) {
                throw new IOException("end of stream after " + b.position() + " of " + bytes + " bytes");
            }
        }
        return b.flip();
    }

    private static void writeFully(SocketChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }
}
