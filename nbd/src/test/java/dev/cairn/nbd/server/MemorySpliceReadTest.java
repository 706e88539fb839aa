package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.SpliceSink;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.testkit.ForwardingDevice;
import dev.cairn.testkit.Poll;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
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
        server = NbdServer.builder().submitter(submitter).unix(socket).tcp("127.0.0.1", 0).build();
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
        return SpliceReadChecks.slice(image, offset, length);
    }

    @Test
    void simpleAndStructuredReadsAreWrittenFromTheStoresPagesWithTheSameBytes() {
        SpliceReadChecks.simpleThenStructuredReads(socket, "mem", image, rnd, store::splicedPieces);
    }

    @Test
    void overTcpTooLargeReadsAreWrittenFromTheStoresPages() {
        long before = store.splicedPieces();
        SpliceReadChecks.tcpReads(server.tcpPort(), "mem", image, rnd);
        assertThat(store.splicedPieces()).isGreaterThan(before);
    }

    @Test
    void repliesWaitingForASlowClientKeepTheirDataWhileAnotherClientDiscardsAndWrites() throws Exception {
        int inFlight = 24; // more than the socket holds: most replies wait in the server, their pages pinned
        long[] offsets = new long[inFlight];
        AtomicInteger readsDone = new AtomicInteger();
        server.addExport(NbdExport.of("mem-counted", new ForwardingDevice(store) {
            @Override
            public void submitBio(Bio bio) {
                super.submitBio(bio); // a memory store reads inline: its pages are pinned on return
                if (bio.op() == BioOp.READ) {
                    readsDone.incrementAndGet();
                }
            }
        }));
        try (TestClient slow = TestClient.connectUnix(socket); TestClient other = TestClient.connectUnix(socket)) {
            slow.go("mem-counted", false, false);
            other.go("mem", false, false);
            for (int i = 0; i < inFlight; i++) {
                offsets[i] = (long) rnd.nextInt(4) * MIB; // all in [0, 4 MiB): data
                slow.request(0, CMD_READ, i, offsets[i], MIB);
            }
            // the server reads every request and answers it by reference, filling the socket
            assertThat(Poll.until(() -> readsDone.get() == inFlight, Duration.ofSeconds(30)))
                    .as("READs done before the other client starts: %d of %d", readsDone.get(), inFlight).isTrue();
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
            SpliceReadChecks.readRepliesSlowly(slow, inFlight, MIB, cookie -> offsets[cookie], snapshot, 0);
            slow.disconnect();
            other.disconnect();
        }
        assertThat(store.splicedPieces()).isPositive();
    }

    /**
     * Splits every READ into 4 KiB clones that keep the read's sink, as a striped device with 4 KiB chunks
     * does: a 32 MiB read offers 8192 pieces.
     */
    private static final class Shredder extends ForwardingDevice {
        private final Submitter submitter;

        Shredder(MemoryStore lower, Submitter submitter) {
            super(lower);
            this.submitter = submitter;
        }

        @Override
        public String name() {
            return "shredder";
        }

        @Override
        public void submitBio(Bio bio) {
            int step = bio.op() == BioOp.READ ? 8 : Math.max(1, bio.sectors());
            for (int s = 0; s < Math.max(1, bio.sectors()); s += step) {
                Bio c = bio.clone(null).setDevice(lower());
                if (bio.sectors() > 0) {
                    c.trim(s, Math.min(step, bio.sectors() - s));
                }
                c.setSpliceSink(bio.spliceSink()).chain(bio);
                submitter.submit(c);
            }
            bio.complete();
        }
    }

    @Test
    void aReadSplitIntoThousandsOfPiecesIsReferencedUpToTheCapAndCopiedForTheRest() throws Exception {
        server.addExport(NbdExport.of("shredded", new Shredder(store, submitter)));
        int length = 32 * MIB; // the largest read the server accepts: 8192 clones of 4 KiB
        try (TestClient c = TestClient.connectUnix(socket)) {
            c.go("shredded", false, false);
            long before = store.splicedPieces();
            assertThat(c.readSimpleData(1, 0, length)).isEqualTo(expected(0, length));
            assertThat(store.splicedPieces() - before).as("one sink's worth").isEqualTo(SpliceSink.MAX_PIECES);
            // and again, with replies queued behind each other for the writer
            for (int i = 0; i < 3; i++) {
                c.request(0, CMD_READ, 10 + i, 0, length);
            }
            SpliceReadChecks.readRepliesSlowly(c, 3, length, cookie -> 0, image, 0);
            c.disconnect();
        }
    }

    @Test
    void theLargestReplyFitsOneBatchOfTheWriter() {
        assertThat(ReplyWriter.maxIovEntries()).isLessThanOrEqualTo(ReplyWriter.maxIov());
    }
}
