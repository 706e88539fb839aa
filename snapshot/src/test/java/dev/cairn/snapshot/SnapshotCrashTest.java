package dev.cairn.snapshot;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioStatus;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.SuspendMode;
import dev.cairn.testkit.CrashSimulatingStore;
import dev.cairn.testkit.DiskImage;
import dev.cairn.testkit.ForwardingDevice;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.Pattern;
import dev.cairn.testkit.RandomIo;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Crash consistency: the origin and the COW sit on {@link CrashSimulatingStore}s (a volatile write
 * cache that loses, keeps or tears every write not covered by a completed FLUSH or FUA). While a
 * seeded workload runs, the state of both disks is captured before many of their writes (a crash
 * right there, with two different ways of losing the volatile writes each). Each captured pair is
 * reopened in a fresh stack, and then:
 * <ul>
 *   <li>every write acknowledged as durable (FUA, or followed by a completed FLUSH of its device) is
 *       intact, in the origin and in the snapshot;</li>
 *   <li>no chunk of the snapshot shows data from after the snapshot was taken: each sector holds its
 *       durable generation or a generation written to that view later, never an origin write;</li>
 *   <li>a merge interrupted by a crash finishes after the restart with the origin equal to the
 *       snapshot's view.</li>
 * </ul>
 * The numbers of crash points tried are printed and checked.
 */
class SnapshotCrashTest {
    private static final int SECTORS = 512;
    private static final int CHUNK = 8;
    private static final int COW_BYTES = 384 << 10;
    private static final int SEEDS_PER_POINT = 2;

    /** What each sector of one view may hold after a crash: its durable generation or a later one. */
    static final class ViewModel {
        private final int[] durable;
        private final List<List<Integer>> later = new ArrayList<>();

        ViewModel(int sectors, int generation) {
            durable = new int[sectors];
            Arrays.fill(durable, generation);
            for (int i = 0; i < sectors; i++) {
                later.add(new ArrayList<>());
            }
        }

        private ViewModel(ViewModel other) {
            durable = other.durable.clone();
            for (List<Integer> l : other.later) {
                later.add(new ArrayList<>(l));
            }
        }

        synchronized ViewModel copy() {
            return new ViewModel(this);
        }

        /** Before a write is submitted: it may be on disk from now on. */
        synchronized void writing(long sector, int sectors, int generation) {
            for (int i = 0; i < sectors; i++) {
                later.get((int) sector + i).add(generation);
            }
        }

        /** A FUA write was acknowledged: durable, never undone by an older volatile write. */
        synchronized void fuaDone(long sector, int sectors, int generation) {
            for (int i = 0; i < sectors; i++) {
                durable[(int) sector + i] = generation;
                later.get((int) sector + i).clear();
            }
        }

        /** A FLUSH completed: every write acknowledged before it is durable. */
        synchronized void flushed() {
            for (int i = 0; i < durable.length; i++) {
                List<Integer> l = later.get(i);
                if (!l.isEmpty()) {
                    durable[i] = l.getLast();
                    l.clear();
                }
            }
        }

        /** Null when {@code data} (the whole view) fits the model, else what is wrong. */
        String check(String view, MemorySegment data) {
            int[] gens = Pattern.sectorGenerations(data, 0);
            for (int s = 0; s < gens.length; s++) {
                if (gens[s] != durable[s] && !later.get(s).contains(gens[s])) {
                    return view + " sector " + s + " holds " + Pattern.describe(gens[s]) + " (expected: generation "
                            + durable[s] + (later.get(s).isEmpty() ? "" : " or one of " + later.get(s)) + ")";
                }
            }
            return null;
        }
    }

    /** A captured crash: both disks and both models at that instant. */
    private record CrashPoint(int index, long seed, DiskImage origin, DiskImage cow, ViewModel originModel,
            ViewModel snapModel) {}

    /** Passes bios to a crash-simulating store, capturing a crash before every {@code stride}-th write. */
    private static final class Capturing extends ForwardingDevice {
        Runnable beforeWrite = () -> { };

        Capturing(CrashSimulatingStore lower) {
            super(lower);
        }

        @Override
        public void submitBio(Bio bio) {
            if (bio.op().isWrite()) {
                beforeWrite.run();
            }
            lower().submitBio(bio);
        }
    }

    private static final class Harness {
        final long seed;
        final CrashSimulatingStore realStore = new CrashSimulatingStore("real", SECTORS * 512L);
        final CrashSimulatingStore cowStore = new CrashSimulatingStore("cow", COW_BYTES);
        final Capturing real = new Capturing(realStore);
        final Capturing cow = new Capturing(cowStore);
        final ViewModel originModel = new ViewModel(SECTORS, 1);
        final ViewModel snapModel = new ViewModel(SECTORS, 1);
        final BlockingQueue<CrashPoint> queue = new ArrayBlockingQueue<>(4);
        final AtomicInteger writes = new AtomicInteger();
        final AtomicInteger points = new AtomicInteger();
        int stride = 1;
        volatile boolean capturing;

        Harness(long seed) {
            this.seed = seed;
            Runnable capture = this::maybeCapture;
            real.beforeWrite = capture;
            cow.beforeWrite = capture;
        }

        private synchronized void maybeCapture() {
            if (!capturing || writes.incrementAndGet() % stride != 0) {
                return;
            }
            int index = points.getAndIncrement();
            ViewModel o = originModel.copy();
            ViewModel s = snapModel.copy();
            for (int k = 0; k < SEEDS_PER_POINT; k++) {
                long pointSeed = seed * 1_000_003L + index * 7L + k;
                // Both disks lose power at the same instant; each loses its own volatile writes.
                CrashPoint p = new CrashPoint(index, pointSeed, realStore.crashImage(pointSeed),
                        cowStore.crashImage(pointSeed ^ 0x5DEECE66DL), o, s);
                try {
                    queue.put(p);
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
            }
        }
    }

    private static final CrashPoint DONE = new CrashPoint(-1, 0, null, null, null, null);

    @Test
    @Timeout(300)
    void afterACrashAtAnyPointDurableWritesAreIntactAndTheSnapshotShowsNothingNewer() throws Exception {
        long seed = Long.getLong(RandomIo.SEED_PROPERTY, RandomIo.newSeed());
        System.out.println("SnapshotCrashTest seed " + seed + " (replay with -D" + RandomIo.SEED_PROPERTY + "=" + seed + ")");
        Harness h = new Harness(seed);
        h.stride = 2;
        ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
        AtomicInteger verified = new AtomicInteger();
        Thread verifier = Thread.ofPlatform().name("crash-verifier").start(() -> {
            try {
                CrashPoint p;
                while ((p = h.queue.take()) != DONE) {
                    String problem = verifySnapshotPoint(p);
                    if (problem != null) {
                        failures.add("crash point " + p.index() + " (seed " + p.seed() + "): " + problem);
                    }
                    verified.incrementAndGet();
                }
            } catch (Throwable t) {
                failures.add("verifier: " + t);
            }
        });

        try (SnapStack stack = new SnapStack(SubmitPolicy.FLUSH_ON_BLOCK)) {
            Io.writeOk(stack.submitter, h.realStore, 0, Pattern.segment(0, SECTORS * 512, 1));
            assertThat(Io.flush(stack.submitter, h.realStore)).isEqualTo(BioStatus.OK);
            stack.leaf("real", h.real);
            stack.leaf("cow", h.cow);
            MappedDevice origin = stack.create("origin", "0 " + SECTORS + " snapshot-origin real");
            stack.dm.suspend("origin", SuspendMode.FLUSH);
            MappedDevice snap = stack.create("snap", "0 " + SECTORS + " snapshot real cow P " + CHUNK);
            assertThat(Io.flush(stack.submitter, snap)).isEqualTo(BioStatus.OK); // the new COW's header is durable
            stack.dm.resume("origin");
            h.capturing = true;

            runWorkload(stack, h, origin, snap, new SplittableRandom(seed), 220, 2);
            h.capturing = false;
        } finally {
            h.queue.put(DONE);
            verifier.join(240_000);
        }
        System.out.println("SnapshotCrashTest: " + verified.get() + " crash images verified ("
                + h.points.get() + " crash points x " + SEEDS_PER_POINT + " ways to lose the cache) over "
                + h.writes.get() + " disk writes");
        assertThat(verifier.isAlive()).isFalse();
        assertThat(failures).as("seed %d", seed).isEmpty();
        assertThat(verified.get()).isGreaterThanOrEqualTo(300);
    }

    /** Random writes (some FUA) to both views and flushes of both; every acknowledgement updates the models. */
    private static void runWorkload(SnapStack stack, Harness h, MappedDevice origin, MappedDevice snap,
            SplittableRandom random, int ops, int firstGeneration) {
        int generation = firstGeneration;
        for (int i = 0; i < ops; i++) {
            int kind = random.nextInt(20);
            if (kind < 2) {
                assertThat(Io.flush(stack.submitter, origin)).isEqualTo(BioStatus.OK);
                h.originModel.flushed();
                continue;
            }
            if (kind < 4) {
                assertThat(Io.flush(stack.submitter, snap)).isEqualTo(BioStatus.OK);
                h.snapModel.flushed();
                continue;
            }
            boolean toSnap = kind >= 12;
            int sectors = 1 + random.nextInt(16);
            long sector = random.nextLong(SECTORS - sectors + 1);
            boolean fua = random.nextInt(5) == 0;
            int g = generation++;
            ViewModel model = toSnap ? h.snapModel : h.originModel;
            model.writing(sector, sectors, g);
            BioStatus st = Io.write(stack.submitter, toSnap ? snap : origin, sector,
                    Pattern.segment(sector * 512, sectors * 512, g), fua ? BioFlags.FUA : 0);
            assertThat(st).isEqualTo(BioStatus.OK);
            if (fua) {
                model.fuaDone(sector, sectors, g);
            }
        }
    }

    /** Reopens a crash point's disks in a fresh stack and checks both views against their models. */
    private static String verifySnapshotPoint(CrashPoint p) throws Exception {
        try (SnapStack stack = new SnapStack(SubmitPolicy.FLUSH_ON_BLOCK)) {
            stack.leaf("real", p.origin().open("real"));
            stack.leaf("cow", p.cow().open("cow"));
            MappedDevice origin = stack.create("origin", "0 " + SECTORS + " snapshot-origin real");
            MappedDevice snap = stack.create("snap", "0 " + SECTORS + " snapshot real cow P " + CHUNK);
            String info = stack.info("snap");
            if (!info.matches(".* \\d+/\\d+ \\d+")) {
                return "snapshot not valid after the crash: " + info;
            }
            String problem = p.snapModel().check("snapshot", Io.readOk(stack.submitter, snap, 0, SECTORS * 512));
            if (problem == null) {
                problem = p.originModel().check("origin", Io.readOk(stack.submitter, origin, 0, SECTORS * 512));
            }
            return problem;
        }
    }

    @Test
    @Timeout(300)
    void aMergeInterruptedByACrashFinishesAfterTheRestart() throws Exception {
        long seed = Long.getLong(RandomIo.SEED_PROPERTY, RandomIo.newSeed());
        System.out.println("SnapshotCrashTest merge seed " + seed);
        Harness h = new Harness(seed);
        h.stride = 1;
        ConcurrentLinkedQueue<String> failures = new ConcurrentLinkedQueue<>();
        AtomicInteger verified = new AtomicInteger();
        int[] expected = new int[SECTORS];
        Thread verifier = Thread.ofPlatform().name("crash-verifier").start(() -> {
            try {
                CrashPoint p;
                while ((p = h.queue.take()) != DONE) {
                    String problem = verifyMergePoint(p, expected);
                    if (problem != null) {
                        failures.add("crash point " + p.index() + " (seed " + p.seed() + "): " + problem);
                    }
                    verified.incrementAndGet();
                }
            } catch (Throwable t) {
                failures.add("verifier: " + t);
            }
        });

        try (SnapStack stack = new SnapStack(SubmitPolicy.FLUSH_ON_BLOCK)) {
            Io.writeOk(stack.submitter, h.realStore, 0, Pattern.segment(0, SECTORS * 512, 1));
            assertThat(Io.flush(stack.submitter, h.realStore)).isEqualTo(BioStatus.OK);
            stack.leaf("real", h.real);
            stack.leaf("cow", h.cow);
            MappedDevice origin = stack.create("origin", "0 " + SECTORS + " snapshot-origin real");
            MappedDevice snap = stack.create("snap", "0 " + SECTORS + " snapshot real cow P " + CHUNK);
            runWorkload(stack, h, origin, snap, new SplittableRandom(seed), 120, 2);
            assertThat(Io.flush(stack.submitter, snap)).isEqualTo(BioStatus.OK);
            assertThat(Io.flush(stack.submitter, origin)).isEqualTo(BioStatus.OK);
            int[] view = Pattern.sectorGenerations(Io.readOk(stack.submitter, snap, 0, SECTORS * 512), 0);
            System.arraycopy(view, 0, expected, 0, SECTORS);
            long exceptions = stack.snapshot("snap").completedExceptions();
            assertThat(exceptions).isGreaterThan(10);

            stack.dm.remove("snap", false);
            stack.dm.suspend("origin", SuspendMode.FLUSH);
            stack.dm.load("origin", "0 " + SECTORS + " snapshot-merge real cow P " + CHUNK);
            h.capturing = true;
            stack.dm.resume("origin");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (stack.snapshot("origin").isMergeRunning() && System.nanoTime() < deadline) {
                Thread.sleep(2);
            }
            h.capturing = false;
            assertThat(stack.snapshot("origin").isMergeRunning()).isFalse();
            assertThat(Pattern.sectorGenerations(Io.readOk(stack.submitter, h.realStore, 0, SECTORS * 512), 0))
                    .containsExactly(expected);
        } finally {
            h.queue.put(DONE);
            verifier.join(240_000);
        }
        System.out.println("SnapshotCrashTest merge: " + verified.get() + " crash images verified (" + h.points.get()
                + " crash points during the merge x " + SEEDS_PER_POINT + ")");
        assertThat(verifier.isAlive()).isFalse();
        assertThat(failures).as("seed %d", seed).isEmpty();
        assertThat(verified.get()).isGreaterThanOrEqualTo(20);
    }

    /** Restarts the merge on a crash point's disks, lets it finish and compares the origin with the snapshot's view. */
    private static String verifyMergePoint(CrashPoint p, int[] expected) throws Exception {
        try (SnapStack stack = new SnapStack(SubmitPolicy.FLUSH_ON_BLOCK)) {
            CrashSimulatingStore real = p.origin().open("real");
            stack.leaf("real", real);
            stack.leaf("cow", p.cow().open("cow"));
            MappedDevice origin = stack.create("origin", "0 " + SECTORS + " snapshot-merge real cow P " + CHUNK);
            int[] during = Pattern.sectorGenerations(Io.readOk(stack.submitter, origin, 0, SECTORS * 512), 0);
            if (!Arrays.equals(during, expected)) {
                return "the restarted merge target does not show the snapshot's view: " + firstDifference(during, expected);
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (stack.snapshot("origin").isMergeRunning() && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            if (stack.snapshot("origin").isMergeRunning() || stack.snapshot("origin").isMergeFailed()) {
                return "merge did not finish: " + stack.info("origin");
            }
            String info = stack.info("origin");
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\d+)/\\d+ (\\d+)$").matcher(info);
            if (!m.find() || !m.group(1).equals(m.group(2))) {
                return "merge status not finished: " + info;
            }
            int[] after = Pattern.sectorGenerations(Io.readOk(stack.submitter, real, 0, SECTORS * 512), 0);
            if (!Arrays.equals(after, expected)) {
                return "after the merge the origin is not the snapshot's view: " + firstDifference(after, expected);
            }
            return null;
        }
    }

    private static String firstDifference(int[] actual, int[] expected) {
        for (int i = 0; i < actual.length; i++) {
            if (actual[i] != expected[i]) {
                return "sector " + i + ": " + Pattern.describe(actual[i]) + " (expected: " + Pattern.describe(expected[i]) + ")";
            }
        }
        return "none";
    }
}
