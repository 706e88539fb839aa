package dev.cairn.block;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.store.MemoryStore;
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
 * The deadlock of the patch "block: flush queued bios when the process blocks", reproduced with
 * {@link SnapLikeDevice} and made deterministic with latches:
 *
 * <pre>
 *  thread A (reader)                          thread B (pendingComplete of chunk 0)
 *  read 4 KiB across the chunk 0/1 boundary
 *  map piece 1: lock, track chunk 0, unlock,
 *    remap to origin  -> parked on A's list
 *                                              down_write(lock)
 *                                              while chunk 0 tracked: sleep   (waits for piece 1)
 *  map piece 2: down_write(lock) -> blocks     (waits for A)
 *  piece 1 waits for A to return              => cycle under LEGACY
 * </pre>
 *
 * Under FLUSH_ON_BLOCK, A's block hook hands piece 1 (a pooled clone) to the bio set's rescuer, which
 * submits it; under DEPTH_FIRST, A maps only piece 1 and returns, so piece 1 runs before piece 2.
 * The test scaffolding waits on plain {@link CountDownLatch}es, which are not blocking primitives:
 * they never flush anything, so they cannot hide the bug.
 */
class FlushOnBlockDeadlockTest {
    private static final int CHUNK_SECTORS = 8;

    @ParameterizedTest
    @EnumSource(value = SubmitPolicy.class, names = {"FLUSH_ON_BLOCK", "DEPTH_FIRST"})
    @Timeout(30)
    void readAcrossChunkBoundaryCompletesWhilePendingCompleteHoldsTheLock(SubmitPolicy policy) throws Exception {
        List<WatchdogReport> reports = new CopyOnWriteArrayList<>();
        try (Submitter submitter = Submitter.create(SubmitterConfig.defaults().withName("t-" + policy.configName())
                .withPolicy(policy).withWatchdog(Duration.ofSeconds(5), reports::add))) {
            // 5 s: a completed race has no wait anywhere near that long, while a loaded machine can stall a
            // thread for half a second (a deadlock still fails the read's 20 s wait below)
            Race race = new Race(submitter);
            race.start();

            assertThat(race.readDone.await(20, TimeUnit.SECONDS)).as("read completes").isTrue();
            race.writer.join(20_000);
            assertThat(race.writer.isAlive()).isFalse();
            assertThat(race.readStatus.get()).isEqualTo(BioStatus.OK);
            assertThat(race.readerError.get()).isNull();
            assertThat(race.bData.get()).isNull();
            MemorySegment expected = MemorySegment.ofArray(new byte[4096]);
            for (int i = 0; i < 4096; i++) {
                expected.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) (3072 + i));
            }
            assertThat(race.buffer.mismatch(expected)).isEqualTo(-1L);
            // The read's end-io runs inside the innermost piece's end-io, which returns that piece to
            // the pool only afterwards: give the completing thread a moment.
            BioSet clones = race.device.clones();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (clones.available() < clones.capacity() && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            assertThat(clones.available()).isEqualTo(clones.capacity());
            if (policy == SubmitPolicy.FLUSH_ON_BLOCK) {
                assertThat(race.device.clones().rescuedCount()).as("piece 1 went through the rescuer").isPositive();
            } else {
                assertThat(race.device.clones().rescuedCount()).as("depth-first needs no rescue").isZero();
            }
            assertThat(reports).as("no watchdog report for a completed race").isEmpty();
        }
    }

    @Test
    @Timeout(30)
    void legacyHangsIsDetectedByTheWatchdogAndTornDown() throws Exception {
        List<WatchdogReport> reports = new CopyOnWriteArrayList<>();
        Submitter submitter = Submitter.create(SubmitterConfig.defaults().withName("t-legacy")
                .withPolicy(SubmitPolicy.LEGACY).withWatchdog(Duration.ofMillis(500), reports::add));
        Race race = new Race(submitter);
        race.start();

        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (stuckReader(reports) == null && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        WatchdogReport.StuckThread reader = stuckReader(reports);
        assertThat(reader).as("the watchdog reports the stuck reader within seconds: %s", reports).isNotNull();
        assertThat(race.readDone.getCount()).as("the read is stuck").isEqualTo(1);
        reports.forEach(r -> System.out.println(r.text()));
        assertThat(reader.waitingIn()).isEqualTo("rw semaphore snap-like");
        assertThat(reader.holders()).isEqualTo("write-held by pending-complete");
        assertThat(reader.parkedBios()).as("piece 1 is parked on the reader's list")
                .singleElement().asString().contains("READ").contains("sector=6").contains("size=1024");
        assertThat(reports.stream().map(WatchdogReport::text))
                .anySatisfy(text -> assertThat(text).contains("\"reader\"", "parked: Bio[READ sector=6 size=1024"));
        assertThat(reports.stream().flatMap(r -> r.stuckBios().stream()))
                .as("the pooled clones in flight are reported too").isNotEmpty();

        submitter.shutdown();
        race.reader.join(10_000);
        race.writer.join(10_000);
        assertThat(race.reader.isAlive()).isFalse();
        assertThat(race.writer.isAlive()).isFalse();
        // Either the reader's wait was aborted, or the writer's abort released the lock first and
        // the reader's parked pieces were then failed by the shut-down submitter. Both tear it down.
        if (race.readerError.get() == null) {
            assertThat(race.readDone.await(5, TimeUnit.SECONDS)).isTrue();
            assertThat(race.readStatus.get()).isEqualTo(BioStatus.ABORTED);
        } else {
            assertThat(race.readerError.get()).isInstanceOf(IoAbortedException.class);
        }
    }

    private static WatchdogReport.StuckThread stuckReader(List<WatchdogReport> reports) {
        return reports.stream().flatMap(r -> r.threads().stream())
                .filter(t -> t.thread().equals("reader")).findFirst().orElse(null);
    }

    /** The two threads of the race over a 64 KiB origin whose byte X is (byte) X. */
    private static final class Race {
        final Submitter submitter;
        final SnapLikeDevice device;
        final MemorySegment buffer = MemorySegment.ofArray(new byte[4096]);
        final CountDownLatch piece1Tracked = new CountDownLatch(1);
        final CountDownLatch writerHoldsLock = new CountDownLatch(1);
        final CountDownLatch readDone = new CountDownLatch(1);
        final AtomicReference<BioStatus> readStatus = new AtomicReference<>();
        final AtomicReference<Throwable> readerError = new AtomicReference<>();
        final AtomicReference<Throwable> bData = new AtomicReference<>();
        Thread reader;
        Thread writer;

        Race(Submitter submitter) throws InterruptedException {
            this.submitter = submitter;
            MemoryStore origin = new MemoryStore("origin", 64 * 1024);
            MemorySegment data = MemorySegment.ofArray(new byte[64 * 1024]);
            for (int i = 0; i < 64 * 1024; i++) {
                data.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) i);
            }
            Bio fill = Bio.alloc().setDevice(origin).setOp(BioOp.WRITE).setSector(0).setData(data);
            assertThat(IoCompletion.submitAndWait(submitter, fill)).isEqualTo(BioStatus.OK);
            this.device = new SnapLikeDevice(submitter, origin, CHUNK_SECTORS);
        }

        void start() {
            device.setHooks((piece, chunk) -> {
                if (piece == 0 && Thread.currentThread().getName().equals("reader")) {
                    piece1Tracked.countDown();
                    await(writerHoldsLock);
                }
            });
            writer = Thread.ofPlatform().name("pending-complete").start(() -> {
                try {
                    await(piece1Tracked);
                    device.pendingComplete(0, writerHoldsLock::countDown);
                } catch (IoAbortedException expectedOnTeardown) {
                    // the LEGACY test tears the stack down while this thread waits
                } catch (Throwable t) {
                    bData.set(t);
                }
            });
            reader = Thread.ofPlatform().name("reader").start(() -> {
                // 4 KiB from sector 6: piece 1 is sectors 6..7 of chunk 0, piece 2 sectors 8..13 of chunk 1.
                Bio read = Bio.alloc().setDevice(device).setOp(BioOp.READ).setSector(6).setData(buffer);
                read.setEndIo(b -> {
                    readStatus.set(b.status());
                    readDone.countDown();
                });
                try {
                    submitter.submit(read);
                } catch (Throwable t) {
                    readerError.set(t);
                }
            });
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
