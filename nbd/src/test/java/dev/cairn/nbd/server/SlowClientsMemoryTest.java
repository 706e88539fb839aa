package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.testkit.Poll;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 22, the class: 200 clients on real Unix sockets each send a 32 MiB WRITE header and then their
 * payload a byte at a time, while a normal client does verified I/O. Before the fix each slow client
 * reserved its whole payload (6 GiB for 200, and OutOfMemoryErrors); now each holds one piece
 * ({@link RequestHandlers#WRITE_PIECE_BYTES}), which the server's own gauge shows, the process's resident set
 * stays within the bound docs/nbd.md states (512 MiB over idle for this many clients), and the normal
 * client is never refused or made to wait for memory.
 */
@Timeout(300)
class SlowClientsMemoryTest {
    private static final int MIB = 1 << 20;
    private static final int SLOW_CLIENTS = 200;
    /** The stated bound: resident memory added by 200 slow clients (docs/nbd.md, "Bounds"). */
    private static final long RSS_BOUND_BYTES = 512L * MIB;
    /** The normal client's median request latency while they hold on. */
    private static final long LATENCY_BOUND_NANOS = 50_000_000;

    @TempDir
    Path dir;

    @Test
    void twoHundredSlowClientsKeepMemoryBoundedWhileANormalClientIsServed() throws Exception {
        Path socket = dir.resolve("nbd.sock");
        try (Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
                NbdServer server = NbdServer.builder().submitter(submitter).unix(socket).build()) {
            server.addExport(NbdExport.of("slow", new MemoryStore("slow", 64 * MIB)));
            server.addExport(NbdExport.of("normal", new MemoryStore("normal", 64 * MIB)));
            server.start();
            assertThat(Files.exists(socket)).isTrue();

            try (TestClient normal = TestClient.connectUnix(socket)) {
                normal.go("normal", false, false);
                Random rnd = new Random(22);
                roundTrips(normal, rnd, 200); // warm up: the JIT, the pool's first buffers
                long idleRss = rssBytes();

                List<TestClient> slow = new ArrayList<>();
                try {
                    for (int i = 0; i < SLOW_CLIENTS; i++) {
                        TestClient c = TestClient.connectUnix(socket);
                        slow.add(c);
                        c.go("slow", false, false);
                        c.request(0, CMD_WRITE, i, 0, 32 * MIB);
                        c.send(new byte[1]);
                    }
                    long slowHeld = (long) SLOW_CLIENTS * RequestHandlers.WRITE_PIECE_BYTES;
                    assertThat(Poll.until(() -> server.clientMemory().heldBytes() >= slowHeld, Duration.ofSeconds(60)))
                            .as("every slow client's first byte read: %s", server.clientMemory()).isTrue();

                    long[] latencies = new long[0];
                    for (int round = 0; round < 10; round++) {
                        for (TestClient c : slow) {
                            c.send(new byte[1]); // the trickle
                        }
                        long[] more = roundTrips(normal, rnd, 20);
                        latencies = concat(latencies, more);
                    }
                    long rssGrowth = rssBytes() - idleRss;
                    NbdServer.ClientMemory memory = server.clientMemory();
                    Arrays.sort(latencies);
                    long median = latencies[latencies.length / 2];
                    System.out.printf("200 slow clients: held %d MiB (peak %d MiB), RSS +%d MiB, normal client"
                            + " median %.2f ms, max %.2f ms%n", memory.heldBytes() >> 20, memory.peakHeldBytes() >> 20,
                            rssGrowth >> 20, median / 1e6, latencies[latencies.length - 1] / 1e6);

                    // One piece per slow client, and the normal client's own buffers (8 KiB at a time).
                    assertThat(memory.peakHeldBytes()).isLessThanOrEqualTo(slowHeld + MIB);
                    assertThat(rssGrowth).as("resident memory added by the slow clients").isLessThan(RSS_BOUND_BYTES);
                    assertThat(memory.refusedRequests()).as("requests refused for memory").isZero();
                    assertThat(median).as("the normal client's median latency").isLessThan(LATENCY_BOUND_NANOS);
                } finally {
                    for (TestClient c : slow) {
                        c.close();
                    }
                }
                assertThat(Poll.until(() -> server.connectionCount() == 1, Duration.ofSeconds(60)))
                        .as("the slow clients' connections closed").isTrue();
                assertThat(Poll.until(() -> server.clientMemory().heldBytes() == 0, Duration.ofSeconds(20)))
                        .as("their memory came back: %s", server.clientMemory()).isTrue();
                roundTrips(normal, rnd, 10);
                normal.disconnect();
            }
            assertThat(Poll.until(() -> server.connectionCount() == 0, Duration.ofSeconds(20))).isTrue();
            assertThat(server.bufferPool().outstanding()).isZero();
            assertThat(server.internalErrors()).isZero();
        }
    }

    /** {@code n} verified write-then-read pairs of 4 KiB; the latency of each pair in nanoseconds. */
    private static long[] roundTrips(TestClient c, Random rnd, int n) {
        long[] out = new long[n];
        for (int i = 0; i < n; i++) {
            byte[] data = new byte[4096];
            rnd.nextBytes(data);
            long at = rnd.nextInt(16 * 1024) * 4096L;
            long start = System.nanoTime();
            c.write(0, 2L * i, at, data);
            assertThat(c.readSimple()).isEqualTo(new TestClient.Simple(0, 2L * i));
            assertThat(c.readSimpleData(2L * i + 1, at, 4096)).isEqualTo(data);
            out[i] = System.nanoTime() - start;
        }
        return out;
    }

    private static long[] concat(long[] a, long[] b) {
        long[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /** This process's resident set ({@code VmRSS} of /proc/self/status). */
    private static long rssBytes() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        throw new IOException("no VmRSS in /proc/self/status");
    }
}
