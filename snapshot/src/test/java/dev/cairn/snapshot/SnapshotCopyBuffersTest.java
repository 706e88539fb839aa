package dev.cairn.snapshot;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.copy.CopyEngine;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.Pattern;
import dev.cairn.testkit.RecordingDevice;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The copy engine's native buffer pool under the snapshot's first writes: the bound holds with
 * more concurrent first writes than copies allowed in flight, every buffer comes back on success,
 * on a failed copy (origin read or COW write) and when the snapshot is removed, and concurrent
 * first writes are committed in one batch.
 */
@Timeout(60)
class SnapshotCopyBuffersTest {
    private static final int CHUNK = 8; // sectors: 4 KiB chunks, so 4 KiB buffers
    private static final int WRITERS = 2 * SnapshotTargets.MAX_COPIES_IN_FLIGHT;
    private static final int ORIGIN_BYTES = 2 << 20; // 512 chunks
    private static final int COW_BYTES = 2 << 20;
    private static final long SECTORS = ORIGIN_BYTES / 512;

    private final SnapStack stack = new SnapStack(SubmitPolicy.FLUSH_ON_BLOCK);
    private final MemoryStore originStore = new MemoryStore("origin-store", ORIGIN_BYTES);
    private final RecordingDevice origin = new RecordingDevice(originStore);
    private final RecordingDevice cow = new RecordingDevice(new MemoryStore("cow-store", COW_BYTES));

    @AfterEach
    void tearDown() {
        origin.releaseHeld();
        stack.close();
    }

    private MappedDevice snapshot() throws Exception {
        Io.writeOk(stack.submitter, originStore, 0, Pattern.segment(0, ORIGIN_BYTES, 1));
        stack.leaf("real", origin);
        stack.leaf("cow", cow);
        stack.create("origin", "0 " + SECTORS + " snapshot-origin real");
        return stack.create("snap", "0 " + SECTORS + " snapshot real cow P " + CHUNK);
    }

    /** One partial-chunk write (so a copy first) per writer, each to its own chunk, all at once. */
    private List<Thread> firstWrites(MappedDevice snap, ConcurrentLinkedQueue<BioStatus> statuses) {
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < WRITERS; i++) {
            long sector = (long) i * CHUNK + 3;
            threads.add(Thread.ofVirtual().start(() -> statuses.add(
                    Io.write(stack.submitter, snap, sector, Pattern.segment(sector * 512, 2 * 512, 2)))));
        }
        return threads;
    }

    private static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            Thread.sleep(1);
        }
    }

    private static void join(List<Thread> threads) throws InterruptedException {
        for (Thread t : threads) {
            assertThat(t.join(java.time.Duration.ofSeconds(20))).isTrue();
        }
    }

    private static void assertAllBack(CopyEngine pool) {
        assertThat(pool.bufferStats().outstanding()).as("buffers out").isZero();
        assertThat(pool.bufferStats().extraAllocations()).as("buffers made beyond the bound").isZero();
        assertThat(pool.bufferStats().created()).isLessThanOrEqualTo(SnapshotTargets.MAX_COPIES_IN_FLIGHT);
    }

    @Test
    void concurrentFirstWritesKeepThePoolBoundReturnEveryBufferAndCommitInOneBatch() throws Exception {
        MappedDevice snap = snapshot();
        Snapshot s = stack.snapshot("snap");
        CopyEngine pool = s.engine;
        assertThat(pool.bufferStats().bufferBytes()).as("sized by the chunk").isEqualTo(CHUNK * 512);
        cow.clear();

        origin.holdWhen(op -> op.op() == BioOp.READ);
        ConcurrentLinkedQueue<BioStatus> statuses = new ConcurrentLinkedQueue<>();
        List<Thread> writers = firstWrites(snap, statuses);
        // Every writer has its pending exception, and the engine has as many copies reading as it may.
        await(() -> s.pendingExceptions() == WRITERS && origin.heldCount() == SnapshotTargets.MAX_COPIES_IN_FLIGHT,
                "all exceptions are pending and the copies in flight are at the bound");
        Thread.sleep(20); // nothing more starts while the reads are held
        assertThat(origin.heldCount()).isEqualTo(SnapshotTargets.MAX_COPIES_IN_FLIGHT);
        assertThat(pool.bufferStats().outstanding()).isEqualTo(SnapshotTargets.MAX_COPIES_IN_FLIGHT);
        origin.releaseHeld();
        join(writers);

        assertThat(statuses).hasSize(WRITERS).containsOnly(BioStatus.OK);
        assertThat(pool.bufferStats().maxOutstanding()).isEqualTo(SnapshotTargets.MAX_COPIES_IN_FLIGHT);
        assertThat(pool.bufferStats().takes()).isEqualTo(WRITERS);
        assertAllBack(pool);
        assertThat(s.completedExceptions()).isEqualTo(WRITERS);
        // Every exception was prepared before the first copy finished: one durable commit for all.
        assertThat(cow.ops()).filteredOn(op -> op.isWrite() && op.has(BioFlags.FUA)).hasSize(1);
        for (int i = 0; i < WRITERS; i++) {
            long chunkStart = (long) i * CHUNK;
            Pattern.check(Io.readOk(stack.submitter, snap, chunkStart, 3 * 512), chunkStart * 512, 1);
            Pattern.check(Io.readOk(stack.submitter, snap, chunkStart + 3, 2 * 512), (chunkStart + 3) * 512, 2);
            Pattern.check(Io.readOk(stack.submitter, snap, chunkStart + 5, 3 * 512), (chunkStart + 5) * 512, 1);
        }

        stack.dm.remove("snap", false);
        assertThat(pool.bufferStats().freed()).as("freed with the target").isTrue();
    }

    /** Every first write fails, the snapshot is invalid, every buffer is back and freed with the target. */
    private void firstWritesFail(MappedDevice snap) throws Exception {
        CopyEngine pool = stack.snapshot("snap").engine;
        ConcurrentLinkedQueue<BioStatus> statuses = new ConcurrentLinkedQueue<>();
        join(firstWrites(snap, statuses));

        assertThat(statuses).hasSize(WRITERS).containsOnly(BioStatus.IOERR);
        assertThat(stack.info("snap")).endsWith("Invalid");
        assertAllBack(pool);
        stack.dm.remove("snap", false);
        assertThat(pool.bufferStats().freed()).isTrue();
    }

    @Test
    void aCowWriteErrorInvalidatesTheSnapshotAndEveryBufferComesBack() throws Exception {
        MappedDevice snap = snapshot();
        cow.failWhen(op -> op.isWrite() && !op.has(BioFlags.FUA));
        firstWritesFail(snap);
    }

    @Test
    void anOriginReadErrorInvalidatesTheSnapshotAndEveryBufferComesBack() throws Exception {
        MappedDevice snap = snapshot();
        origin.failWhen(op -> op.op() == BioOp.READ);
        firstWritesFail(snap);
    }
}
