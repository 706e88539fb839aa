package dev.cairn.snapshot;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.BlockDevice;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.SubmitterConfig;
import dev.cairn.block.WatchdogReport;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.dm.MappedDevice;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.ModelDevice;
import dev.cairn.testkit.Pattern;
import dev.cairn.testkit.RandomIo;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Seeded randomized stress of the race the patch is about, under the two safe policies: readers that
 * cross chunk boundaries of the snapshot (tracked reads of uncopied chunks), origin writers (copy-out
 * and pendingComplete waiting for those reads, holding the lock) and snapshot writers, for a fixed
 * number of operations. Nothing may hang, and the data must be right.
 *
 * <p>The chunks are dealt to three roles by {@code chunk % 3}: written through the origin, written
 * through the snapshot, never written. Each writer owns its own chunks, so the final contents are
 * known exactly; while the run goes on, a read must see generation 1 wherever the other view's
 * writers cannot have written. Set {@code -Dcairn.seed=N} to replay a run; the seed is printed.
 */
class SnapshotStressTest {
    private static final int SECTORS = 4096;
    private static final int CHUNK = 8;
    private static final int READERS = 3;
    private static final int READS_EACH = 400;
    private static final int WRITERS_PER_VIEW = 2;
    private static final int WRITES_EACH = 150;
    private static final int FIRST_WRITER_GENERATION = 1000;

    @ParameterizedTest
    @EnumSource(value = SubmitPolicy.class, names = {"FLUSH_ON_BLOCK", "DEPTH_FIRST"})
    @Timeout(180)
    void readersCrossingChunksOriginAndSnapshotWritersNeverHangAndSeeTheRightData(SubmitPolicy policy) throws Exception {
        long seed = Long.getLong(RandomIo.SEED_PROPERTY, RandomIo.newSeed());
        System.out.println("SnapshotStressTest " + policy + " seed " + seed + " (replay with -D" + RandomIo.SEED_PROPERTY + "=" + seed + ")");
        List<WatchdogReport> reports = new CopyOnWriteArrayList<>();
        try (SnapStack stack = new SnapStack(SubmitterConfig.defaults().withName("stress-" + policy.configName())
                .withPolicy(policy).withWatchdog(Duration.ofSeconds(10), reports::add))) {
            MemoryStore real = new MemoryStore("real-store", SECTORS * 512L);
            Io.writeOk(stack.submitter, real, 0, Pattern.segment(0, SECTORS * 512, 1));
            SlowDevice slowReal = new SlowDevice(real, 2000, seed);
            stack.leaf("real", slowReal);
            stack.leaf("cow", new MemoryStore("cow-store", SECTORS * 512L + (64 << 10)));
            MappedDevice origin = stack.create("origin", "0 " + SECTORS + " snapshot-origin real");
            MappedDevice snap = stack.create("snap", "0 " + SECTORS + " snapshot real cow P " + CHUNK);
            ModelDevice originModel = new ModelDevice(SECTORS * 512L);
            ModelDevice snapModel = new ModelDevice(SECTORS * 512L);
            originModel.write(0, Pattern.segment(0, SECTORS * 512, 1));
            snapModel.write(0, Pattern.segment(0, SECTORS * 512, 1));

            ConcurrentLinkedQueue<Throwable> failures = new ConcurrentLinkedQueue<>();
            AtomicInteger nextGeneration = new AtomicInteger(FIRST_WRITER_GENERATION);
            AtomicInteger crossingReads = new AtomicInteger();
            // The chunk an origin writer is about to write: readers aim at it half the time, so their
            // tracked reads overlap the copy-out and pendingComplete of that chunk.
            AtomicLong hotChunk = new AtomicLong(1);
            List<Thread> threads = new ArrayList<>();
            for (int w = 0; w < WRITERS_PER_VIEW; w++) {
                threads.add(writer("origin-writer-" + w, stack, origin, originModel, 0, w, seed, nextGeneration, failures, hotChunk));
                threads.add(writer("snap-writer-" + w, stack, snap, snapModel, 1, w, seed, nextGeneration, failures, null));
            }
            for (int r = 0; r < READERS; r++) {
                SplittableRandom random = new SplittableRandom(seed * 31 + 7 + r);
                threads.add(Thread.ofPlatform().name("reader-" + r).start(() -> {
                    try {
                        for (int i = 0; i < READS_EACH; i++) {
                            boolean fromSnap = random.nextInt(4) != 0;
                            int sectors = 1 + random.nextInt(16);
                            long sector;
                            long hot = hotChunk.get();
                            if (random.nextBoolean() && hot > 0) {
                                sectors = Math.max(sectors, 2);
                                sector = hot * CHUNK - 1 - random.nextInt(Math.min(sectors - 1, CHUNK));
                            } else {
                                sector = random.nextLong(SECTORS - sectors + 1);
                            }
                            sector = Math.min(Math.max(0, sector), SECTORS - sectors);
                            if (sector / CHUNK != (sector + sectors - 1) / CHUNK) {
                                crossingReads.incrementAndGet();
                            }
                            MemorySegment data = Io.readOk(stack.submitter, fromSnap ? snap : origin, sector, sectors * 512);
                            checkDuringRun(data, sector, fromSnap);
                        }
                    } catch (Throwable t) {
                        failures.add(t);
                    }
                }));
            }
            for (Thread t : threads) {
                t.join(150_000);
                assertThat(t.isAlive()).as("%s finished (seed %d)", t.getName(), seed).isFalse();
            }
            assertThat(failures).as("seed %d", seed).isEmpty();
            assertThat(crossingReads.get()).as("reads that cross a chunk boundary").isGreaterThan(READERS * READS_EACH / 4);

            snapModel.assertMatches(stack.submitter, snap);
            originModel.assertMatches(stack.submitter, origin);
            originModel.assertMatches(stack.submitter, real);
            assertThat(stack.snapshot("snap").pendingExceptions()).isZero();
            System.out.println("SnapshotStressTest " + policy + ": pendingComplete waited for a tracked read "
                    + stack.snapshot("snap").conflictWaits() + " times; " + crossingReads.get() + " reads crossed a chunk");
            assertThat(reports.stream().flatMap(r -> r.threads().stream()).toList()).as("no thread stuck").isEmpty();
            assertThat(stack.snapshot("snap").conflictWaits()).as("the race of the patch happened").isPositive();
            slowReal.close();
        }
    }

    /** Role of a chunk: 0 written through the origin, 1 through the snapshot, 2 never written. */
    private static int role(long chunk) {
        return (int) (chunk % 3);
    }

    private static void checkDuringRun(MemorySegment data, long sector, boolean fromSnap) {
        int[] gens = Pattern.sectorGenerations(data, sector * 512);
        for (int i = 0; i < gens.length; i++) {
            long s = sector + i;
            int role = role(s / CHUNK);
            boolean othersOnly = fromSnap ? role != 1 : role != 0;
            if (othersOnly) {
                // Nothing written through this view here: the other view's writes must not show.
                assertThat(gens[i]).as("%s sector %d (chunk role %d)", fromSnap ? "snapshot" : "origin", s, role).isEqualTo(1);
            } else {
                assertThat(gens[i] == 1 || gens[i] >= FIRST_WRITER_GENERATION || gens[i] == Pattern.MIXED)
                        .as("%s sector %d: generation %s", fromSnap ? "snapshot" : "origin", s, Pattern.describe(gens[i]))
                        .isTrue();
            }
        }
    }

    private static Thread writer(String name, SnapStack stack, BlockDevice device, ModelDevice model, int role, int index,
            long seed, AtomicInteger nextGeneration, ConcurrentLinkedQueue<Throwable> failures, AtomicLong hotChunk) {
        SplittableRandom random = new SplittableRandom(seed * 17 + role * 5 + index);
        List<Long> mine = new ArrayList<>();
        for (long c = 0; c < SECTORS / CHUNK; c++) {
            if (role(c) == role && (c / 3) % WRITERS_PER_VIEW == index) {
                mine.add(c);
            }
        }
        return Thread.ofPlatform().name(name).start(() -> {
            try {
                for (int i = 0; i < WRITES_EACH; i++) {
                    long chunk = mine.get(random.nextInt(mine.size()));
                    int offset;
                    int sectors;
                    if (random.nextInt(4) == 0) {
                        offset = 0;
                        sectors = CHUNK; // whole chunk: no copy on the snapshot side
                    } else {
                        offset = random.nextInt(CHUNK);
                        sectors = 1 + random.nextInt(CHUNK - offset);
                    }
                    long sector = chunk * CHUNK + offset;
                    if (hotChunk != null) {
                        hotChunk.set(chunk);
                    }
                    MemorySegment data = Pattern.segment(sector * 512, sectors * 512, nextGeneration.getAndIncrement());
                    Io.writeOk(stack.submitter, device, sector, data);
                    model.write(sector * 512, data);
                }
            } catch (Throwable t) {
                failures.add(t);
            }
        });
    }
}
