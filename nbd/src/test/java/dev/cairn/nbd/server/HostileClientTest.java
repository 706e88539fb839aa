package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.nbd.protocol.NbdWire;
import dev.cairn.testkit.Poll;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Misbehaving clients on real Unix sockets while a well-behaved client does verified I/O on its own
 * export: the server answers per spec or drops only the offender, never stops, never leaks, and never
 * touches the other client's data.
 */
class HostileClientTest {
    @TempDir
    Path dir;

    private static ByteBuffer header(int magic, int flags, int type, long cookie, long offset, int length) {
        ByteBuffer b = ByteBuffer.allocate(REQUEST_HEADER_BYTES);
        b.putInt(magic).putShort((short) flags).putShort((short) type).putLong(cookie).putLong(offset).putInt(length);
        return b.flip();
    }

    @Test
    void hostileClientsDoNotDisturbOthers() throws Exception {
        Path socket = dir.resolve("nbd.sock");
        try (Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
                NbdServer server = NbdServer.builder().submitter(submitter).unix(socket).build()) {
            attackAndCheck(server, socket);
        }
        assertThat(Files.exists(socket)).as("socket file removed on close").isFalse();
    }

    /**
     * Starts {@code server} with a victim and a target export, runs every attack through {@code socket} five
     * times while a well-behaved client verifies its data, then checks nothing leaked (TlsTest runs this
     * through a TLS relay against a server that requires TLS).
     */
    static void attackAndCheck(NbdServer server, Path socket) throws Exception {
        MemoryStore victimStore = new MemoryStore("victim", 8 << 20);
        {
            server.addExport(NbdExport.of("victim", victimStore));
            server.addExport(NbdExport.of("target", new MemoryStore("target", 8 << 20)));
            server.start();
            assertThat(Files.exists(socket)).isTrue();

            AtomicReference<Throwable> victimFailure = new AtomicReference<>();
            AtomicInteger victimRounds = new AtomicInteger();
            java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
            Thread victim = Thread.ofVirtual().start(() -> {
                try (TestClient v = TestClient.connectUnix(socket)) {
                    v.go("victim", true, true);
                    Random rnd = new Random(7);
                    while (!stop.get()) {
                        int round = victimRounds.getAndIncrement();
                        byte[] data = new byte[64 * 1024];
                        rnd.nextBytes(data);
                        long at = (round % 100) * 64L * 1024;
                        v.write(0, round, at, data);
                        assertThat(v.readSimple().error()).isZero();
                        assertThat(v.readStructuredData(0, round, at, data.length)).isEqualTo(data);
                    }
                    v.disconnect();
                    assertThat(v.closedByServer()).isTrue();
                } catch (Throwable t) {
                    victimFailure.set(t);
                }
            });

            List<Consumer<TestClient>> attacks = List.of(
                    c -> c.send(new byte[] {1, 2, 3}), // garbage instead of client flags
                    c -> { // option flood
                        c.hello();
                        for (int i = 0; i < 200; i++) {
                            ByteBuffer b = ByteBuffer.allocate(16);
                            NbdWire.putOption(b, 1000 + i, 0);
                            c.trySend(b.array());
                        }
                    },
                    c -> { // huge option length
                        c.hello();
                        c.trySend(ByteBuffer.allocate(16).putLong(IHAVEOPT).putInt(OPT_GO).putInt(-1).array());
                    },
                    c -> { // truncated request header
                        c.go("target", false, false);
                        c.trySend(Arrays.copyOf(header(REQUEST_MAGIC, 0, CMD_READ, 1, 0, 512).array(), 13));
                    },
                    c -> { // bad magic
                        c.go("target", false, false);
                        c.trySend(header(0x25609514, 0, CMD_READ, 1, 0, 512).array());
                    },
                    c -> { // huge write length, then vanish
                        c.go("target", false, false);
                        c.trySend(header(REQUEST_MAGIC, 0, CMD_WRITE, 1, 0, -1).array());
                        c.trySend(new byte[100_000]);
                    },
                    c -> { // half a payload, then vanish
                        c.go("target", false, false);
                        c.trySend(header(REQUEST_MAGIC, 0, CMD_WRITE, 1, 0, 1 << 20).array());
                        c.trySend(new byte[300_000]);
                    },
                    c -> { // unknown commands, flags, out-of-range offsets, huge reads: answered, then vanish
                        c.go("target", true, true);
                        c.trySend(header(REQUEST_MAGIC, 0, 77, 1, 0, 512).array());
                        c.trySend(header(REQUEST_MAGIC, 0xffff, CMD_READ, 2, 0, 512).array());
                        c.trySend(header(REQUEST_MAGIC, 0, CMD_READ, 3, Long.MAX_VALUE - 511, 512).array());
                        c.trySend(header(REQUEST_MAGIC, 0, CMD_READ, 4, 0, -512).array());
                        c.trySend(header(REQUEST_MAGIC, 0, CMD_BLOCK_STATUS, 5, 0, -512).array());
                        for (int i = 0; i < 64; i++) { // pipelined reads whose replies nobody reads
                            c.trySend(header(REQUEST_MAGIC, 0, CMD_READ, 100 + i, 0, 1 << 20).array());
                        }
                    },
                    c -> { }); // connect and vanish at once
            for (int round = 0; round < 5; round++) {
                for (Consumer<TestClient> attack : attacks) {
                    try (TestClient c = TestClient.connectUnix(socket)) {
                        attack.accept(c);
                    } catch (AssertionError | RuntimeException e) {
                        // the server may drop an attacker at any point; that is fine
                    }
                }
            }
            // The server still serves a new client.
            try (TestClient c = TestClient.connectUnix(socket)) {
                c.go("target", false, false);
                c.disconnect();
                assertThat(c.closedByServer()).isTrue();
            }
            Poll.until(() -> victimRounds.get() >= 20, Duration.ofSeconds(3));
            stop.set(true);
            victim.join(10_000);
            assertThat(victimFailure.get()).as("the well-behaved client").isNull();
            assertThat(victimRounds.get()).isGreaterThan(5);
            Poll.until(() -> server.connectionCount() == 0 && server.bufferPool().outstanding() == 0,
                    Duration.ofSeconds(10));
            assertThat(server.connectionCount()).isZero();
            assertThat(server.bufferPool().outstanding()).isZero();
            assertThat(server.internalErrors()).isZero();
        }
    }

    @Test
    void closeDrainsInFlightRequestsAndTcpPortZeroIsEphemeral() throws Exception {
        TestDevice device = new TestDevice("d", 1 << 20);
        try (Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK)) {
            NbdServer server = NbdServer.builder().submitter(submitter).tcp("127.0.0.1", 0).unix(dir.resolve("s"))
                    .build().start();
            server.addExport(NbdExport.of("d", device));
            assertThat(server.tcpPort()).isPositive().isNotEqualTo(NbdServer.DEFAULT_PORT);
            try (TestClient c = TestClient.connectUnix(dir.resolve("s"))) {
                c.go("d", false, false);
                device.holdIf(b -> true);
                c.write(0, 1, 0, new byte[4096]);
                assertThat(Poll.until(() -> device.heldCount() == 1, Duration.ofSeconds(5))).isTrue();
                Thread closer = Thread.ofVirtual().start(server::close);
                // the closer reaches its wait for the drain (or, wrongly, ends): then the write still holds it
                assertThat(Poll.until(() -> !closer.isAlive() || closer.getState() == Thread.State.WAITING
                        || closer.getState() == Thread.State.TIMED_WAITING, Duration.ofSeconds(10))).isTrue();
                assertThat(closer.isAlive()).as("close waits for the in-flight write").isTrue();
                assertThat(device.heldCount()).isEqualTo(1);
                device.releaseHeld();
                closer.join(10_000);
                assertThat(closer.isAlive()).isFalse();
                assertThat(c.readSimple().error()).as("the in-flight write was answered").isZero();
                assertThat(c.closedByServer()).isTrue();
            }
        }
    }
}
