package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.nbd.server.TestClient.Chunk;
import dev.cairn.nbd.server.TestClient.Simple;
import dev.cairn.testkit.Poll;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Every command and every error answer of the transmission phase, at the byte level. */
class TransmissionTest {
    private static final int SIZE = 4 << 20;
    private static final QueueLimits MEMORY = new MemoryStore("m", 4096).limits();

    private final TestDevice disk = new TestDevice("disk", SIZE);
    private final TestDevice ro = new TestDevice("ro", SIZE);
    /** A volatile cache without native FUA: FLUSH and FUA must reach it, FUA as write + flush. */
    private final TestDevice cached = new TestDevice("cached", SIZE, MEMORY.withCache(true, false));
    /** No WRITE_ZEROES, no discard: the server writes zeros itself and offers no TRIM. */
    private final TestDevice plain = new TestDevice("plain", SIZE, MEMORY.withWriteZeroes(0).withDiscard(0, 0));
    private final ServerFixture f = new ServerFixture(b -> b.maxInFlightRequestsPerConnection(8))
            .export(NbdExport.of("disk", disk))
            .export(NbdExport.of("ro", ro).readOnly(true))
            .export(NbdExport.of("cached", cached))
            .export(NbdExport.of("plain", plain));

    @AfterEach
    void tearDown() {
        f.assertQuiescent();
        f.close();
    }

    private static byte[] random(long seed, int n) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    private static void expectSimple(TestClient c, long cookie, int error) {
        Simple s = c.readSimple();
        assertThat(s.cookie()).isEqualTo(cookie);
        assertThat(s.error()).as("error of cookie %d", cookie).isEqualTo(error);
    }

    private static void bye(TestClient c) {
        c.disconnect();
        assertThat(c.closedByServer()).isTrue();
    }

    @Test
    void writeThenReadWithSimpleReplies() {
        try (TestClient c = TestClient.connect(f.server)) {
            TestClient.Go go = c.go("disk", false, false);
            assertThat(go.sizeBytes()).isEqualTo(SIZE);
            byte[] data = random(1, 64 * 1024);
            c.write(0, 1, 4096, data);
            expectSimple(c, 1, 0);
            assertThat(c.readSimpleData(2, 4096, data.length)).isEqualTo(data);
            assertThat(c.readSimpleData(3, 0, 4096)).containsOnly(0);
            bye(c);
        }
    }

    @Test
    void structuredReadsUseDataAndHoleChunksAndDfGivesOneChunk() {
        try (TestClient c = TestClient.connect(f.server)) {
            c.go("disk", true, false);
            byte[] data = random(2, 64 * 1024);
            c.write(0, 1, 0, data);
            expectSimple(c, 1, 0);
            // 192 KiB: 64 KiB data then 128 KiB never written.
            c.request(0, CMD_READ, 2, 0, 192 * 1024);
            List<Chunk> chunks = c.readStructured();
            assertThat(chunks).extracting(Chunk::type).containsExactly(REPLY_TYPE_OFFSET_DATA, REPLY_TYPE_OFFSET_HOLE);
            assertThat(chunks.get(0).payload().getLong(0)).isZero();
            assertThat(chunks.get(0).payload().remaining()).isEqualTo(8 + 64 * 1024);
            assertThat(chunks.get(1).payload().getLong(0)).isEqualTo(64 * 1024);
            assertThat(chunks.get(1).payload().getInt(8)).isEqualTo(128 * 1024);
            assertThat(chunks.get(1).done()).isTrue();
            assertThat(chunks.get(0).done()).isFalse();
            // Entirely unwritten: one hole chunk and no read reaches the device.
            int readsBefore = disk.reads.get();
            c.request(0, CMD_READ, 3, 1 << 20, 1 << 20);
            assertThat(c.readStructured()).singleElement().extracting(Chunk::type).isEqualTo(REPLY_TYPE_OFFSET_HOLE);
            assertThat(disk.reads.get()).isEqualTo(readsBefore);
            // DF: one data chunk with everything, zeros included.
            c.request(CMD_FLAG_DF, CMD_READ, 4, 0, 192 * 1024);
            List<Chunk> df = c.readStructured();
            assertThat(df).singleElement().extracting(Chunk::type).isEqualTo(REPLY_TYPE_OFFSET_DATA);
            assertThat(df.getFirst().payload().remaining()).isEqualTo(8 + 192 * 1024);
            // Assembled content is right either way; small reads are one data chunk.
            byte[] all = c.readStructuredData(0, 5, 0, 192 * 1024);
            assertThat(Arrays.copyOf(all, data.length)).isEqualTo(data);
            assertThat(Arrays.copyOfRange(all, data.length, all.length)).containsOnly(0);
            c.request(0, CMD_READ, 6, 0, 4096);
            assertThat(c.readStructured()).singleElement().extracting(Chunk::type).isEqualTo(REPLY_TYPE_OFFSET_DATA);
            bye(c);
        }
    }

    @Test
    void readsAskTheDeviceForHolesOnlyWhenTheClientDoesNotAskItself() {
        byte[] data = random(12, 64 * 1024);
        try (TestClient c = TestClient.connect(f.server)) {
            c.go("disk", true, false);
            c.write(0, 1, 0, data);
            expectSimple(c, 1, 0);
            int queries = disk.extentQueries.get();
            c.request(0, CMD_READ, 2, 0, 192 * 1024);
            assertThat(c.readStructured()).extracting(Chunk::type)
                    .containsExactly(REPLY_TYPE_OFFSET_DATA, REPLY_TYPE_OFFSET_HOLE);
            assertThat(disk.extentQueries.get()).as("one query for the read").isEqualTo(queries + 1);
            bye(c);
        }
        // With base:allocation the client asks BLOCK_STATUS itself: reads are data only, no query each.
        try (TestClient c = TestClient.connect(f.server)) {
            c.go("disk", true, true);
            int queries = disk.extentQueries.get();
            c.request(0, CMD_READ, 3, 0, 192 * 1024);
            List<Chunk> chunks = c.readStructured();
            assertThat(chunks).singleElement().extracting(Chunk::type).isEqualTo(REPLY_TYPE_OFFSET_DATA);
            ByteBuffer p = chunks.getFirst().payload();
            assertThat(p.getLong()).isZero();
            byte[] all = new byte[p.remaining()];
            p.get(all);
            assertThat(all).hasSize(192 * 1024);
            assertThat(Arrays.copyOf(all, data.length)).isEqualTo(data);
            assertThat(Arrays.copyOfRange(all, data.length, all.length)).containsOnly(0);
            c.request(0, CMD_READ, 4, 1 << 20, 1 << 20); // never written: still data, not one hole chunk
            assertThat(c.readStructured()).singleElement().extracting(Chunk::type).isEqualTo(REPLY_TYPE_OFFSET_DATA);
            assertThat(disk.extentQueries.get()).as("no query for reads").isEqualTo(queries);
            c.request(0, CMD_BLOCK_STATUS, 5, 0, 192 * 1024);
            assertThat(c.readStructured()).singleElement().extracting(Chunk::type).isEqualTo(REPLY_TYPE_BLOCK_STATUS);
            assertThat(disk.extentQueries.get()).as("BLOCK_STATUS still asks").isEqualTo(queries + 1);
            bye(c);
        }
    }

    @Test
    void connectionCountPerExport() throws Exception {
        try (TestClient a1 = TestClient.connect(f.server); TestClient a2 = TestClient.connect(f.server);
                TestClient b1 = TestClient.connect(f.server); TestClient negotiating = TestClient.connect(f.server)) {
            a1.go("disk", false, false);
            a2.go("disk", true, true);
            b1.go("ro", false, false);
            negotiating.hello();
            awaitCount("disk", 2);
            awaitCount("ro", 1);
            assertThat(f.server.connectionCount("plain")).isZero();
            assertThat(f.server.connectionCount("no-such-export")).isZero();
            assertThat(f.server.connectionCount()).isEqualTo(4);
            bye(a1);
            awaitCount("disk", 1);
            // A removed export's connections count until they have closed: they still use its device.
            disk.holdIf(b -> true);
            a2.request(0, CMD_READ, 1, 0, 4096);
            awaitHeld(1);
            assertThat(f.server.removeExport("disk")).isTrue();
            assertThat(f.server.connectionCount("disk")).isEqualTo(1);
            disk.releaseHeld();
            assertThat(a2.readStructured()).singleElement().extracting(Chunk::type).isEqualTo(REPLY_TYPE_OFFSET_DATA);
            assertThat(a2.closedByServer()).isTrue();
            awaitCount("disk", 0);
            bye(b1);
            awaitCount("ro", 0);
        }
    }

    private void awaitCount(String export, int expected) throws InterruptedException {
        Poll.until(() -> f.server.connectionCount(export) == expected, Duration.ofSeconds(5));
        assertThat(f.server.connectionCount(export)).as("connections on '%s'", export).isEqualTo(expected);
    }

    private void awaitHeld(int expected) {
        try {
            Poll.until(() -> disk.heldCount() == expected, Duration.ofSeconds(5));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        assertThat(disk.heldCount()).as("bios held by the device").isEqualTo(expected);
    }

    @Test
    void readErrors() {
        try (TestClient c = TestClient.connect(f.server)) {
            c.go("disk", false, false);
            c.request(0, CMD_READ, 1, 100, 512);
            expectSimple(c, 1, EINVAL); // misaligned offset
            c.request(0, CMD_READ, 2, 0, 100);
            expectSimple(c, 2, EINVAL); // misaligned length
            c.request(0, CMD_READ, 3, SIZE - 512, 1024);
            expectSimple(c, 3, EINVAL); // past the end
            c.request(0, CMD_READ, 4, -512L, 512);
            expectSimple(c, 4, EINVAL); // offset 2^64-512
            c.request(0, CMD_READ, 5, 0, 0);
            expectSimple(c, 5, EINVAL); // zero length
            c.request(0, CMD_READ, 6, 0, (32 << 20) + 512);
            expectSimple(c, 6, EINVAL); // above the maximum payload
            c.request(CMD_FLAG_DF, CMD_READ, 7, 0, 512);
            expectSimple(c, 7, EINVAL); // DF without structured replies
            c.request(0x40, CMD_READ, 8, 0, 512);
            expectSimple(c, 8, EINVAL); // unknown flag
            c.request(CMD_FLAG_FUA, CMD_READ, 9, 0, 512);
            expectSimple(c, 9, 0); // FUA is accepted on any command
            c.read(512);
            bye(c);
        }
    }

    @Test
    void structuredErrorsAreErrorChunksWithAMessage() {
        try (TestClient c = TestClient.connect(f.server)) {
            c.go("disk", true, true);
            c.request(0, CMD_READ, 1, SIZE, 512);
            Chunk e = c.readStructured().getFirst();
            assertThat(e.type()).isEqualTo(REPLY_TYPE_ERROR);
            assertThat(e.done()).isTrue();
            assertThat(e.payload().getInt(0)).isEqualTo(EINVAL);
            int msgLen = e.payload().getShort(4);
            assertThat(msgLen).isPositive().isEqualTo(e.payload().remaining() - 6);
            c.request(0, CMD_BLOCK_STATUS, 2, 0, 0);
            assertThat(c.readStructured().getFirst().payload().getInt(0)).isEqualTo(EINVAL);
            // Non-read commands keep simple replies, even for errors.
            c.write(0, 3, SIZE, new byte[512]);
            expectSimple(c, 3, ENOSPC);
            // A device error maps through BioStatus.errno().
            disk.failIf(b -> b.op() == BioOp.READ, BioStatus.IOERR);
            c.request(0, CMD_READ, 4, 0, 4096);
            assertThat(c.readStructured().getFirst().payload().getInt(0)).isEqualTo(EIO);
            disk.failIf(b -> false, BioStatus.OK);
            disk.throwOnExtents(true);
            c.request(0, CMD_BLOCK_STATUS, 5, 0, 4096);
            assertThat(c.readStructured().getFirst().payload().getInt(0)).isEqualTo(EIO);
            disk.throwOnExtents(false);
            bye(c);
        }
    }

    @Test
    void writeErrorsKeepTheStreamInStep() {
        try (TestClient ro1 = TestClient.connect(f.server); TestClient c = TestClient.connect(f.server)) {
            ro1.go("ro", false, false);
            ro1.write(0, 1, 0, new byte[4096]);
            expectSimple(ro1, 1, EPERM);
            ro1.request(0, CMD_TRIM, 2, 0, 4096);
            expectSimple(ro1, 2, EPERM);
            ro1.request(0, CMD_WRITE_ZEROES, 3, 0, 4096);
            expectSimple(ro1, 3, EPERM);
            ro1.request(0, CMD_FLUSH, 4, 0, 0);
            expectSimple(ro1, 4, 0);
            assertThat(ro.writes.get()).isZero();
            bye(ro1);

            c.go("disk", false, false);
            c.write(0, 5, SIZE - 512, new byte[1024]);
            expectSimple(c, 5, ENOSPC);
            c.write(0, 6, 1, new byte[512]);
            expectSimple(c, 6, EINVAL);
            c.write(0x40, 7, 0, new byte[512]);
            expectSimple(c, 7, EINVAL);
            // A payload above the maximum is read and dropped, never buffered.
            byte[] big = new byte[(32 << 20) + 4096];
            c.write(0, 8, 0, big);
            expectSimple(c, 8, EINVAL);
            byte[] ok = random(3, 4096);
            c.write(0, 9, 0, ok);
            expectSimple(c, 9, 0);
            assertThat(c.readSimpleData(10, 0, 4096)).isEqualTo(ok);
            assertThat(disk.writes.get()).isEqualTo(1);
            bye(c);
        }
    }

    @Test
    void unknownCommandsAndFlagsAreEinval() {
        try (TestClient c = TestClient.connect(f.server)) {
            c.go("disk", true, true);
            for (int type : new int[] {8, 9, 100, 0xffff}) {
                c.request(0, type, type, 0, 512);
                expectSimple(c, type, EINVAL);
            }
            c.request(CMD_FLAG_REQ_ONE, CMD_WRITE_ZEROES, 1, 0, 512);
            expectSimple(c, 1, EINVAL);
            c.request(CMD_FLAG_NO_HOLE, CMD_TRIM, 2, 0, 512);
            expectSimple(c, 2, EINVAL);
            c.request(CMD_FLAG_DF, CMD_CACHE, 3, 0, 512);
            expectSimple(c, 3, EINVAL);
            c.request(0, CMD_FLUSH, 4, 0, 512);
            expectSimple(c, 4, EINVAL);
            c.request(CMD_FLAG_NO_HOLE, CMD_BLOCK_STATUS, 5, 0, 512);
            assertThat(c.readStructured().getFirst().payload().getInt(0)).isEqualTo(EINVAL);
            bye(c);
        }
    }

    @Test
    void trimWriteZeroesAndBlockStatus() {
        try (TestClient c = TestClient.connect(f.server)) {
            c.go("disk", true, true);
            c.write(0, 1, 0, random(4, 1 << 20));
            expectSimple(c, 1, 0);
            c.request(0, CMD_TRIM, 2, 0, 256 * 1024);
            expectSimple(c, 2, 0);
            c.request(CMD_FLAG_NO_HOLE, CMD_WRITE_ZEROES, 3, 256 * 1024, 256 * 1024);
            expectSimple(c, 3, 0);
            c.request(CMD_FLAG_FAST_ZERO, CMD_WRITE_ZEROES, 4, 512 * 1024, 256 * 1024);
            expectSimple(c, 4, 0);
            assertThat(disk.discards.get()).isEqualTo(1);
            assertThat(disk.writeZeroes.get()).isEqualTo(2);
            assertThat(disk.noUnmap.get()).isEqualTo(1);
            assertThat(disk.fastZero.get()).isEqualTo(1);
            c.request(0, CMD_BLOCK_STATUS, 5, 0, 2 << 20);
            Chunk bs = c.readStructured().getFirst();
            assertThat(bs.type()).isEqualTo(REPLY_TYPE_BLOCK_STATUS);
            ByteBuffer p = bs.payload();
            assertThat(p.getInt()).isEqualTo(Handshake.BASE_ALLOCATION_ID);
            int[][] extents = new int[p.remaining() / 8][];
            for (int i = 0; i < extents.length; i++) {
                extents[i] = new int[] {p.getInt(), p.getInt()};
            }
            // trimmed: hole; zeroed with NO_HOLE: still allocated; zeroed without: hole; data; never written.
            assertThat(extents).isDeepEqualTo(new int[][] {
                    new int[] {256 * 1024, STATE_HOLE | STATE_ZERO},
                    new int[] {256 * 1024, 0},
                    new int[] {256 * 1024, STATE_HOLE | STATE_ZERO},
                    new int[] {256 * 1024, 0},
                    new int[] {1 << 20, STATE_HOLE | STATE_ZERO}});
            c.request(CMD_FLAG_REQ_ONE, CMD_BLOCK_STATUS, 6, 0, 2 << 20);
            ByteBuffer one = c.readStructured().getFirst().payload();
            assertThat(one.remaining()).isEqualTo(12);
            assertThat(one.getInt(4)).isEqualTo(256 * 1024);
            byte[] zeroed = c.readStructuredData(0, 7, 0, 768 * 1024);
            assertThat(zeroed).containsOnly(0);
            c.request(0, CMD_CACHE, 8, 0, 1 << 20);
            expectSimple(c, 8, 0);
            c.request(0, CMD_CACHE, 9, SIZE, 512);
            expectSimple(c, 9, EINVAL);
            c.request(0, CMD_TRIM, 10, SIZE - 512, 1024);
            expectSimple(c, 10, EINVAL);
            c.request(0, CMD_WRITE_ZEROES, 11, SIZE - 512, 1024);
            expectSimple(c, 11, ENOSPC);
            bye(c);
        }
    }

    @Test
    void blockStatusNeedsANegotiatedContextForThisExport() {
        try (TestClient c = TestClient.connect(f.server)) {
            c.hello();
            c.option(OPT_STRUCTURED_REPLY, new byte[0]);
            c.option(OPT_SET_META_CONTEXT, TestClient.metaData("ro", META_BASE_ALLOCATION));
            assertThat(c.option(OPT_GO, TestClient.infoData("disk")).getLast().type()).isEqualTo(REP_ACK);
            c.request(0, CMD_BLOCK_STATUS, 1, 0, 4096);
            Chunk e = c.readStructured().getFirst();
            assertThat(e.type()).isEqualTo(REPLY_TYPE_ERROR);
            assertThat(e.payload().getInt(0)).isEqualTo(EINVAL);
            bye(c);
        }
    }

    @Test
    void flushAndFuaReachACachedDeviceAndFuaIsEmulatedWithAFlush() {
        try (TestClient c = TestClient.connect(f.server)) {
            int flags = c.go("cached", false, false).flags();
            assertThat(flags & (TF_SEND_FLUSH | TF_SEND_FUA)).isEqualTo(TF_SEND_FLUSH | TF_SEND_FUA);
            c.request(0, CMD_FLUSH, 1, 0, 0);
            expectSimple(c, 1, 0);
            assertThat(cached.flushes.get()).isEqualTo(1);
            c.write(CMD_FLAG_FUA, 2, 0, new byte[4096]);
            expectSimple(c, 2, 0);
            assertThat(cached.flushes.get()).as("FUA became write + flush").isEqualTo(2);
            assertThat(cached.fuaBios.get()).isZero();
            c.request(CMD_FLAG_FUA, CMD_WRITE_ZEROES, 3, 0, 4096);
            expectSimple(c, 3, 0);
            assertThat(cached.flushes.get()).isEqualTo(3);
            bye(c);
        }
    }

    @Test
    void writeZeroesIsEmulatedAndFastZeroRefusedWithoutNativeSupport() {
        try (TestClient c = TestClient.connect(f.server)) {
            int flags = c.go("plain", false, false).flags();
            assertThat(flags & TF_SEND_TRIM).as("no discard, no TRIM").isZero();
            assertThat(flags & (TF_SEND_WRITE_ZEROES | TF_SEND_FAST_ZERO)).isNotZero();
            c.write(0, 1, 0, random(5, 1 << 20));
            expectSimple(c, 1, 0);
            c.request(CMD_FLAG_FAST_ZERO, CMD_WRITE_ZEROES, 2, 0, 1 << 20);
            expectSimple(c, 2, ENOTSUP);
            c.request(0, CMD_WRITE_ZEROES, 3, 0, (1 << 20) + 4096);
            expectSimple(c, 3, 0);
            assertThat(plain.writeZeroes.get()).isZero();
            assertThat(c.readSimpleData(4, 0, 1 << 20)).containsOnly(0);
            c.request(0, CMD_TRIM, 5, 0, 4096);
            expectSimple(c, 5, EINVAL);
            bye(c);
        }
    }

    @Test
    void repliesComeOutOfOrderAndDiscDrainsInFlightRequests() throws InterruptedException {
        try (TestClient c = TestClient.connect(f.server)) {
            c.go("disk", false, false);
            disk.holdIf(b -> b.op() == BioOp.WRITE && b.sector() == 0);
            byte[] first = random(6, 4096);
            c.write(0, 1, 0, first);
            c.write(0, 2, 8192, random(7, 4096));
            expectSimple(c, 2, 0); // the second one overtakes the held first one
            assertThat(disk.heldCount()).isEqualTo(1);
            c.disconnect();
            // the server has read DISC and stopped reading; it waits for the held write before it closes
            assertThat(Poll.until(() -> f.server.connectionStats().getFirst().readingEnded(), Duration.ofSeconds(5)))
                    .as("DISC read").isTrue();
            assertThat(f.server.connectionCount()).as("still open for the held write").isEqualTo(1);
            disk.releaseHeld();
            expectSimple(c, 1, 0);
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void inFlightRequestsAreBounded() throws Exception {
        try (TestClient c = TestClient.connect(f.server)) {
            c.go("disk", false, false);
            disk.holdIf(b -> b.op() == BioOp.READ);
            for (int i = 0; i < 40; i++) {
                c.request(0, CMD_READ, i, 0, 4096);
            }
            // the reader has taken 8 requests and waits for the budget with the ninth: no more can reach the device
            assertThat(Poll.until(() -> disk.heldCount() == 8 && f.server.connectionStats().getFirst().waitingForBudget(),
                    Duration.ofSeconds(5))).as("8 held and the reader waiting for the budget").isTrue();
            assertThat(disk.heldCount()).as("limit of 8 requests in flight").isEqualTo(8);
            assertThat(f.server.connectionStats().getFirst().inFlightRequests()).isEqualTo(8);
            disk.releaseHeld();
            Set<Long> cookies = new HashSet<>();
            for (int i = 0; i < 40; i++) {
                Simple s = c.readSimple();
                assertThat(s.error()).isZero();
                c.read(4096);
                cookies.add(s.cookie());
            }
            assertThat(cookies).hasSize(40);
            assertThat(disk.maxHeld.get()).isEqualTo(8);
            bye(c);
        }
    }

    @Test
    void removingAnExportDrainsAndClosesItsConnectionsOnly() {
        try (TestClient a = TestClient.connect(f.server); TestClient b = TestClient.connect(f.server)) {
            a.go("disk", false, false);
            b.go("plain", false, false);
            disk.holdIf(x -> x.op() == BioOp.WRITE);
            a.write(0, 1, 0, new byte[4096]);
            awaitHeld(1);
            assertThat(f.server.removeExport("disk")).isTrue();
            disk.releaseHeld();
            expectSimple(a, 1, 0);
            assertThat(a.closedByServer()).isTrue();
            b.write(0, 2, 0, new byte[512]);
            expectSimple(b, 2, 0);
            bye(b);
        }
        try (TestClient c = TestClient.connect(f.server)) {
            c.hello();
            assertThat(c.option(OPT_GO, TestClient.infoData("disk")).getFirst().type()).isEqualTo(REP_ERR_UNKNOWN);
            c.option(OPT_ABORT, new byte[0]);
        }
    }

    @Test
    void badMagicOrTruncatedRequestDropsOnlyThatConnection() {
        try (TestClient bad = TestClient.connect(f.server); TestClient cut = TestClient.connect(f.server);
                TestClient good = TestClient.connect(f.server)) {
            bad.go("disk", false, false);
            cut.go("disk", false, false);
            good.go("disk", false, false);
            bad.send(ByteBuffer.allocate(28).putInt(0x12560953).position(28).flip());
            assertThat(bad.closedByServer()).isTrue();
            ByteBuffer half = ByteBuffer.allocate(28 + 100);
            dev.cairn.nbd.protocol.NbdWire.putRequest(half, 0, CMD_WRITE, 1, 0, 4096);
            cut.send(half.flip());
            cut.close();
            byte[] data = random(8, 4096);
            good.write(0, 1, 0, data);
            expectSimple(good, 1, 0);
            assertThat(good.readSimpleData(2, 0, 4096)).isEqualTo(data);
            bye(good);
        }
    }

    @Test
    void largeTrimIsChainedIntoSeveralBios() {
        long big = 6L << 30;
        TestDevice huge = new TestDevice("huge", big);
        f.server.addExport(NbdExport.of("huge", huge));
        try (TestClient c = TestClient.connect(f.server)) {
            c.go("huge", false, false);
            c.request(0, CMD_TRIM, 1, 0, 0xffff_f000);
            expectSimple(c, 1, 0);
            assertThat(huge.discards.get()).as("4 GiB in pieces of at most 1 GiB").isEqualTo(4);
            c.request(0, CMD_WRITE_ZEROES, 2, 1L << 30, 0xffff_f000);
            expectSimple(c, 2, 0);
            assertThat(huge.writeZeroes.get()).isEqualTo(4);
            bye(c);
        }
    }
}
