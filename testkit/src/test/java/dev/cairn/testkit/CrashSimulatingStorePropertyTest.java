package dev.cairn.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.BioFlags;
import dev.cairn.block.BioStatus;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The crash contract as a property, checked per sector over random histories: after a crash a sector holds
 * the last write to it that was durable (flushed, or FUA; zeros if none) or a later volatile write, and
 * nothing else. Every outcome the contract allows eventually shows up.
 */
class CrashSimulatingStorePropertyTest {
    private static final int SECTORS = 64;
    private final StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);
    private final Submitter submitter = stack.submitter();

    @AfterEach
    void tearDown() {
        stack.close();
    }

    /** Per sector: the generation surely there, and the volatile generations written after it, oldest first. */
    private static final class SectorModel {
        int durable = Pattern.ZEROS;
        final List<Integer> volatileAfter = new ArrayList<>();

        void write(int generation, boolean fua) {
            if (fua) {
                durable = generation;
                volatileAfter.clear();
            } else {
                volatileAfter.add(generation);
            }
        }

        void flush() {
            if (!volatileAfter.isEmpty()) {
                durable = volatileAfter.getLast();
                volatileAfter.clear();
            }
        }

        Set<Integer> allowed() {
            Set<Integer> out = new HashSet<>(volatileAfter);
            out.add(durable);
            return out;
        }
    }

    @Test
    void everyCrashImageKeepsOnlyWhatTheContractAllows() {
        long seed = RandomIo.newSeed();
        SplittableRandom random = new SplittableRandom(seed);
        for (int history = 0; history < 40; history++) {
            CrashSimulatingStore disk = stack.crashStore("disk" + history, SECTORS * 512);
            SectorModel[] model = new SectorModel[SECTORS];
            for (int s = 0; s < SECTORS; s++) {
                model[s] = new SectorModel();
            }
            int generation = 0;
            int ops = 5 + random.nextInt(40);
            for (int i = 0; i < ops; i++) {
                int pick = random.nextInt(10);
                if (pick == 0) {
                    assertThat(Io.flush(submitter, disk)).isEqualTo(BioStatus.OK);
                    for (SectorModel m : model) {
                        m.flush();
                    }
                    continue;
                }
                int length = 1 + random.nextInt(8);
                int start = random.nextInt(SECTORS - length + 1);
                int flags = (random.nextInt(5) == 0 ? BioFlags.FUA : 0) | (random.nextInt(6) == 0 ? BioFlags.PREFLUSH : 0);
                if ((flags & BioFlags.PREFLUSH) != 0) {
                    for (SectorModel m : model) {
                        m.flush();
                    }
                }
                boolean fua = (flags & BioFlags.FUA) != 0;
                if (pick == 1) {
                    assertThat(Io.writeZeroes(submitter, disk, start, length, flags)).isEqualTo(BioStatus.OK);
                    for (int s = start; s < start + length; s++) {
                        model[s].write(Pattern.ZEROS, fua);
                    }
                    continue;
                }
                int g = ++generation;
                assertThat(Io.write(submitter, disk, start, Pattern.segment(start * 512L, length * 512, g), flags))
                        .isEqualTo(BioStatus.OK);
                for (int s = start; s < start + length; s++) {
                    model[s].write(g, fua);
                }
            }
            // reads see the newest write
            int[] now = Pattern.sectorGenerations(Io.readOk(submitter, disk, 0, SECTORS * 512), 0);
            for (int s = 0; s < SECTORS; s++) {
                SectorModel m = model[s];
                int newest = m.volatileAfter.isEmpty() ? m.durable : m.volatileAfter.getLast();
                assertThat(now[s]).as("seed %d history %d: sector %d now", seed, history, s).isEqualTo(newest);
            }
            // the durable image is exactly the durable generations
            int[] durable = generationsOf(disk.durableImage());
            for (int s = 0; s < SECTORS; s++) {
                assertThat(durable[s]).as("seed %d history %d: durable sector %d", seed, history, s)
                        .isEqualTo(model[s].durable);
            }
            for (long crash = 0; crash < 30; crash++) {
                int[] after = generationsOf(disk.crashImage(random.nextLong()));
                for (int s = 0; s < SECTORS; s++) {
                    assertThat(model[s].allowed()).as("seed %d history %d crash %d: sector %d held %s",
                            seed, history, crash, s, Pattern.describe(after[s])).contains(after[s]);
                }
            }
        }
    }

    private static int[] generationsOf(DiskImage image) {
        return Pattern.sectorGenerations(MemorySegment.ofArray(image.bytes(0, SECTORS * 512)), 0);
    }

    @Test
    void concurrentWritersEverythingCompletedBeforeAFlushSurvives() throws Exception {
        CrashSimulatingStore disk = stack.crashStore("disk", 8 << 20);
        int threads = 8;
        int perThread = 200;
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> workers = new ArrayList<>();
        List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        for (int t = 0; t < threads; t++) {
            int thread = t;
            workers.add(Thread.ofPlatform().start(() -> {
                try {
                    start.await();
                    for (int i = 0; i < perThread; i++) {
                        long sector = (long) (thread * perThread + i) * 8;
                        Io.writeOk(submitter, disk, sector, Pattern.segment(sector * 512, 4096, 1 + thread));
                        if (i % 50 == 49) {
                            assertThat(Io.flush(submitter, disk)).isEqualTo(BioStatus.OK);
                        }
                    }
                } catch (Throwable e) {
                    failures.add(e);
                }
            }));
        }
        start.countDown();
        for (Thread w : workers) {
            w.join();
        }
        assertThat(failures).isEmpty();
        // each thread flushed after its last write: every write completed before that flush is durable
        DiskImage image = disk.crash(1);
        for (int t = 0; t < threads; t++) {
            for (int i = 0; i < perThread; i++) {
                long sector = (long) (t * perThread + i) * 8;
                Pattern.check(MemorySegment.ofArray(image.bytes(sector * 512, 4096)), sector * 512, 1 + t);
            }
        }
    }
}
