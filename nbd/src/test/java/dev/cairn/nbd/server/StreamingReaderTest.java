package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The request loop moves to a platform thread while a client streams large WRITEs and back to the
 * connection's virtual thread for other requests (see {@link ReaderThreads}): every request is
 * answered once with the right data across the moves, the moves happen where the thresholds say, and a
 * connection that ends or breaks while on the platform thread closes cleanly.
 */
class StreamingReaderTest {
    private static final int SIZE = 16 << 20;
    private static final int LARGE = ReaderThreads.STREAM_WRITE_MIN_BYTES * 2;

    private final TestDevice device = new TestDevice("m", SIZE);
    private final ServerFixture f = new ServerFixture().export(NbdExport.of("m", device));
    private final byte[] image = new byte[SIZE];
    private final SplittableRandom rnd = new SplittableRandom(7);

    @AfterEach
    void tearDown() {
        f.assertQuiescent();
        f.close();
    }

    /** Whether the submitting thread was virtual, per submitted bio. */
    private final List<Boolean> virtualSubmitters = new ArrayList<>();

    {
        device.onSubmit = b -> {
            synchronized (virtualSubmitters) {
                virtualSubmitters.add(Thread.currentThread().isVirtual());
            }
        };
    }

    private List<Boolean> takeSubmitters() {
        synchronized (virtualSubmitters) {
            List<Boolean> copy = List.copyOf(virtualSubmitters);
            virtualSubmitters.clear();
            return copy;
        }
    }

    /** {@code n} large WRITEs of random data, {@code depth} in flight; every reply checked. */
    private void largeWrites(TestClient c, int n, int depth, long cookieBase) {
        int sent = 0;
        int answered = 0;
        while (answered < n) {
            while (sent < n && sent - answered < depth) {
                long offset = (long) rnd.nextInt(SIZE / LARGE) * LARGE;
                byte[] data = new byte[LARGE];
                rnd.nextBytes(data);
                System.arraycopy(data, 0, image, (int) offset, LARGE);
                c.write(0, cookieBase + sent, offset, data);
                sent++;
            }
            TestClient.Simple s = c.readSimple();
            assertThat(s.error()).as("error of write %d", s.cookie()).isZero();
            answered++;
        }
    }

    private void smallReads(TestClient c, int n, long cookieBase) {
        for (int i = 0; i < n; i++) {
            long offset = (long) rnd.nextInt(SIZE / 4096) * 4096;
            byte[] expected = java.util.Arrays.copyOfRange(image, (int) offset, (int) offset + 4096);
            assertThat(c.readSimpleData(cookieBase + i, offset, 4096)).isEqualTo(expected);
        }
    }

    /** Streaming switches of the server's only connection. */
    private int switches() {
        assertThat(f.server.connectionStats()).hasSize(1);
        return f.server.connectionStats().getFirst().streamingSwitches();
    }

    @Test
    void largeWritesMoveTheLoopToAPlatformThreadAndOtherRequestsMoveItBack() {
        try (TestClient c = TestClient.connect(f.server)) {
            c.go("m", false, false);
            int n = ReaderThreads.STREAM_ENTER_REQUESTS * 3;
            largeWrites(c, n, 4, 0);
            assertThat(switches()).isEqualTo(1);
            List<Boolean> submitters = takeSubmitters();
            assertThat(submitters).hasSize(n);
            // the first STREAM_ENTER_REQUESTS are submitted by the virtual thread, every later one by the platform one
            assertThat(submitters.subList(0, ReaderThreads.STREAM_ENTER_REQUESTS)).containsOnly(true);
            assertThat(submitters.subList(ReaderThreads.STREAM_ENTER_REQUESTS, n)).containsOnly(false);

            int reads = ReaderThreads.STREAM_LEAVE_REQUESTS * 2;
            smallReads(c, reads, 1000);
            submitters = takeSubmitters();
            assertThat(submitters.subList(0, ReaderThreads.STREAM_LEAVE_REQUESTS)).containsOnly(false);
            assertThat(submitters.subList(ReaderThreads.STREAM_LEAVE_REQUESTS, reads)).containsOnly(true);

            // again, with small requests mixed in before the run of large ones: the votes start over
            smallReads(c, 3, 2000);
            largeWrites(c, ReaderThreads.STREAM_ENTER_REQUESTS - 1, 1, 3000);
            smallReads(c, 1, 4000);
            assertThat(switches()).as("seven large writes in a row are not enough").isEqualTo(1);
            // the loop moves right after the eighth write is read, which may be after its reply is sent: only a
            // request behind it (read on the new thread) proves the move has happened
            largeWrites(c, ReaderThreads.STREAM_ENTER_REQUESTS + 1, 2, 5000);
            assertThat(switches()).isEqualTo(2);
            smallReads(c, 64, 6000); // every byte still right, read on both kinds of thread
            c.disconnect();
        }
    }

    @Test
    void aClientThatLeavesWhileStreamingIsAnsweredAndClosedCleanly() {
        try (TestClient c = TestClient.connect(f.server)) {
            c.go("m", false, false);
            largeWrites(c, ReaderThreads.STREAM_ENTER_REQUESTS + 2, 4, 0);
            assertThat(switches()).isEqualTo(1);
            // one more write in flight, then DISC right behind it: the write is still answered
            byte[] data = new byte[LARGE];
            rnd.nextBytes(data);
            c.write(0, 99, 0, data);
            c.disconnect();
            TestClient.Simple s = c.readSimple();
            assertThat(s.cookie()).isEqualTo(99);
            assertThat(s.error()).isZero();
            assertThat(c.bytesUntilClosed()).isZero();
        }
        // tearDown: connection gone, buffers back, no internal error
    }

    @Test
    void aBadRequestWhileStreamingDropsTheConnectionWithoutAnInternalError() {
        try (TestClient c = TestClient.connect(f.server)) {
            c.go("m", false, false);
            largeWrites(c, ReaderThreads.STREAM_ENTER_REQUESTS + 2, 4, 0);
            assertThat(switches()).isEqualTo(1);
            ByteBuffer bad = ByteBuffer.allocate(REQUEST_HEADER_BYTES);
            bad.putInt(0x12345678).putShort((short) 0).putShort((short) CMD_READ).putLong(1).putLong(0).putInt(4096);
            c.send(bad.flip());
            assertThat(c.bytesUntilClosed()).isZero();
        }
    }
}
