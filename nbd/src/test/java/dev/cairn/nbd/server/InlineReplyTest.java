package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.Sectors;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.nbd.protocol.NbdWire;
import dev.cairn.testkit.ForwardingDevice;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The reader's inline reply at queue depth 1 (see {@link Connection}) against the writer thread: under
 * random completion threads and timings every request is answered exactly once with the right data, the
 * inline path is really taken, and a transport error during an inline write ends the connection cleanly.
 */
class InlineReplyTest {
    private static final int SIZE = 8 << 20;
    private static final int REGION = 256 * 1024;

    private final RacyDevice device = new RacyDevice("racy", SIZE);
    private final ServerFixture f = new ServerFixture(b -> b.maxInFlightRequestsPerConnection(64))
            .export(NbdExport.of("racy", device));

    @AfterEach
    void tearDown() {
        f.assertQuiescent();
        f.close();
        device.executor.shutdownNow();
    }

    /** The device's content: a function of the offset in data regions (never 0); every fourth region a hole. */
    private static final byte[] IMAGE = new byte[SIZE];

    static {
        for (int i = 0; i < SIZE; i++) {
            long x = i * 0x9E37_79B9L;
            IMAGE[i] = (i / REGION) % 4 == 3 ? 0 : (byte) ((x >>> 24) ^ (i >>> 12) | 1);
        }
    }

    private static byte[] expected(long offsetBytes, int lengthBytes) {
        return Arrays.copyOfRange(IMAGE, (int) offsetBytes, (int) offsetBytes + lengthBytes);
    }

    /**
     * A memory store that completes each bio at random: inline on the submitting thread, or on one of two
     * other threads, at once or after a short pause. Holes: the store reports what was never written.
     */
    static final class RacyDevice extends ForwardingDevice {
        final ExecutorService executor = Executors.newFixedThreadPool(2);
        volatile int inlinePercent = 50;
        /** When set, a READ at sector 0 waits for it on another thread (the depth stays above 1 meanwhile). */
        volatile CountDownLatch holdReadsAtZero;

        RacyDevice(String name, int capacityBytes) {
            super(new MemoryStore(name, capacityBytes));
            for (long at = 0; at < capacityBytes; at += REGION) {
                if ((at / REGION) % 4 != 3) {
                    Bio w = Bio.alloc().setDevice(lower()).setOp(BioOp.WRITE).setSector(at >>> Sectors.SECTOR_SHIFT)
                            .setData(MemorySegment.ofArray(expected(at, REGION)));
                    lower().submitBio(w); // completes inline
                }
            }
        }

        @Override
        public void submitBio(Bio bio) {
            CountDownLatch hold = holdReadsAtZero;
            if (hold != null && bio.op() == BioOp.READ && bio.sector() == 0) {
                executor.execute(() -> {
                    try {
                        hold.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                    complete(bio);
                });
                return;
            }
            ThreadLocalRandom rnd = ThreadLocalRandom.current();
            if (rnd.nextInt(100) < inlinePercent) {
                complete(bio);
                return;
            }
            long pauseNanos = rnd.nextBoolean() ? 0 : rnd.nextLong(200_000);
            executor.execute(() -> {
                if (pauseNanos > 0) {
                    LockSupport.parkNanos(pauseNanos);
                }
                complete(bio);
            });
        }

        private void complete(Bio bio) {
            if (bio.op() == BioOp.FLUSH) {
                bio.complete();
            } else {
                lower().submitBio(bio);
            }
        }
    }

    /** What the client asked, to check its answer. */
    private record Asked(int type, long offsetBytes, int lengthBytes, int expectedError) {}

    /**
     * A client that sends on its own thread (at most {@code depth} requests unanswered) and reads and
     * checks every reply on the calling thread. Returns how many requests it made.
     */
    private static int run(TestClient c, int depth, int count, boolean structured, boolean baseAllocation,
            long seed) throws Exception {
        SplittableRandom rnd = new SplittableRandom(seed);
        Map<Long, Asked> asked = new HashMap<>();
        Asked[] plan = new Asked[count];
        for (int i = 0; i < count; i++) {
            int kind = rnd.nextInt(100);
            int lengthBytes = 4096 << rnd.nextInt(6); // 4 KiB .. 128 KiB
            long offsetBytes = rnd.nextLong((SIZE - lengthBytes) / 4096 + 1) * 4096;
            if (kind < 55) {
                plan[i] = new Asked(CMD_READ, offsetBytes, lengthBytes, 0);
            } else if (kind < 80) {
                // Writes only inside one data region, with the content it already has: reads stay checkable
                // whatever the order of writes and reads in flight.
                long region = rnd.nextInt(SIZE / REGION);
                if (region % 4 == 3) {
                    region--;
                }
                int len = Math.min(lengthBytes, REGION);
                long at = region * REGION + rnd.nextInt((REGION - len) / 4096 + 1) * 4096L;
                plan[i] = new Asked(CMD_WRITE, at, len, 0);
            } else if (kind < 85) {
                plan[i] = new Asked(CMD_FLUSH, 0, 0, 0);
            } else if (kind < 92 && baseAllocation) {
                plan[i] = new Asked(CMD_BLOCK_STATUS, offsetBytes, lengthBytes, 0);
            } else {
                plan[i] = new Asked(CMD_READ, SIZE, 4096, EINVAL); // rejected by the reader itself
            }
        }
        Semaphore window = new Semaphore(depth);
        AtomicReference<Throwable> senderFailure = new AtomicReference<>();
        Thread sender = Thread.ofPlatform().name("test-sender").start(() -> {
            try {
                for (int i = 0; i < count; i++) {
                    if (!window.tryAcquire(TestClient.TIMEOUT_MS, TimeUnit.MILLISECONDS)) {
                        throw new AssertionError("no reply for " + TestClient.TIMEOUT_MS + " ms at request " + i);
                    }
                    Asked a = plan[i];
                    synchronized (asked) {
                        asked.put((long) i, a);
                    }
                    if (a.type == CMD_WRITE) {
                        c.write(0, i, a.offsetBytes, expected(a.offsetBytes, a.lengthBytes));
                    } else {
                        c.request(0, a.type, i, a.offsetBytes, a.lengthBytes);
                    }
                    if (i == count - 1) {
                        c.disconnect(); // right behind the last request: it is still answered
                    }
                }
            } catch (Throwable t) {
                senderFailure.set(t);
            }
        });
        int[] answers = new int[count];
        try {
            for (int done = 0; done < count; done++) {
                ByteBuffer magic = c.read(4);
                long cookie;
                if (magic.getInt(0) == SIMPLE_REPLY_MAGIC) {
                    ByteBuffer h = c.read(SIMPLE_REPLY_BYTES - 4);
                    int error = h.getInt();
                    cookie = h.getLong();
                    Asked a = take(asked, cookie);
                    assertThat(error).as("error of %s", a).isEqualTo(a.expectedError);
                    if (a.type == CMD_READ) {
                        assertThat(structured).as("a READ gets a structured reply when negotiated").isFalse();
                        if (error == 0) {
                            byte[] data = new byte[a.lengthBytes];
                            c.read(a.lengthBytes).get(data);
                            assertThat(data).as("data of %s", a).isEqualTo(expected(a.offsetBytes, a.lengthBytes));
                        }
                    }
                } else {
                    assertThat(magic.getInt(0)).isEqualTo(STRUCTURED_REPLY_MAGIC);
                    cookie = readStructuredReply(c, asked, magic);
                }
                answers[(int) cookie]++;
                window.release();
            }
            sender.join(TestClient.TIMEOUT_MS);
            assertThat(senderFailure.get()).as("the sender").isNull();
            assertThat(c.bytesUntilClosed()).as("bytes after the last reply (a reply sent twice)").isZero();
        } finally {
            sender.join(TestClient.TIMEOUT_MS);
        }
        assertThat(answers).as("answers per request").containsOnly(1);
        return count;
    }

    private static Asked take(Map<Long, Asked> asked, long cookie) {
        synchronized (asked) {
            Asked a = asked.remove(cookie);
            assertThat(a).as("reply to cookie %d: asked and not answered yet", cookie).isNotNull();
            return a;
        }
    }

    /** Reads one structured reply (its chunks arrive together from this server) and checks it. */
    private static long readStructuredReply(TestClient c, Map<Long, Asked> asked, ByteBuffer firstMagic) {
        long cookie = -1;
        Asked a = null;
        byte[] data = null;
        boolean first = true;
        while (true) {
            if (!first) {
                assertThat(c.read(4).getInt()).isEqualTo(STRUCTURED_REPLY_MAGIC);
            }
            first = false;
            ByteBuffer h = c.read(CHUNK_HEADER_BYTES - 4);
            int flags = Short.toUnsignedInt(h.getShort());
            int type = Short.toUnsignedInt(h.getShort());
            long chunkCookie = h.getLong();
            int length = h.getInt();
            if (a == null) {
                cookie = chunkCookie;
                a = take(asked, cookie);
                data = new byte[Math.max(a.lengthBytes, 0)];
            } else {
                assertThat(chunkCookie).as("chunks of one reply stay together").isEqualTo(cookie);
            }
            ByteBuffer p = c.read(length);
            switch (type) {
                case REPLY_TYPE_OFFSET_DATA -> {
                    int at = (int) (p.getLong() - a.offsetBytes);
                    p.get(data, at, p.remaining());
                }
                case REPLY_TYPE_OFFSET_HOLE -> {
                    int at = (int) (p.getLong() - a.offsetBytes);
                    int holeBytes = p.getInt();
                    assertThat(expected(a.offsetBytes + at, holeBytes)).as("hole reported over data").containsOnly(0);
                }
                case REPLY_TYPE_BLOCK_STATUS -> assertThat(a.type).isEqualTo(CMD_BLOCK_STATUS);
                case REPLY_TYPE_ERROR -> assertThat(p.getInt()).as("error of %s", a).isEqualTo(a.expectedError);
                default -> throw new AssertionError("chunk type " + type + " for " + a);
            }
            if ((flags & REPLY_FLAG_DONE) != 0) {
                break;
            }
        }
        if (a.type == CMD_READ && a.expectedError == 0) {
            assertThat(data).as("data of %s", a).isEqualTo(expected(a.offsetBytes, a.lengthBytes));
        }
        return cookie;
    }

    @Test
    void everyRequestIsAnsweredOnceWithTheRightDataAtDepthOne() throws Exception {
        for (int mode = 0; mode < 3; mode++) {
            PipeTransport t = new PipeTransport();
            try (TestClient c = TestClient.connect(f.server, t)) {
                c.go("racy", mode > 0, mode == 2);
                run(c, 1, 600, mode > 0, mode == 2, 100 + mode);
            }
            assertThat(t.readerWrites.get()).as("inline replies (mode %d)", mode).isPositive();
        }
    }

    @Test
    void everyRequestIsAnsweredOnceWithTheRightDataWhenPipelined() throws Exception {
        for (int depth : new int[] {2, 8, 64}) {
            for (int mode = 0; mode < 3; mode++) {
                try (TestClient c = TestClient.connect(f.server)) {
                    c.go("racy", mode > 0, mode == 2);
                    run(c, depth, 800, mode > 0, mode == 2, depth * 10L + mode);
                }
            }
        }
    }

    @Test
    void manyConnectionsAtMixedDepthsAtOnce() throws Exception {
        Thread[] clients = new Thread[6];
        AtomicReference<Throwable> failure = new AtomicReference<>();
        for (int i = 0; i < clients.length; i++) {
            int n = i;
            clients[i] = Thread.ofPlatform().start(() -> {
                try (TestClient c = TestClient.connect(f.server)) {
                    boolean structured = n % 2 == 1;
                    c.go("racy", structured, n % 3 == 0 && structured);
                    run(c, n < 3 ? 1 : 16, 800, structured, n % 3 == 0 && structured, 1000 + n);
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                }
            });
        }
        for (Thread t : clients) {
            t.join(60_000);
        }
        assertThat(failure.get()).isNull();
    }

    @Test
    void anInlineStoreAtDepthOneIsAnsweredByTheReaderAlone() throws Exception {
        device.inlinePercent = 100;
        PipeTransport t = new PipeTransport();
        try (TestClient c = TestClient.connect(f.server, t)) {
            c.go("racy", true, true);
            int readerBefore = t.readerWrites.get();
            int n = run(c, 1, 500, true, true, 7);
            // Each reply takes one write call or more. Every reply is the reader's but perhaps the last one:
            // when the DISC right behind it is already in the read-ahead, that one goes to the writer.
            assertThat(t.readerWrites.get() - readerBefore).isGreaterThanOrEqualTo(n - 1);
            assertThat(t.writerWrites.get()).isLessThanOrEqualTo(4); // the last reply, 128 KiB at most
        }
    }

    @Test
    void aReplyThatCompletesOnTheReaderIsTheReadersAtAnyDepthWhenTheWriterIsIdle() throws Exception {
        device.inlinePercent = 100;
        CountDownLatch held = new CountDownLatch(1);
        device.holdReadsAtZero = held;
        PipeTransport t = new PipeTransport();
        try (TestClient c = TestClient.connect(f.server, t)) {
            c.go("racy", false, false);
            c.request(0, CMD_READ, 1, 0, 4096); // held by the device: depth 2 from here on
            int readerBefore = t.readerWrites.get();
            int writerBefore = t.writerWrites.get();
            c.request(0, CMD_READ, 2, 8192, 4096);
            ByteBuffer h = c.read(SIMPLE_REPLY_BYTES);
            assertThat(h.getLong(8)).as("cookie: the second READ is answered while the first waits").isEqualTo(2);
            byte[] data = new byte[4096];
            c.read(4096).get(data);
            assertThat(data).isEqualTo(expected(8192, 4096));
            assertThat(t.readerWrites.get()).as("reader writes").isGreaterThan(readerBefore);
            assertThat(t.writerWrites.get()).as("writer writes").isEqualTo(writerBefore);
            held.countDown();
            h = c.read(SIMPLE_REPLY_BYTES);
            assertThat(h.getLong(8)).as("cookie").isEqualTo(1);
            assertThat(h.getInt(4)).as("error").isZero();
            c.read(4096).get(data);
            assertThat(data).isEqualTo(expected(0, 4096));
            assertThat(t.writerWrites.get()).as("the first READ completed elsewhere: the writer's").isGreaterThan(writerBefore);
        } finally {
            device.holdReadsAtZero = null;
            held.countDown();
        }
    }

    @Test
    void aLargeReplyAtDepthOneGoesToTheWriterSoTheReaderNeverWaitsOnTheClient() throws Exception {
        device.inlinePercent = 100;
        PipeTransport t = new PipeTransport();
        try (TestClient c = TestClient.connect(f.server, t)) {
            c.go("racy", false, false);
            int lengthBytes = InlineReplies.MAX_INLINE_REPLY_BYTES * 4;
            int readerBefore = t.readerWrites.get();
            int writerBefore = t.writerWrites.get();
            c.request(0, CMD_READ, 1, 0, lengthBytes);
            ByteBuffer h = c.read(SIMPLE_REPLY_BYTES);
            assertThat(h.getInt(0)).isEqualTo(SIMPLE_REPLY_MAGIC);
            assertThat(h.getInt(4)).as("error").isZero();
            byte[] data = new byte[lengthBytes];
            c.read(lengthBytes).get(data);
            assertThat(data).isEqualTo(expected(0, lengthBytes));
            assertThat(t.readerWrites.get()).as("reader writes").isEqualTo(readerBefore);
            assertThat(t.writerWrites.get()).as("writer writes").isGreaterThan(writerBefore);
            // a small one right after is the reader's again; the writer may still hold the transport for a
            // moment after the client has the large reply's last bytes, so allow a few tries
            for (int cookie = 2; cookie < 22 && t.readerWrites.get() == readerBefore; cookie++) {
                c.request(0, CMD_READ, cookie, 0, 4096);
                h = c.read(SIMPLE_REPLY_BYTES);
                assertThat(h.getLong(8)).as("cookie").isEqualTo(cookie);
                c.read(4096);
            }
            assertThat(t.readerWrites.get()).as("reader writes").isGreaterThan(readerBefore);
        }
    }

    @Test
    void aFailedInlineWriteEndsTheConnectionCleanly() throws Exception {
        device.inlinePercent = 100;
        PipeTransport t = new PipeTransport();
        try (TestClient c = TestClient.connect(f.server, t)) {
            c.go("racy", true, false);
            assertThat(c.readStructuredData(0, 1, 0, 64 * 1024)).isEqualTo(expected(0, 64 * 1024));
            t.failWrites();
            c.request(0, CMD_READ, 2, 4096, 256 * 1024);
            assertThat(c.bytesUntilClosed()).as("nothing after the failed write").isZero();
            assertThat(t.failedWriters).as("the write that failed was the reader's inline reply")
                    .singleElement().asString().startsWith("nbd-conn-");
        }
        // tearDown: the connection ended, its buffers are back in the pool and no internal error was counted.
    }

    @Test
    void aFailedWriterWriteEndsTheConnectionCleanlyToo() throws Exception {
        device.inlinePercent = 0;
        PipeTransport t = new PipeTransport();
        try (TestClient c = TestClient.connect(f.server, t)) {
            c.go("racy", false, false);
            t.failWrites();
            // One send (atomic on a pipe): the server closes its end once a reply fails.
            sendEightReadsAtOnce(c);
            assertThat(c.bytesUntilClosed()).isZero();
            assertThat(t.failedWriters).isNotEmpty().allSatisfy(n -> assertThat(n).startsWith("nbd-writer-"));
        }
    }

    @Test
    void anUncheckedExceptionFromTheTransportEndsTheConnectionAndIsCountedNotFatalToTheWriter() throws Exception {
        device.inlinePercent = 0;
        PipeTransport t = new PipeTransport();
        try (TestClient c = TestClient.connect(f.server, t)) {
            c.go("racy", false, false);
            t.crashWrites();
            sendEightReadsAtOnce(c);
            assertThat(c.bytesUntilClosed()).isZero();
            assertThat(t.failedWriters).isNotEmpty().allSatisfy(n -> assertThat(n).startsWith("nbd-writer-"));
        }
        f.expectedInternalErrors = 1;
        // tearDown: the connection ended and every buffer came back although the writer's write threw
    }

    /** Eight 4 KiB READs in one send (atomic on a pipe), so they are all in flight together. */
    private static void sendEightReadsAtOnce(TestClient c) {
        ByteBuffer requests = ByteBuffer.allocate(8 * REQUEST_HEADER_BYTES);
        for (int i = 0; i < 8; i++) {
            NbdWire.putRequest(requests, 0, CMD_READ, i, i * 4096L, 4096);
        }
        c.send(requests.flip());
    }
}
