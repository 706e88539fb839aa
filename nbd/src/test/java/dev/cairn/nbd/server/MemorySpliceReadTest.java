package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.SpliceSink;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.store.MemoryStore;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Large READs of a memory export over a real socket are written from the store's own pages
 * ({@link SpliceSink.MemoryRange}): the client gets the same bytes as from a copy, in simple and structured
 * replies with holes; and while replies wait for a slow client, another client's discards and writes cannot
 * hand their pages to other data.
 */
@Timeout(120)
class MemorySpliceReadTest {
    private static final int SIZE = 32 << 20;
    private static final int KIB = 1024;
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    private final Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
    private final SplittableRandom rnd = new SplittableRandom(17);
    private final byte[] image = new byte[SIZE];
    private MemoryStore store;
    private NbdServer server;
    private Path socket;

    @BeforeEach
    void start() throws Exception {
        store = new MemoryStore("mem", SIZE);
        socket = dir.resolve("nbd.sock");
        server = NbdServer.builder().submitter(submitter).unix(socket).build();
        server.addExport(NbdExport.of("mem", store));
        server.start();
        // data in the first half, with a hole at [4 MiB, 6 MiB); the second half never written
        try (TestClient c = TestClient.connectUnix(socket)) {
            c.go("mem", false, false);
            for (int at = 0; at < SIZE / 2; at += MIB) {
                if (at >= 4 * MIB && at < 6 * MIB) {
                    continue;
                }
                byte[] chunk = new byte[MIB];
                rnd.nextBytes(chunk);
                System.arraycopy(chunk, 0, image, at, MIB);
                c.write(0, at, at, chunk);
                assertThat(c.readSimple().error()).isZero();
            }
            c.disconnect();
        }
    }

    @AfterEach
    void stop() {
        server.close();
        submitter.close();
        assertThat(server.bufferPool().outstanding()).as("buffers not returned").isZero();
    }

    private byte[] expected(long offset, int length) {
        return Arrays.copyOfRange(image, (int) offset, (int) offset + length);
    }

    @Test
    void simpleAndStructuredReadsAreWrittenFromTheStoresPagesWithTheSameBytes() {
        long before = store.splicedPieces();
        try (TestClient simple = TestClient.connectUnix(socket)) {
            simple.go("mem", false, false);
            for (int i = 0; i < 40; i++) {
                int length = (64 * KIB) << rnd.nextInt(5); // 64 KiB .. 1 MiB
                long offset = (long) rnd.nextInt((SIZE - length) / 4096) * 4096;
                assertThat(simple.readSimpleData(i, offset, length)).as("read %d at %d+%d", i, offset, length)
                        .isEqualTo(expected(offset, length));
            }
            simple.disconnect();
        }
        long afterSimple = store.splicedPieces();
        assertThat(afterSimple - before).as("reads answered by reference").isPositive();

        try (TestClient structured = TestClient.connectUnix(socket)) {
            structured.go("mem", true, false);
            long[] offsets = {3 * MIB + 512 * KIB, 4 * MIB, 6 * MIB - 64 * KIB, SIZE / 2 - 256 * KIB, 0};
            for (int i = 0; i < offsets.length; i++) {
                assertThat(structured.readStructuredData(0, 100 + i, offsets[i], MIB)).as("structured read at %d", offsets[i])
                        .isEqualTo(expected(offsets[i], MIB));
            }
            structured.disconnect();
        }
        assertThat(store.splicedPieces()).isGreaterThan(afterSimple);
    }

    @Test
    void repliesWaitingForASlowClientKeepTheirDataWhileAnotherClientDiscardsAndWrites() throws Exception {
        int inFlight = 24; // more than the socket holds: most replies wait in the server, their pages pinned
        long[] offsets = new long[inFlight];
        try (TestClient slow = TestClient.connectUnix(socket); TestClient other = TestClient.connectUnix(socket)) {
            slow.go("mem", false, false);
            other.go("mem", false, false);
            for (int i = 0; i < inFlight; i++) {
                offsets[i] = (long) rnd.nextInt(4) * MIB; // all in [0, 4 MiB): data
                slow.request(0, CMD_READ, i, offsets[i], MIB);
            }
            Thread.sleep(300); // the server reads every request, answers them by reference, fills the socket
            byte[] snapshot = expected(0, 4 * MIB);
            // drop those pages and write elsewhere, again and again: without pins, the free pages would be
            // handed to the new data and the waiting replies would carry it
            for (int round = 0; round < 6; round++) {
                other.request(0, CMD_TRIM, 10_000 + round, 0, 4 * MIB);
                assertThat(other.readSimple().error()).isZero();
                for (int m = 0; m < 4; m++) {
                    byte[] junk = new byte[MIB];
                    Arrays.fill(junk, (byte) (round + 1));
                    other.write(0, 20_000 + round * 4 + m, (long) (20 + m) * MIB, junk);
                    assertThat(other.readSimple().error()).isZero();
                }
            }
            for (int i = 0; i < inFlight; i++) {
                TestClient.Simple s = slow.readSimple();
                assertThat(s.error()).isZero();
                ByteBuffer data = slow.read(MIB);
                byte[] got = new byte[MIB];
                data.get(got);
                int at = (int) offsets[(int) s.cookie()];
                assertThat(got).as("reply %d", s.cookie()).isEqualTo(Arrays.copyOfRange(snapshot, at, at + MIB));
            }
            slow.disconnect();
            other.disconnect();
        }
        assertThat(store.splicedPieces()).isPositive();
    }

    @Test
    void theLargestReplyFitsOneBatchOfTheWriter() {
        assertThat(ReplyWriter.maxIovEntries()).isLessThanOrEqualTo(ReplyWriter.maxIov());
    }
}
