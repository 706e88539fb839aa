package dev.cairn.thin;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.SubmitterConfig;
import dev.cairn.block.WatchdogReport;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.dm.MappedDevice;
import dev.cairn.testkit.ForwardingDevice;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.Pattern;
import dev.cairn.testkit.Poll;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The thin counterpart of the snapshot deadlock test: a read crossing the boundary of data blocks 0
 * and 1 of a thin device while the pool's worker provisions block 5 and holds the metadata lock.
 *
 * <pre>
 *  reader                                        pool worker
 *  read 4 KiB at sector 124 (blocks 0 and 1)
 *  dm maps piece 1 (block 0, mapped):
 *    remapped to the data device -> parked on the reader's list
 *  dm maps piece 2 (block 1): hook waits         write to block 5: allocate under the metadata lock;
 *                                                hook: [waiting variant] wait for piece 1 to end
 *  piece 2: lookup -> metadata lock -> blocks
 * </pre>
 *
 * Without the wait nothing on the worker depends on piece 1, so the read completes under every
 * policy. The waiting variant stands for any wait on I/O under the metadata lock (a commit's data
 * flush, a metadata read): it completes under FLUSH_ON_BLOCK because the metadata lock is a blocking
 * primitive (the reader's parked piece 1 goes to the rescuer as the reader parks) and under DEPTH_FIRST
 * (piece 2 is mapped only after piece 1 ended); under LEGACY it hangs and the watchdog says why. The
 * test threads wait on plain latches, which never flush anything.
 */
class ThinDeadlockTest {
    private static final int BS = 128;

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    @Timeout(60)
    void aReadAcrossABlockBoundaryCompletesWhileABlockIsProvisioned(SubmitPolicy policy) throws Exception {
        try (ThinStack stack = new ThinStack(SubmitterConfig.defaults().withName("t-" + policy.configName()).withPolicy(policy))) {
            Race race = new Race(stack, false);
            race.start();
            assertThat(race.readDone.await(20, TimeUnit.SECONDS)).as("the read completes").isTrue();
            race.join();
            race.assertResults();
        }
    }

    @ParameterizedTest
    @EnumSource(value = SubmitPolicy.class, names = {"FLUSH_ON_BLOCK", "DEPTH_FIRST"})
    @Timeout(60)
    void aWorkerWaitingForIoUnderTheMetadataLockDoesNotDeadlockTheRead(SubmitPolicy policy) throws Exception {
        List<WatchdogReport> reports = new CopyOnWriteArrayList<>();
        try (ThinStack stack = new ThinStack(SubmitterConfig.defaults().withName("t-" + policy.configName())
                .withPolicy(policy).withWatchdog(Duration.ofMillis(500), reports::add))) {
            Race race = new Race(stack, true);
            race.start();
            assertThat(race.readDone.await(20, TimeUnit.SECONDS)).as("the read completes").isTrue();
            race.join();
            race.assertResults();
            assertThat(race.piece1DoneBeforeWorkerWaited.get())
                    .as("piece 1 had ended before the worker waited: only under DEPTH_FIRST")
                    .isEqualTo(policy == SubmitPolicy.DEPTH_FIRST);
            assertThat(reports).as("no watchdog report for a race that completes").isEmpty();
        }
    }

    @Test
    @Timeout(60)
    void legacyHangsWhenTheWorkerWaitsAndTheWatchdogSaysWhy() throws Exception {
        List<WatchdogReport> reports = new CopyOnWriteArrayList<>();
        ThinStack stack = new ThinStack(SubmitterConfig.defaults().withName("t-legacy").withPolicy(SubmitPolicy.LEGACY)
                .withWatchdog(Duration.ofMillis(500), reports::add));
        Race race = new Race(stack, true);
        race.start();
        assertThat(Poll.until(() -> stuck(reports, "reader") != null, Duration.ofSeconds(10)))
                .as("the watchdog reports the stuck reader: %s", reports).isTrue();
        WatchdogReport.StuckThread reader = stuck(reports, "reader");
        assertThat(reader.waitingIn()).isEqualTo("mutex thin-pool metadata pool");
        assertThat(reader.holders()).isEqualTo("held by cairn-thin-pool");
        assertThat(reader.parkedBios()).as("piece 1 is parked on the reader's list, remapped to the data device")
                .singleElement().asString().contains("READ").contains("sector=124").contains("size=2048");
        assertThat(race.readDone.getCount()).isEqualTo(1);
        race.releaseWorker.countDown();
        stack.submitter.shutdown();
        race.reader.join(10_000);
        race.writer.join(10_000);
        assertThat(race.reader.isAlive()).isFalse();
        try {
            stack.close();
        } catch (dev.cairn.block.IoAbortedException e) {
            // The submitter is shut down: removing the devices cannot wait for their drained I/O.
        }
    }

    private static WatchdogReport.StuckThread stuck(List<WatchdogReport> reports, String thread) {
        return reports.stream().flatMap(r -> r.threads().stream()).filter(t -> t.thread().equals(thread)).findFirst()
                .orElse(null);
    }

    /** Counts down when the read of data sector 124 (piece 1) completes. */
    private static final class WatchedData extends ForwardingDevice {
        final CountDownLatch piece1Done = new CountDownLatch(1);

        WatchedData(BlockDevice lower) {
            super(lower);
        }

        @Override
        public void submitBio(Bio bio) {
            if (bio.op() == BioOp.READ && bio.sector() == 124) {
                // A dm clone's end-io is dm core's: read through a child, then complete the clone.
                Bio child = bio.clone(null).setEndIo(b -> {
                    bio.complete(b.status());
                    piece1Done.countDown();
                });
                super.submitBio(child);
                return;
            }
            super.submitBio(bio);
        }
    }

    private static final class Race {
        final ThinStack stack;
        final boolean workerWaits;
        final MappedDevice thin;
        final WatchedData data;
        final MemorySegment buffer = MemorySegment.ofArray(new byte[4096]);
        final CountDownLatch readerAtPiece2 = new CountDownLatch(1);
        final CountDownLatch workerHoldsLock = new CountDownLatch(1);
        final CountDownLatch readDone = new CountDownLatch(1);
        final CountDownLatch releaseWorker = new CountDownLatch(1);
        final AtomicBoolean piece1DoneBeforeWorkerWaited = new AtomicBoolean();
        final AtomicReference<BioStatus> readStatus = new AtomicReference<>();
        final AtomicReference<BioStatus> writeStatus = new AtomicReference<>();
        Thread reader;
        Thread writer;

        Race(ThinStack stack, boolean workerWaits) throws Exception {
            this.stack = stack;
            this.workerWaits = workerWaits;
            stack.leaf("meta", new MemoryStore("meta-store", 16L << 20));
            data = new WatchedData(new MemoryStore("data-store", 16L << 20));
            stack.leaf("data", data);
            stack.create("pool", "0 32768 thin-pool meta data " + BS + " 0 1 skip_block_zeroing");
            stack.message("pool", "create_thin", "1");
            thin = stack.create("thin", "0 4096 thin pool 1");
            Io.writeOk(stack.submitter, thin, 0, Pattern.segment(0, BS * 512, 1));
            Io.writeOk(stack.submitter, thin, BS, Pattern.segment(BS * 512L, BS * 512, 1));
            // Nothing left to commit: the periodic commit must not take the metadata lock during the race.
            assertThat(stack.pool("pool").commit()).isTrue();
            stack.pool("pool").hooks = new ThinHooks() {
                @Override
                public void beforeMapLookup(Bio clone, long devId, long vblock) {
                    // Not on the pool's worker: a piece detained in a cell is mapped again from there.
                    if (vblock == 1 && clone.op() == BioOp.READ && readerAtPiece2.getCount() == 1
                            && !Thread.currentThread().getName().startsWith("cairn-thin-")) {
                        readerAtPiece2.countDown();
                        await(workerHoldsLock);
                    }
                }

                @Override
                public void provisioningLocked(long devId, long vblock, long dataBlock) {
                    if (vblock != 5) {
                        return;
                    }
                    // Read before the reader is let go: once it runs on, FLUSH_ON_BLOCK may end piece 1 at once.
                    piece1DoneBeforeWorkerWaited.set(data.piece1Done.getCount() == 0);
                    workerHoldsLock.countDown();
                    if (workerWaits) {
                        try {
                            while (!data.piece1Done.await(50, TimeUnit.MILLISECONDS)) {
                                if (releaseWorker.getCount() == 0) {
                                    return;
                                }
                            }
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                }
            };
        }

        private static void await(CountDownLatch l) {
            try {
                if (!l.await(20, TimeUnit.SECONDS)) {
                    throw new AssertionError("latch timed out");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        void start() {
            reader = Thread.ofPlatform().name("reader").start(() -> {
                try {
                    readStatus.set(Io.read(stack.submitter, thin, 124, buffer));
                } catch (RuntimeException e) {
                    readStatus.set(BioStatus.ABORTED);
                } finally {
                    readDone.countDown();
                }
            });
            writer = Thread.ofPlatform().name("writer").start(() -> {
                await(readerAtPiece2);
                try {
                    writeStatus.set(Io.write(stack.submitter, thin, 5L * BS, Pattern.segment(5L * BS * 512, 4096, 2)));
                } catch (RuntimeException e) {
                    writeStatus.set(BioStatus.ABORTED);
                }
            });
        }

        void join() throws InterruptedException {
            reader.join(20_000);
            writer.join(20_000);
            assertThat(writer.isAlive()).isFalse();
        }

        void assertResults() {
            assertThat(readStatus.get()).isEqualTo(BioStatus.OK);
            assertThat(writeStatus.get()).isEqualTo(BioStatus.OK);
            Pattern.check(buffer, 124 * 512L, 1);
            Pattern.check(Io.readOk(stack.submitter, thin, 5L * BS, 4096), 5L * BS * 512, 2);
        }
    }
}
