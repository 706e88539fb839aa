package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.store.FileStore;
import dev.cairn.block.store.FileStoreConfig;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Large READs of a file export over a real socket are sent from the page cache with sendfile
 * ({@link dev.cairn.block.SpliceSink}): the client gets the same bytes as from a copy, in simple and
 * structured replies, with holes, while the file is rewritten, and when it reads so slowly that the socket
 * fills (where {@link SocketTransport#sendFile} waits by sending a piece through memory). No buffer, budget
 * or pin is left behind: the store closes.
 */
@Timeout(120)
class SpliceReadTest {
    private static final int SIZE = 32 << 20;
    private static final int KIB = 1024;

    @TempDir
    Path dir;

    private final Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
    private final SplittableRandom rnd = new SplittableRandom(11);
    private byte[] image;
    private FileStore store;
    private NbdServer server;
    private Path socket;

    @BeforeEach
    void start() throws Exception {
        Path file = dir.resolve("disk.img");
        image = new byte[SIZE];
        // data in the first half, a hole in the middle of it, the second half a hole: structured reads mix
        for (int at = 0; at < SIZE / 2; at += 64 * KIB) {
            if (at >= 4 << 20 && at < 6 << 20) {
                continue;
            }
            byte[] chunk = new byte[64 * KIB];
            rnd.nextBytes(chunk);
            System.arraycopy(chunk, 0, image, at, chunk.length);
        }
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(SIZE);
            for (int at = 0; at < SIZE / 2; at += 64 * KIB) {
                if (at < 4 << 20 || at >= 6 << 20) {
                    f.seek(at);
                    f.write(image, at, 64 * KIB);
                }
            }
        }
        // all of it in the page cache, holes included (reading a hole caches zero pages): only cached
        // ranges are sent by reference, and the tests below want every large read to be
        java.nio.file.Files.readAllBytes(file);
        store = FileStore.open(file, FileStoreConfig.defaults());
        socket = dir.resolve("nbd.sock");
        server = NbdServer.builder().submitter(submitter).unix(socket).tcp("127.0.0.1", 0).build();
        server.addExport(NbdExport.of("disk", store));
        server.start();
    }

    @AfterEach
    void stop() {
        server.close();
        store.close(); // waits for every referenced piece: a leaked pin would hang here (and time out)
        submitter.close();
        assertThat(server.bufferPool().outstanding()).as("buffers not returned").isZero();
    }

    private byte[] expected(long offset, int length) {
        return SpliceReadChecks.slice(image, offset, length);
    }

    @Test
    void simpleAndStructuredReadsAreSentFromThePageCacheWithTheSameBytes() {
        SpliceReadChecks.simpleThenStructuredReads(socket, "disk", image, rnd, store::splicedPieces);
    }

    @Test
    void overTcpFileDataIsCopiedNotSentFromTheFile() {
        long before = store.splicedPieces();
        SpliceReadChecks.tcpReads(server.tcpPort(), "disk", image, rnd);
        assertThat(store.splicedPieces()).as("sendfile to loopback TCP measured slower than a copy").isEqualTo(before);
    }

    @Test
    void readsRacingWritesOfOtherRangesStayExactAndSmallReadsAreCopied() {
        long before = store.splicedPieces();
        try (TestClient c = TestClient.connectUnix(socket)) {
            c.go("disk", false, false);
            for (int i = 0; i < 30; i++) {
                int length = 256 * KIB;
                long offset = (long) rnd.nextInt(SIZE / length) * length;
                byte[] data = new byte[length];
                rnd.nextBytes(data);
                System.arraycopy(data, 0, image, (int) offset, length);
                c.write(0, 1000 + i, offset, data);
                assertThat(c.readSimple().error()).isZero();
                long readAt = (long) rnd.nextInt(SIZE / length) * length;
                assertThat(c.readSimpleData(2000 + i, readAt, length)).isEqualTo(expected(readAt, length));
                assertThat(c.readSimpleData(3000 + i, offset, length)).as("reads its own write").isEqualTo(data);
            }
            long large = store.splicedPieces();
            assertThat(large - before).isPositive();
            for (int i = 0; i < 20; i++) {
                long offset = (long) rnd.nextInt(SIZE / 4096) * 4096;
                assertThat(c.readSimpleData(4000 + i, offset, 4096)).isEqualTo(expected(offset, 4096));
            }
            assertThat(store.splicedPieces()).as("4 KiB replies go in one gathering write with others").isEqualTo(large);
            c.disconnect();
        }
    }

    @Test
    void aClientThatReadsSlowlyFillsTheSocketAndStillGetsEveryByte() throws Exception {
        int length = 1 << 20;
        int inFlight = 24; // more than the socket's buffer holds
        try (TestClient c = TestClient.connectUnix(socket)) {
            c.go("disk", false, false);
            long[] offsets = new long[inFlight];
            for (int i = 0; i < inFlight; i++) {
                offsets[i] = (long) rnd.nextInt((SIZE - length) / 4096) * 4096;
                c.request(0, CMD_READ, i, offsets[i], length);
            }
            Thread.sleep(300); // let the server fill the socket and find it full
            SpliceReadChecks.readRepliesSlowly(c, inFlight, length, cookie -> offsets[cookie], image, 5);
            assertThat(server.connectionStats().getFirst().copiedFileRangeBytes())
                    .as("bytes sent through memory while waiting for room").isPositive();
            c.disconnect();
        }
        assertThat(store.splicedPieces()).isPositive();
    }
}
