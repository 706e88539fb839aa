package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.store.MemoryStore;
import dev.cairn.testkit.Poll;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * Issue 22 items 8 and 9 and the class they belong to: memory a client can make the server spend. A WRITE
 * header reserved its whole payload (32 MiB per slow client; 6 GiB for 200), an allocation failure left the
 * connection's reader and writer parked and its socket in CLOSE-WAIT, and nothing bounded the total. These
 * tests read the server's own gauges ({@link NbdServer#clientMemory}) and wait for states with
 * {@link Poll#until}, never for time.
 */
class ClientMemoryBudgetTest {
    private static final int MIB = 1 << 20;
    private static final int PIECE = RequestHandlers.WRITE_PIECE_BYTES;

    /** Connects, negotiates and sends a 32 MiB WRITE header followed by {@code bytes} of its payload. */
    private static TestClient slowWriter(NbdServer server, int bytes) {
        TestClient c = TestClient.connect(server);
        c.go("disk", false, false);
        c.request(0, CMD_WRITE, 1, 0, 32 * MIB);
        c.send(new byte[bytes]);
        return c;
    }

    @Test
    void aPendingWriteHeaderHoldsOnePieceNotItsPayload() throws Exception {
        try (ServerFixture f = new ServerFixture().export(NbdExport.of("disk", new MemoryStore("disk", 64 * MIB)))) {
            List<TestClient> slow = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                slow.add(slowWriter(f.server, 1000));
            }
            // Every connection has read its header and holds the buffer its first bytes go into.
            assertThat(Poll.until(() -> f.server.clientMemory().heldBytes() == 16L * PIECE, Duration.ofSeconds(20)))
                    .as("held: %s", f.server.clientMemory()).isTrue();
            assertThat(f.server.clientMemory().peakHeldBytes()).as("never more than a piece each, as docs/nbd.md states")
                    .isEqualTo(16L * PIECE).isLessThanOrEqualTo(16L * 256 * 1024);
            for (TestClient c : slow) {
                c.close();
            }
            f.assertQuiescent();
            assertThat(f.server.clientMemory().heldBytes()).isZero();
        }
    }

    @Test
    void aLongWriteSentInPiecesLandsWholeAndItsMemoryComesBackPieceByPiece() throws Exception {
        MemoryStore disk = new MemoryStore("disk", 64 * MIB);
        try (ServerFixture f = new ServerFixture().export(NbdExport.of("disk", disk))) {
            byte[] data = new byte[5 * MIB + 4096];
            new Random(22).nextBytes(data);
            try (TestClient c = TestClient.connect(f.server)) {
                c.go("disk", false, false);
                c.request(CMD_FLAG_FUA, CMD_WRITE, 7, 8192, data.length);
                // Slowly: a piece and a half, then the rest; the server holds at most a piece meanwhile.
                c.send(Arrays.copyOfRange(data, 0, PIECE + PIECE / 2));
                assertThat(Poll.until(() -> f.server.clientMemory().heldBytes() == PIECE, Duration.ofSeconds(20)))
                        .as("held: %s", f.server.clientMemory()).isTrue();
                c.send(Arrays.copyOfRange(data, PIECE + PIECE / 2, data.length));
                assertThat(c.readSimple()).isEqualTo(new TestClient.Simple(0, 7));
                assertThat(c.readSimpleData(8, 8192, data.length)).isEqualTo(data);
                c.disconnect();
            }
            f.assertQuiescent();
            assertThat(f.server.clientMemory().peakHeldBytes()).as("a piece being read, one being written, the read")
                    .isLessThanOrEqualTo(2L * PIECE + 8 * MIB);
        }
    }

    @Test
    void aLongWriteWhosePieceFailsOrThrowsIsAnsweredOnceWithEioAndFreesEverything() throws Exception {
        TestDevice disk = new TestDevice("disk", 64 * MIB);
        try (ServerFixture f = new ServerFixture().export(NbdExport.of("disk", disk))) {
            try (TestClient c = TestClient.connect(f.server)) {
                c.go("disk", false, false);
                // The second piece of a 1 MiB write at 0 fails on the device.
                disk.failIf(b -> b.op() == dev.cairn.block.BioOp.WRITE && b.sector() == PIECE / 512,
                        dev.cairn.block.BioStatus.IOERR);
                c.write(0, 1, 0, new byte[MIB]);
                assertThat(c.readSimple()).isEqualTo(new TestClient.Simple(EIO, 1));
                disk.failIf(b -> false, dev.cairn.block.BioStatus.IOERR);
                // The third piece's submission throws: the rest of the payload is skipped, the stream stays in step.
                disk.onSubmit = b -> {
                    if (b.op() == dev.cairn.block.BioOp.WRITE && b.sector() == 2L * PIECE / 512) {
                        throw new IllegalStateException("injected device bug");
                    }
                };
                c.write(0, 2, 0, new byte[MIB]);
                assertThat(c.readSimple()).isEqualTo(new TestClient.Simple(EIO, 2));
                disk.onSubmit = b -> { };
                c.write(0, 3, 0, new byte[MIB]);
                assertThat(c.readSimple()).as("the connection goes on").isEqualTo(new TestClient.Simple(0, 3));
                c.disconnect();
            }
            f.assertQuiescent();
            assertThat(f.server.clientMemory().heldBytes()).isZero();
        }
    }

    /**
     * Issue 22 item 9's class: any unexpected exception inside a request (here a device whose limits throw
     * while a FUA write is being set up) left the request's in-flight share unanswered, so the writer waited
     * for it for ever and the connection never closed. The request is now answered EIO and the connection ends.
     */
    @Test
    void anInternalErrorInsideARequestStillEndsTheConnection() throws Exception {
        AtomicBoolean armed = new AtomicBoolean();
        TestDevice disk = new TestDevice("disk", 64 * MIB) {
            @Override
            public dev.cairn.block.QueueLimits limits() {
                if (armed.get()) {
                    throw new IllegalStateException("injected bug");
                }
                return super.limits();
            }
        };
        try (ServerFixture f = new ServerFixture().export(NbdExport.of("disk", disk))) {
            f.expectedInternalErrors = 1;
            try (TestClient c = TestClient.connect(f.server)) {
                c.go("disk", false, false);
                armed.set(true);
                c.write(CMD_FLAG_FUA, 1, 0, new byte[4096]);
                assertThat(c.readSimple()).isEqualTo(new TestClient.Simple(EIO, 1));
                assertThat(c.bytesUntilClosed()).as("then the connection closes").isZero();
            }
            f.assertQuiescent();
            assertThat(f.server.clientMemory().heldBytes()).isZero();
        }
    }

    @Test
    void aSpentBudgetAnswersEnomemWithoutAllocatingAndTheConnectionGoesOn() throws Exception {
        // A 32 MiB budget: 128 slow writers hold all of it, one piece each.
        try (ServerFixture f = new ServerFixture(b -> b.maxClientMemoryBytes(32 * MIB).bufferPoolBytes(0))
                .export(NbdExport.of("disk", new MemoryStore("disk", 64 * MIB)))) {
            List<TestClient> slow = new ArrayList<>();
            for (int i = 0; i < 32 * MIB / PIECE; i++) {
                slow.add(slowWriter(f.server, 10));
            }
            assertThat(Poll.until(() -> f.server.clientMemory().heldBytes() == 32L * MIB, Duration.ofSeconds(30)))
                    .as("held: %s", f.server.clientMemory()).isTrue();
            long allocations = f.server.bufferPool().allocations();
            try (TestClient normal = TestClient.connect(f.server)) {
                normal.go("disk", false, false);
                normal.request(0, CMD_READ, 1, 0, 4096);
                assertThat(normal.readSimple()).isEqualTo(new TestClient.Simple(ENOMEM, 1));
                normal.write(0, 2, 0, new byte[8192]);
                assertThat(normal.readSimple()).as("the payload was skipped: the stream is in step")
                        .isEqualTo(new TestClient.Simple(ENOMEM, 2));
                assertThat(f.server.clientMemory().refusedRequests()).isEqualTo(2);
                assertThat(f.server.bufferPool().allocations()).as("nothing allocated for a refused request")
                        .isEqualTo(allocations);
                assertThat(f.server.clientMemory().peakHeldBytes()).isEqualTo(32L * MIB);

                slow.removeFirst().close();
                assertThat(Poll.until(() -> f.server.clientMemory().heldBytes() < 32L * MIB, Duration.ofSeconds(20)))
                        .isTrue();
                normal.request(0, CMD_READ, 3, 0, 4096);
                assertThat(normal.readSimple()).isEqualTo(new TestClient.Simple(0, 3));
                normal.read(4096);
                normal.disconnect();
            }
            for (TestClient c : slow) {
                c.close();
            }
            f.assertQuiescent();
        }
    }

    @Test
    void anAllocationFailureFailsTheRequestClosesThatConnectionAndFreesEverything() throws Exception {
        AtomicBoolean failing = new AtomicBoolean();
        BufferPool.Allocator allocator = bytes -> {
            if (failing.get()) {
                throw new OutOfMemoryError("Cannot reserve " + bytes + " bytes of direct buffer memory (injected)");
            }
            return ByteBuffer.allocateDirect(bytes);
        };
        try (ServerFixture f = new ServerFixture(b -> b.allocator(allocator).bufferPoolBytes(0))
                .export(NbdExport.of("disk", new MemoryStore("disk", 64 * MIB)))) {
            try (TestClient other = TestClient.connect(f.server)) {
                other.go("disk", false, false);
                // A long write whose second piece cannot be allocated, and a short one that cannot be: each
                // closes its own connection, with nothing left parked or held.
                for (boolean longWrite : new boolean[] {true, false}) {
                    try (TestClient victim = TestClient.connect(f.server)) {
                        victim.go("disk", false, false);
                        if (longWrite) {
                            long before = f.server.bufferPool().allocations();
                            victim.request(0, CMD_WRITE, 1, 0, 32 * MIB);
                            victim.send(new byte[PIECE]);
                            // The first piece went to the device; the second is allocated, waiting for data.
                            assertThat(Poll.until(() -> f.server.bufferPool().allocations() == before + 2,
                                    Duration.ofSeconds(20))).isTrue();
                            failing.set(true);
                            victim.send(new byte[PIECE]); // fills the second; the third cannot be had
                        } else {
                            failing.set(true);
                            victim.request(0, CMD_WRITE, 1, 0, 4096);
                            victim.trySend(new byte[100]); // the server may have closed already
                        }
                        assertThat(victim.bytesUntilClosed()).as("the server closed the connection").isZero();
                        failing.set(false);
                    }
                    assertThat(Poll.until(() -> f.server.connectionCount() == 1, Duration.ofSeconds(20)))
                            .as("the failed connection ended: its reader and writer finished").isTrue();
                    assertThat(Poll.until(() -> f.server.clientMemory().heldBytes() == 0, Duration.ofSeconds(20)))
                            .as("held: %s", f.server.clientMemory()).isTrue();
                    assertThat(f.server.bufferPool().outstanding()).isZero();
                }
                assertThat(f.server.clientMemory().allocationFailures()).isEqualTo(2);
                other.request(0, CMD_READ, 9, 0, 4096);
                assertThat(other.readSimple()).as("the other connection is served").isEqualTo(new TestClient.Simple(0, 9));
                other.read(4096);
                other.disconnect();
            }
            f.assertQuiescent();
        }
    }
}
