package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.nbd.protocol.NbdWire;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * The bound on copied read data queued for the reply writer ({@link NbdServer#DEFAULT_MAX_QUEUED_READ_BYTES}):
 * while the client does not take its replies, the reader stops starting READs once that much is queued, and
 * starts them again as the replies go out; every READ is still answered once with the right data.
 */
class QueuedReadLimitTest {
    private static final int SIZE = 4 << 20;
    private static final int READ_BYTES = 16 * 1024;
    private static final int REQUESTS = 64;
    private static final long LIMIT_BYTES = 64 * 1024;

    private static byte[] image() {
        byte[] image = new byte[SIZE];
        for (int i = 0; i < SIZE; i++) {
            image[i] = (byte) ((i * 0x9E37_79B9L) >>> 24 | 1);
        }
        return image;
    }

    private static TestDevice filledDevice(byte[] image) {
        TestDevice d = new TestDevice("q", SIZE);
        Bio w = Bio.alloc().setDevice(d).setOp(BioOp.WRITE).setSector(0).setData(MemorySegment.ofArray(image));
        d.submitBio(w); // a memory store completes inline
        return d;
    }

    /**
     * Sends {@link #REQUESTS} READs in one write without reading a reply, waits until at least
     * {@code minStarted} READs reached the device and no more arrive, and returns how many did; then reads
     * and checks every reply.
     */
    private static int readsStartedWhileRepliesWait(long maxQueuedReadBytes, int minStarted) throws Exception {
        byte[] image = image();
        TestDevice device = filledDevice(image);
        try (ServerFixture f = new ServerFixture(b -> b.maxQueuedReadBytesPerConnection(maxQueuedReadBytes))
                .export(NbdExport.of("q", device))) {
            int started;
            try (TestClient c = TestClient.connect(f.server)) {
                c.go("q", false, false);
                ByteBuffer requests = ByteBuffer.allocate(REQUESTS * REQUEST_HEADER_BYTES);
                for (int i = 0; i < REQUESTS; i++) {
                    NbdWire.putRequest(requests, 0, CMD_READ, i, (long) i * READ_BYTES * 3, READ_BYTES);
                }
                c.send(requests.flip()); // one pipe write: the reader finds them all buffered
                // The pipe to the client holds 64 KiB, so the writer soon blocks; give the reader time to run
                // as far as it may (a stalled reader cannot end the wait before it has started minStarted).
                int seen = -1;
                long deadline = System.nanoTime() + 30_000_000_000L;
                for (int quiet = 0; quiet < 10 || (seen < minStarted && System.nanoTime() < deadline); ) {
                    Thread.sleep(30);
                    int now = device.reads.get();
                    quiet = now == seen ? quiet + 1 : 0;
                    seen = now;
                }
                started = seen;
                boolean[] answered = new boolean[REQUESTS];
                for (int i = 0; i < REQUESTS; i++) {
                    TestClient.Simple s = c.readSimple();
                    assertThat(s.error()).isZero();
                    int cookie = (int) s.cookie();
                    assertThat(answered[cookie]).as("cookie %d answered twice", cookie).isFalse();
                    answered[cookie] = true;
                    byte[] data = new byte[READ_BYTES];
                    c.read(READ_BYTES).get(data);
                    int at = cookie * READ_BYTES * 3;
                    assertThat(data).as("data of cookie %d", cookie).isEqualTo(Arrays.copyOfRange(image, at, at + READ_BYTES));
                }
                c.disconnect();
            }
            f.assertQuiescent();
            assertThat(device.reads.get()).isEqualTo(REQUESTS);
            return started;
        }
    }

    @Test
    void theReaderWaitsWhileTooMuchReadDataIsQueuedThenCarriesOn() throws Exception {
        int started = readsStartedWhileRepliesWait(LIMIT_BYTES, 1);
        // At most: what the pipe took, the batch the writer is blocked in, the limit and the READ that crossed it.
        long bound = (64 * 1024 + LIMIT_BYTES) / READ_BYTES * 2 + 1;
        assertThat(started).as("READs started while the client took no reply").isPositive().isLessThanOrEqualTo((int) bound);
    }

    @Test
    void withoutTheLimitTheReaderRunsAheadToTheInFlightBudget() throws Exception {
        // The control for the test above: the same client, and only the limit differs.
        assertThat(readsStartedWhileRepliesWait(Long.MAX_VALUE, REQUESTS)).isEqualTo(REQUESTS);
    }

    @Test
    void theLimitIsValidated() {
        assertThatThrownBy(() -> NbdServer.builder().maxQueuedReadBytesPerConnection(65535))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("maxQueuedReadBytesPerConnection: 65535 (expected: >= 65536)");
        assertThat(NbdServer.DEFAULT_MAX_QUEUED_READ_BYTES).isEqualTo(2L << 20);
    }
}
