package dev.cairn.dm.copy;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.testkit.Disk;
import dev.cairn.testkit.ForwardingDevice;
import dev.cairn.testkit.RecordingDevice;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class CopyEngineTest {
    private final Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);

    @AfterEach
    void tearDown() {
        submitter.close();
    }

    private static byte[] pattern(int n, int seed) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 31 + seed);
        }
        return b;
    }

    /** Every buffer the engine took is back in its pool, none was made beyond the bound. */
    private static void assertAllBuffersBack(CopyEngine engine) {
        CopyEngine.BufferStats stats = engine.bufferStats();
        assertThat(stats.outstanding()).as("buffers out").isZero();
        assertThat(stats.extraAllocations()).as("buffers made beyond the bound").isZero();
        assertThat(stats.created()).isLessThanOrEqualTo(stats.capacity());
    }

    @Test
    void copiesARangeLargerThanASubJobAndCallsBackOnTheWorker() throws Exception {
        MemoryStore src = new MemoryStore("src", 1 << 20);
        MemoryStore dst = new MemoryStore("dst", 1 << 20);
        byte[] data = pattern(300 * 512, 7);
        Disk.write(submitter, src, 40, data);
        try (CopyEngine engine = new CopyEngine(submitter, "t", 4)) {
            CountDownLatch done = new CountDownLatch(1);
            List<String> result = new ArrayList<>();
            engine.copy(new CopyEngine.Region(src, 40, 300), new CopyEngine.Region(dst, 1000, 300), (r, w) -> {
                result.add(r + "/" + w + "/" + engine.isWorkerThread());
                done.countDown();
            });
            assertThat(done.await(10, TimeUnit.SECONDS)).isTrue();
            assertThat(result).containsExactly("false/false/true");
            assertThat(Disk.read(submitter, dst, 1000, data.length)).isEqualTo(data);
            assertThat(Disk.read(submitter, dst, 1300, 512)).containsOnly(0);
            assertAllBuffersBack(engine);
            assertThat(engine.bufferStats().takes()).as("one buffer per job, not per piece").isEqualTo(1);
        }
    }

    @Test
    void smallBuffersCopyInPiecesOfTheirSize() throws Exception {
        MemoryStore src = new MemoryStore("src", 1 << 20);
        RecordingDevice dst = new RecordingDevice(new MemoryStore("dst", 1 << 20));
        byte[] data = pattern(20 * 512, 9);
        Disk.write(submitter, src, 0, data);
        try (CopyEngine engine = new CopyEngine(submitter, "s", 2, 8)) {
            CountDownLatch done = new CountDownLatch(1);
            engine.copy(new CopyEngine.Region(src, 0, 20), new CopyEngine.Region(dst, 100, 20), (r, w) -> done.countDown());
            assertThat(done.await(10, TimeUnit.SECONDS)).isTrue();
            assertThat(dst.ops()).extracting(RecordingDevice.Op::sectors).containsExactly(8, 8, 4);
            assertThat(engine.bufferStats().bufferBytes()).isEqualTo(8 * 512);
            assertAllBuffersBack(engine);
        }
        assertThat(Disk.read(submitter, dst, 100, data.length)).isEqualTo(data);
    }

    @Test
    void zeroesARange() throws Exception {
        MemoryStore dst = new MemoryStore("dst", 1 << 20);
        Disk.write(submitter, dst, 0, pattern(200 * 512, 3));
        try (CopyEngine engine = new CopyEngine(submitter, "z", 2)) {
            CountDownLatch done = new CountDownLatch(1);
            engine.zero(new CopyEngine.Region(dst, 10, 150), (r, w) -> done.countDown());
            assertThat(done.await(10, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(Disk.read(submitter, dst, 10, 150 * 512)).containsOnly(0);
        assertThat(Disk.read(submitter, dst, 9, 512)).isEqualTo(java.util.Arrays.copyOfRange(pattern(200 * 512, 3), 9 * 512, 10 * 512));
    }

    @Test
    void reportsReadAndWriteErrorsSeparately() throws Exception {
        MemoryStore mem = new MemoryStore("m", 1 << 20);
        RecordingDevice failingReads = new RecordingDevice(mem);
        failingReads.failWhen(op -> op.op() == BioOp.READ);
        RecordingDevice failingWrites = new RecordingDevice(mem);
        failingWrites.failWhen(RecordingDevice.Op::isWrite);
        try (CopyEngine engine = new CopyEngine(submitter, "e", 2)) {
            ConcurrentLinkedQueue<String> results = new ConcurrentLinkedQueue<>();
            CountDownLatch done = new CountDownLatch(2);
            engine.copy(new CopyEngine.Region(failingReads, 0, 8), new CopyEngine.Region(mem, 8, 8), (r, w) -> {
                results.add("read:" + r + "/" + w);
                done.countDown();
            });
            engine.copy(new CopyEngine.Region(mem, 0, 8), new CopyEngine.Region(failingWrites, 8, 8), (r, w) -> {
                results.add("write:" + r + "/" + w);
                done.countDown();
            });
            assertThat(done.await(10, TimeUnit.SECONDS)).isTrue();
            assertThat(results).containsExactlyInAnyOrder("read:true/false", "write:false/true");
            assertAllBuffersBack(engine);
        }
    }

    @Test
    void aBufferIsBackBeforeTheCallbackRunsOnEveryPath() throws Exception {
        MemoryStore mem = new MemoryStore("m", 1 << 20);
        RecordingDevice flaky = new RecordingDevice(mem);
        // Reads of sector 0 and writes to sector 64 fail; the rest succeed.
        flaky.failWhen(op -> (op.op() == BioOp.READ && op.sector() == 0) || (op.isWrite() && op.sector() == 64));
        try (CopyEngine engine = new CopyEngine(submitter, "p", 1)) {
            ConcurrentLinkedQueue<Integer> outInCallback = new ConcurrentLinkedQueue<>();
            CountDownLatch done = new CountDownLatch(3);
            CopyEngine.Callback cb = (r, w) -> {
                outInCallback.add(engine.bufferStats().outstanding());
                done.countDown();
            };
            engine.copy(new CopyEngine.Region(flaky, 0, 8), new CopyEngine.Region(mem, 200, 8), cb); // read error
            engine.copy(new CopyEngine.Region(mem, 8, 8), new CopyEngine.Region(flaky, 64, 8), cb); // write error
            engine.copy(new CopyEngine.Region(mem, 8, 8), new CopyEngine.Region(flaky, 72, 8), cb); // success
            assertThat(done.await(10, TimeUnit.SECONDS)).isTrue();
            assertThat(outInCallback).containsExactly(0, 0, 0);
            assertThat(engine.bufferStats().created()).as("one job at a time: one buffer").isEqualTo(1);
            assertAllBuffersBack(engine);
        }
    }

    @Test
    void aDeviceWhoseSubmitThrowsFailsThePieceAndTheBufferStillComesBack() throws Exception {
        MemoryStore mem = new MemoryStore("m", 1 << 20);
        BlockDevice throwing = new ForwardingDevice(mem) {
            @Override
            public String name() {
                return "throwing";
            }

            @Override
            public void submitBio(Bio bio) {
                throw new IllegalStateException("driver bug: submitBio threw");
            }
        };
        try (CopyEngine engine = new CopyEngine(submitter, "t", 1)) {
            ConcurrentLinkedQueue<String> results = new ConcurrentLinkedQueue<>();
            CountDownLatch done = new CountDownLatch(3);
            CopyEngine.Callback cb = (r, w) -> {
                results.add(r + "/" + w);
                done.countDown();
            };
            engine.copy(new CopyEngine.Region(throwing, 0, 8), new CopyEngine.Region(mem, 8, 8), cb); // read throws
            engine.copy(new CopyEngine.Region(mem, 0, 8), new CopyEngine.Region(throwing, 8, 8), cb); // write throws
            engine.copy(new CopyEngine.Region(mem, 0, 8), new CopyEngine.Region(mem, 16, 8), cb); // still works after
            assertThat(done.await(10, TimeUnit.SECONDS)).as("every job called back").isTrue();
            assertThat(results).containsExactly("true/false", "false/true", "false/false");
            assertAllBuffersBack(engine);
        }
    }

    /** A device that holds every bio until released, counting how many it holds at once. */
    static final class HoldingDevice extends ForwardingDevice {
        final ConcurrentLinkedQueue<Bio> held = new ConcurrentLinkedQueue<>();
        final AtomicInteger maxHeld = new AtomicInteger();

        HoldingDevice() {
            super(new MemoryStore("held", 1 << 20));
        }

        @Override
        public String name() {
            return "holding";
        }

        @Override
        public void submitBio(Bio bio) {
            held.add(bio);
            maxHeld.accumulateAndGet(held.size(), Math::max);
        }

        void releaseAll() {
            Bio b;
            while ((b = held.poll()) != null) {
                lower().submitBio(b);
            }
        }
    }

    @Test
    void boundsTheJobsInFlightAndQueuesTheRestWithoutBlockingTheCaller() throws Exception {
        HoldingDevice src = new HoldingDevice();
        MemoryStore dst = new MemoryStore("dst", 1 << 20);
        try (CopyEngine engine = new CopyEngine(submitter, "b", 3)) {
            CountDownLatch done = new CountDownLatch(10);
            for (int i = 0; i < 10; i++) {
                engine.copy(new CopyEngine.Region(src, 8L * i, 8), new CopyEngine.Region(dst, 8L * i, 8),
                        (r, w) -> done.countDown());
            }
            assertThat(engine.jobsInFlight()).isEqualTo(10);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (done.getCount() > 0 && System.nanoTime() < deadline) {
                Thread.sleep(5);
                assertThat(src.held.size()).isLessThanOrEqualTo(3);
                src.releaseAll();
            }
            assertThat(done.getCount()).isZero();
            assertThat(src.maxHeld.get()).as("never more than 3 copies in flight").isEqualTo(3);
            // a job counts out just after its callback returns: a task posted now runs after the last one has
            CountDownLatch settled = new CountDownLatch(1);
            engine.post(settled::countDown);
            assertThat(settled.await(10, TimeUnit.SECONDS)).isTrue();
            assertThat(engine.jobsInFlight()).isZero();
            assertThat(engine.bufferStats().maxOutstanding()).as("never more than 3 buffers out").isEqualTo(3);
            assertThat(engine.bufferStats().created()).isEqualTo(3);
            assertThat(engine.bufferStats().takes()).isEqualTo(10);
            assertAllBuffersBack(engine);
        }
    }

    @Test
    void aShutdownWithACopyInFlightReturnsItsBufferWhenTheBioEndsAndThenFreesTheArena() throws Exception {
        HoldingDevice src = new HoldingDevice();
        MemoryStore dst = new MemoryStore("dst", 1 << 20);
        CopyEngine engine = new CopyEngine(submitter, "sd", 2);
        AtomicInteger callbacks = new AtomicInteger();
        engine.copy(new CopyEngine.Region(src, 0, 8), new CopyEngine.Region(dst, 0, 8), (r, w) -> callbacks.incrementAndGet());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (src.held.isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        assertThat(src.held).hasSize(1);
        CopyEngine pool = engine;
        submitter.shutdown();
        engine.close(); // the worker stops; the read still holds the buffer
        assertThat(pool.bufferStats().outstanding()).as("held by the bio in flight").isEqualTo(1);
        assertThat(pool.bufferStats().freed()).isFalse();
        src.releaseAll(); // the read ends
        assertThat(pool.bufferStats().outstanding()).isZero();
        assertThat(pool.bufferStats().freed()).as("freed after the last buffer came back").isTrue();
        assertThat(callbacks.get()).as("the worker is gone: no callback").isZero();
    }

    @Test
    void closingAnIdleEngineFreesItsBuffers() throws Exception {
        MemoryStore src = new MemoryStore("src", 1 << 20);
        CopyEngine engine = new CopyEngine(submitter, "c", 2);
        CountDownLatch done = new CountDownLatch(1);
        engine.copy(new CopyEngine.Region(src, 0, 8), new CopyEngine.Region(src, 8, 8), (r, w) -> done.countDown());
        assertThat(done.await(10, TimeUnit.SECONDS)).isTrue();
        engine.close();
        assertThat(engine.bufferStats().freed()).isTrue();
    }
}
