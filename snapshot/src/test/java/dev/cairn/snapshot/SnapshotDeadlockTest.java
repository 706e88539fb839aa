package dev.cairn.snapshot;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.IoAbortedException;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.SubmitterConfig;
import dev.cairn.block.WatchdogReport;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.dm.MappedDevice;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.Pattern;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The deadlock of the patch "block: flush queued bios when the process blocks", on the real
 * {@code snapshot} target through dm core, made deterministic with the target's test hooks:
 *
 * <pre>
 *  reader                                       origin writer / copy worker (kcopyd)
 *  read 4 KiB at sector 6 of the snapshot
 *  dm maps piece 1 (sectors 6..7, chunk 0):
 *    lock, no exception, track chunk 0,
 *    remap to the origin -> parked on the reader's list
 *  dm maps piece 2 (chunk 1): hook waits       write chunk 0 of the origin: pending exception,
 *                                                copy chunk 0 to the COW, commit, then
 *                                                pendingComplete: down_write(lock); hook;
 *                                                while chunk 0 is tracked: sleep 1 ms  (waits for piece 1)
 *  piece 2: down_write(lock) -> blocks          (waits for the reader)
 *  piece 1 waits for the reader to return      => a cycle under LEGACY
 * </pre>
 *
 * Under FLUSH_ON_BLOCK the reader's block hook hands piece 1 (a pooled dm clone) to the clone set's
 * rescuer; under DEPTH_FIRST dm maps piece 2 only after piece 1 completed. The test threads wait on
 * plain {@link CountDownLatch}es, which never flush anything, so they cannot hide the bug.
 */
class SnapshotDeadlockTest {
    private static final int ORIGIN_BYTES = 64 * 1024;

    @ParameterizedTest
    @EnumSource(value = SubmitPolicy.class, names = {"FLUSH_ON_BLOCK", "DEPTH_FIRST"})
    @Timeout(60)
    void aReadAcrossAChunkBoundaryCompletesWhilePendingCompleteHoldsTheLock(SubmitPolicy policy) throws Exception {
        List<WatchdogReport> reports = new CopyOnWriteArrayList<>();
        try (SnapStack stack = new SnapStack(SubmitterConfig.defaults().withName("t-" + policy.configName())
                .withPolicy(policy).withWatchdog(Duration.ofMillis(500), reports::add))) {
            Race race = new Race(stack);
            race.start();

            assertThat(race.readDone.await(20, TimeUnit.SECONDS)).as("the read completes").isTrue();
            race.writer.join(20_000);
            race.reader.join(20_000);
            assertThat(race.writer.isAlive()).isFalse();
            assertThat(race.readerError.get()).isNull();
            assertThat(race.writerError.get()).isNull();
            assertThat(race.readStatus.get()).isEqualTo(BioStatus.OK);
            assertThat(race.writeStatus.get()).isEqualTo(BioStatus.OK);
            assertThat(race.pendingCompleteSawTrackedRead.get())
                    .as("pendingComplete found piece 1 tracked under FLUSH_ON_BLOCK, not under DEPTH_FIRST")
                    .isEqualTo(policy == SubmitPolicy.FLUSH_ON_BLOCK);
            // The whole read saw the snapshot's moment: generation 1, though chunk 0 of the origin changed.
            Pattern.check(race.buffer, 6 * 512, 1);
            Pattern.check(Io.readOk(stack.submitter, race.snap, 0, 8 * 512), 0, 1);
            Pattern.check(Io.readOk(stack.submitter, race.origin, 0, 8 * 512), 0, 2);
            assertThat(stack.snapshot("snap").lookup(0)).as("chunk 0 has its exception").isEqualTo(2);
            assertThat(reports).as("no watchdog report for a race that completes").isEmpty();
        }
    }

    @Test
    @Timeout(60)
    void legacyHangsAndTheWatchdogSaysWhyThenTheStackIsTornDown() throws Exception {
        List<WatchdogReport> reports = new CopyOnWriteArrayList<>();
        SnapStack stack = new SnapStack(SubmitterConfig.defaults().withName("t-legacy")
                .withPolicy(SubmitPolicy.LEGACY).withWatchdog(Duration.ofMillis(500), reports::add));
        Race race = new Race(stack);
        race.start();

        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (stuck(reports, "reader") == null && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        WatchdogReport.StuckThread reader = stuck(reports, "reader");
        assertThat(reader).as("the watchdog reports the stuck reader within seconds: %s", reports).isNotNull();
        reports.forEach(r -> System.out.println(r.text()));
        assertThat(race.readDone.getCount()).as("the read is stuck").isEqualTo(1);
        assertThat(reader.waitingIn()).isEqualTo("rw semaphore snapshot snap-1");
        assertThat(reader.holders()).isEqualTo("write-held by cairn-kcopyd-snap-1");
        assertThat(reader.parkedBios()).as("piece 1 is parked on the reader's list, remapped to the origin")
                .singleElement().asString().contains("READ").contains("sector=6").contains("size=1024").contains("dev=real");
        assertThat(race.pendingCompleteSawTrackedRead.get()).as("the copy worker waits for piece 1, holding the lock").isTrue();

        stack.submitter.shutdown();
        race.reader.join(10_000);
        race.writer.join(10_000);
        assertThat(race.reader.isAlive()).isFalse();
        assertThat(race.writer.isAlive()).isFalse();
        assertThat(race.readDone.getCount()).as("the read was ended by the teardown").isZero();
        assertThat(race.readStatus.get()).isNotEqualTo(BioStatus.OK);
        // The origin write waited for the copy: the teardown either aborted its wait or ended the bio.
        assertThat(race.writerError.get() instanceof IoAbortedException || race.writeStatus.get() == BioStatus.ABORTED)
                .as("writer: %s / %s", race.writerError.get(), race.writeStatus.get()).isTrue();
        stack.close();
    }

    private static WatchdogReport.StuckThread stuck(List<WatchdogReport> reports, String thread) {
        return reports.stream().flatMap(r -> r.threads().stream()).filter(t -> t.thread().equals(thread)).findFirst()
                .orElse(null);
    }

    /** The reader and the origin writer over a 64 KiB origin of generation 1, with a snapshot of 4 KiB chunks. */
    private static final class Race {
        final SnapStack stack;
        final MappedDevice origin;
        final MappedDevice snap;
        final MemorySegment buffer = MemorySegment.ofArray(new byte[4096]);
        final CountDownLatch piece1Tracked = new CountDownLatch(1);
        final CountDownLatch writerHoldsLock = new CountDownLatch(1);
        final CountDownLatch readDone = new CountDownLatch(1);
        final AtomicReference<BioStatus> readStatus = new AtomicReference<>();
        final AtomicReference<BioStatus> writeStatus = new AtomicReference<>();
        final AtomicReference<Throwable> readerError = new AtomicReference<>();
        final AtomicReference<Throwable> writerError = new AtomicReference<>();
        final AtomicReference<Boolean> pendingCompleteSawTrackedRead = new AtomicReference<>();
        Thread reader;
        Thread writer;

        Race(SnapStack stack) throws Exception {
            this.stack = stack;
            MemoryStore real = new MemoryStore("real-store", ORIGIN_BYTES);
            Io.writeOk(stack.submitter, real, 0, Pattern.segment(0, ORIGIN_BYTES, 1));
            stack.leaf("real", real);
            stack.leaf("cow", new MemoryStore("cow-store", ORIGIN_BYTES));
            origin = stack.create("origin", "0 128 snapshot-origin real");
            snap = stack.create("snap", "0 128 snapshot real cow P 8");
        }

        void start() {
            Snapshot s = stack.snapshot("snap");
            s.hooks = new SnapshotHooks() {
                @Override
                public void beforeMapLock(Bio clone, long chunk) {
                    if (chunk == 1 && Thread.currentThread().getName().equals("reader")) {
                        piece1Tracked.countDown();
                        await(writerHoldsLock);
                    }
                }

                @Override
                public void pendingCompleteLocked(long oldChunk) {
                    if (oldChunk == 0) {
                        pendingCompleteSawTrackedRead.set(isTracked(s, 0));
                        writerHoldsLock.countDown();
                    }
                }
            };
            writer = Thread.ofPlatform().name("origin-writer").start(() -> {
                try {
                    await(piece1Tracked);
                    writeStatus.set(Io.write(stack.submitter, origin, 0, Pattern.segment(0, 4096, 2)));
                } catch (Throwable t) {
                    writerError.set(t);
                }
            });
            reader = Thread.ofPlatform().name("reader").start(() -> {
                // Piece 1: sectors 6..7 of chunk 0; piece 2: sectors 8..13 of chunk 1.
                Bio read = Bio.alloc().setDevice(snap).setOp(BioOp.READ).setSector(6).setData(buffer);
                read.setEndIo(b -> {
                    readStatus.set(b.status());
                    readDone.countDown();
                });
                try {
                    stack.submitter.submit(read);
                } catch (Throwable t) {
                    readerError.set(t);
                }
            });
        }

        private static boolean isTracked(Snapshot s, long chunk) {
            return s.isTracked(chunk);
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
}
