package dev.cairn.dm.target.snapshot;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.store.MemoryStore;
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
        }
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
        }
    }

    /** A device that holds every bio until released, counting how many it holds at once. */
    static final class HoldingDevice implements BlockDevice {
        final MemoryStore lower = new MemoryStore("held", 1 << 20);
        final ConcurrentLinkedQueue<Bio> held = new ConcurrentLinkedQueue<>();
        final AtomicInteger maxHeld = new AtomicInteger();

        @Override
        public String name() {
            return "holding";
        }

        @Override
        public long capacitySectors() {
            return lower.capacitySectors();
        }

        @Override
        public QueueLimits limits() {
            return lower.limits();
        }

        @Override
        public void submitBio(Bio bio) {
            held.add(bio);
            maxHeld.accumulateAndGet(held.size(), Math::max);
        }

        void releaseAll() {
            Bio b;
            while ((b = held.poll()) != null) {
                lower.submitBio(b);
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
            assertThat(engine.jobsInFlight()).isZero();
        }
    }
}
