package dev.cairn.snapshot;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.SuspendMode;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.ModelDevice;
import dev.cairn.testkit.Pattern;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** snapshot-merge: the origin becomes the snapshot's view, last exceptions first, across a restart. */
@Timeout(60)
class SnapshotMergeTest {
    private static final int SECTORS = 2048;
    private static final int CHUNK = 8;

    private final SnapStack stack = new SnapStack(SubmitPolicy.FLUSH_ON_BLOCK);
    private final MemoryStore real = new MemoryStore("real-store", SECTORS * 512L);
    private final MemoryStore cow = new MemoryStore("cow-store", 512 << 10);
    private final ModelDevice snapView = new ModelDevice(SECTORS * 512L);
    private MappedDevice origin;
    private MappedDevice snap;

    @AfterEach
    void tearDown() {
        stack.close();
    }

    private void setUp() throws Exception {
        Io.writeOk(stack.submitter, real, 0, Pattern.segment(0, SECTORS * 512, 1));
        snapView.write(0, Pattern.segment(0, SECTORS * 512, 1));
        stack.leaf("real", real);
        stack.leaf("cow", cow);
        origin = stack.create("origin", "0 " + SECTORS + " snapshot-origin real");
        snap = stack.create("snap", "0 " + SECTORS + " snapshot real cow P " + CHUNK);
    }

    private void write(BlockDevice dev, long sector, int sectors, int generation) {
        MemorySegment data = Pattern.segment(sector * 512, sectors * 512, generation);
        Io.writeOk(stack.submitter, dev, sector, data);
        if (dev == snap) {
            snapView.write(sector * 512, data);
        }
    }

    /** Snapshot writes in an order that makes runs of several lengths, and origin writes that make exceptions too. */
    private void makeExceptions() {
        write(snap, 5 * CHUNK, CHUNK, 10);      // chunk 5 -> COW 2
        write(snap, 3 * CHUNK + 2, 3, 11);      // chunk 3 -> COW 3 (copied, then written)
        write(snap, 4 * CHUNK, CHUNK, 12);      // chunk 4 -> COW 4: with chunk 3 a run of two
        write(origin, 40 * CHUNK, 20, 2);       // chunks 40..42 -> COW 5..7 hold generation 1
        write(origin, 100 * CHUNK + 1, 1, 2);   // chunk 100 -> COW 8
        write(snap, 100 * CHUNK + 5, 1, 13);    // chunk 100 again: already copied, written in the COW
        write(origin, 5 * CHUNK, CHUNK, 3);     // chunk 5 already has an exception: straight to the origin
    }

    /** Replaces the origin's table with snapshot-merge after the snapshot device is gone. */
    private void startMerge() throws Exception {
        stack.dm.remove("snap", false);
        stack.dm.suspend("origin", SuspendMode.FLUSH);
        stack.dm.load("origin", "0 " + SECTORS + " snapshot-merge real cow P " + CHUNK);
        stack.dm.resume("origin");
    }

    private String awaitMergeDone() throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (System.nanoTime() < deadline) {
            String info = stack.info("origin");
            Matcher m = java.util.regex.Pattern.compile("snapshot-merge (\\d+)/(\\d+) (\\d+)$").matcher(info);
            if (m.find() && m.group(1).equals(m.group(3)) && !stack.snapshot("origin").isMergeRunning()) {
                return info;
            }
            Thread.sleep(5);
        }
        throw new AssertionError("merge did not finish: " + stack.info("origin"));
    }

    @Test
    void theMergeMakesTheOriginTheSnapshotsViewAndReportsItsProgress() throws Exception {
        setUp();
        makeExceptions();
        assertThat(stack.info("snap")).isEqualTo("0 2048 snapshot 72/1024 16");
        startMerge();

        assertThat(awaitMergeDone()).isEqualTo("0 2048 snapshot-merge 16/1024 16");
        assertThat(stack.table("origin")).isEqualTo("0 2048 snapshot-merge real cow P 8");
        snapView.assertMatches(stack.submitter, origin);
        snapView.assertMatches(stack.submitter, real);
        assertThat(stack.snapshot("origin").mergedChunks()).isEqualTo(7);
        assertThat(CowInspector.inspect(stack.submitter, cow).exceptions()).as("no exception left on the COW").isZero();
    }

    @Test
    void aWriteToAChunkBeingMergedWaitsForItsMergeAndThenWins() throws Exception {
        setUp();
        makeExceptions();
        CountDownLatch copying = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        CountDownLatch queued = new CountDownLatch(1);
        AtomicReference<Long> firstChunk = new AtomicReference<>();
        stack.dm.remove("snap", false);
        stack.dm.suspend("origin", SuspendMode.FLUSH);
        stack.dm.load("origin", "0 " + SECTORS + " snapshot-merge real cow P " + CHUNK);
        stack.snapshot("origin").hooks = new SnapshotHooks() {
            @Override
            public void beforeMergeCopy(long first, int count) {
                if (firstChunk.compareAndSet(null, first)) {
                    copying.countDown();
                    await(release);
                }
            }

            @Override
            public void queuedBehindMerge(Bio clone, long chunk) {
                queued.countDown();
            }
        };
        stack.dm.resume("origin");
        assertThat(copying.await(10, TimeUnit.SECONDS)).isTrue();
        // The last exception is chunk 100 (COW 8), merged first, alone.
        assertThat(firstChunk.get()).isEqualTo(100);

        CountDownLatch written = new CountDownLatch(1);
        AtomicReference<BioStatus> status = new AtomicReference<>();
        MemorySegment data = Pattern.segment(100 * CHUNK * 512L, 512, 20);
        Bio bio = Bio.alloc().setDevice(origin).setOp(BioOp.WRITE).setSector(100 * CHUNK).setData(data);
        bio.setEndIo(b -> {
            status.set(b.status());
            written.countDown();
        });
        Thread.ofPlatform().start(() -> stack.submitter.submit(bio)).join();
        assertThat(queued.await(10, TimeUnit.SECONDS)).as("queued behind the merge of its chunk").isTrue();
        assertThat(written.getCount()).as("held while its chunk is merged").isOne();

        release.countDown();
        assertThat(written.await(10, TimeUnit.SECONDS)).isTrue();
        assertThat(status.get()).isEqualTo(BioStatus.OK);
        snapView.write(100 * CHUNK * 512L, data);
        awaitMergeDone();
        snapView.assertMatches(stack.submitter, real);
    }

    @Test
    void aMergeStoppedHalfWayContinuesAfterARestart() throws Exception {
        setUp();
        makeExceptions();
        CountDownLatch firstRun = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        stack.dm.remove("snap", false);
        stack.dm.suspend("origin", SuspendMode.FLUSH);
        stack.dm.load("origin", "0 " + SECTORS + " snapshot-merge real cow P " + CHUNK);
        stack.snapshot("origin").hooks = new SnapshotHooks() {
            @Override
            public void afterMergeCommit(long first, int count) {
                firstRun.countDown();
                await(release);
            }
        };
        stack.dm.resume("origin");
        assertThat(firstRun.await(10, TimeUnit.SECONDS)).isTrue();
        long left = CowInspector.inspect(stack.submitter, cow).exceptions();
        assertThat(left).as("one run merged and committed, the rest still on the COW").isEqualTo(6);

        CountDownLatch stopRequested = new CountDownLatch(1);
        Snapshot merging = stack.snapshot("origin");
        SnapshotHooks running = merging.hooks;
        merging.hooks = new SnapshotHooks() {
            @Override
            public void afterMergeCommit(long first, int count) {
                running.afterMergeCommit(first, count);
            }

            @Override
            public void mergeStopRequested() {
                stopRequested.countDown();
            }
        };
        Thread remover = Thread.ofPlatform().start(() -> {
            try {
                stack.dm.remove("origin", false); // presuspend stops the merge after the run in progress
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
        assertThat(stopRequested.await(10, TimeUnit.SECONDS)).as("the remove asked the merge to stop").isTrue();
        release.countDown();
        remover.join(10_000);
        assertThat(remover.isAlive()).isFalse();
        assertThat(CowInspector.inspect(stack.submitter, cow).exceptions()).isEqualTo(6);

        // The restart: a new table on the same COW finds what is left and merges it.
        origin = stack.create("origin", "0 " + SECTORS + " snapshot-merge real cow P " + CHUNK);
        assertThat(awaitMergeDone()).isEqualTo("0 2048 snapshot-merge 16/1024 16");
        snapView.assertMatches(stack.submitter, origin);
        snapView.assertMatches(stack.submitter, real);
    }

    @Test
    void anotherSnapshotOfTheOriginKeepsItsViewWhileOneIsMerged() throws Exception {
        setUp();
        MemoryStore cow2 = new MemoryStore("cow2-store", 512 << 10);
        stack.leaf("cow2", cow2);
        makeExceptions();
        ModelDevice originBefore = new ModelDevice(SECTORS * 512L);
        originBefore.write(0, Io.readOk(stack.submitter, origin, 0, SECTORS * 512));
        MappedDevice other = stack.create("other", "0 " + SECTORS + " snapshot real cow2 P 4");

        startMerge();
        awaitMergeDone();
        snapView.assertMatches(stack.submitter, real);
        originBefore.assertMatches(stack.submitter, other);
        assertThat(stack.snapshot("other").completedExceptions()).as("the merge copied out to the other snapshot first")
                .isPositive();
    }

    private static void await(CountDownLatch latch) {
        try {
            if (!latch.await(20, TimeUnit.SECONDS)) {
                throw new AssertionError("latch timed out");
            }
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
    }
}
