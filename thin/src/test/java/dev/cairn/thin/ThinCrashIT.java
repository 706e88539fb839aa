package dev.cairn.thin;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.BioFlags;
import dev.cairn.block.BioStatus;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.SuspendMode;
import dev.cairn.testkit.CrashSimulatingStore;
import dev.cairn.testkit.DiskImage;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.Pattern;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;
import java.util.random.RandomGenerator;
import java.util.random.RandomGeneratorFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Crash consistency: a pool whose metadata and data devices are crash-simulating stores runs a random
 * workload (writes, FUA writes, flushes, snapshots, discards); at more than 1,000 points a possible
 * post-crash image of both devices is taken. Each must open as a pool, pass thin_check with no warning,
 * and show every write that was acknowledged as durable (each sector holds its durable data or data of
 * a later write, never anything else).
 */
class ThinCrashIT {
    private static final int BS = 128;
    private static final long THIN_SECTORS = 4L << 20 >> 9;
    private static final int CRASH_POINTS_PER_STEP = 4;
    private static final int STEPS = 260;

    @TempDir
    Path dir;

    /** Per device: the durable generation of each sector and the generations written since. */
    private static final class Model {
        final int[] current = new int[(int) THIN_SECTORS];
        final int[] durable = new int[(int) THIN_SECTORS];
        final List<Set<Integer>> since = new ArrayList<>();

        Model() {
            java.util.Arrays.fill(current, Pattern.ZEROS);
            java.util.Arrays.fill(durable, Pattern.ZEROS);
            for (int i = 0; i < THIN_SECTORS; i++) {
                since.add(null);
            }
        }

        Model copy() {
            Model m = new Model();
            System.arraycopy(current, 0, m.current, 0, current.length);
            System.arraycopy(current, 0, m.durable, 0, current.length);
            return m;
        }

        void write(long sector, int sectors, int gen, boolean fua) {
            for (int s = (int) sector; s < sector + sectors; s++) {
                current[s] = gen;
                if (fua) {
                    durable[s] = gen;
                }
                if (since.get(s) == null) {
                    since.set(s, new HashSet<>());
                }
                since.get(s).add(gen);
            }
        }

        void flushed() {
            System.arraycopy(current, 0, durable, 0, current.length);
            for (int i = 0; i < since.size(); i++) {
                since.set(i, null);
            }
        }

        void check(int[] got, String where) {
            for (int s = 0; s < got.length; s++) {
                if (got[s] == durable[s]) {
                    continue;
                }
                Set<Integer> later = since.get(s);
                if (later != null && later.contains(got[s])) {
                    continue;
                }
                throw new AssertionError(where + ": sector " + s + " holds " + Pattern.describe(got[s]) + " (expected: durable "
                        + Pattern.describe(durable[s]) + (later == null ? "" : " or one of " + later) + ")");
            }
        }
    }

    @Test
    void everyCrashPointOpensPassesThinCheckAndKeepsDurableWrites() throws Exception {
        long seed = 20261207;
        System.out.println("ThinCrashIT seed=" + seed);
        RandomGenerator rnd = RandomGeneratorFactory.of("L64X128MixRandom").create(seed);
        CrashSimulatingStore meta = new CrashSimulatingStore("meta", 4L << 20);
        CrashSimulatingStore data = new CrashSimulatingStore("data", 16L << 20);
        TreeMap<Integer, Model> models = new TreeMap<>();
        int crashPoints = 0;
        try (ThinStack stack = new ThinStack(SubmitPolicy.FLUSH_ON_BLOCK)) {
            stack.leaf("meta", meta);
            stack.leaf("data", data);
            stack.create("pool", "0 " + (16L << 20 >> 9) + " thin-pool meta data " + BS + " 0 1 error_if_no_space");
            stack.message("pool", "create_thin", "1");
            TreeMap<Integer, MappedDevice> devs = new TreeMap<>();
            devs.put(1, stack.create("t1", "0 " + THIN_SECTORS + " thin pool 1"));
            models.put(1, new Model());
            int gen = 1;
            for (int step = 0; step < STEPS; step++) {
                int id = new ArrayList<>(devs.keySet()).get(rnd.nextInt(devs.size()));
                MappedDevice d = devs.get(id);
                Model m = models.get(id);
                int kind = rnd.nextInt(100);
                if (kind < 70) {
                    long sector = rnd.nextLong(THIN_SECTORS - 256) & ~7L;
                    int sectors = 8 * (1 + rnd.nextInt(32));
                    boolean fua = rnd.nextInt(6) == 0;
                    int g = gen++;
                    BioStatus s = Io.write(stack.submitter, d, sector, Pattern.segment(sector * 512, sectors * 512, g),
                            fua ? BioFlags.FUA : 0);
                    if (s == BioStatus.NOSPC) {
                        continue;
                    }
                    assertThat(s).isEqualTo(BioStatus.OK);
                    m.write(sector, sectors, g, fua);
                } else if (kind < 85) {
                    assertThat(Io.flush(stack.submitter, d)).isEqualTo(BioStatus.OK);
                    m.flushed();
                } else if (kind < 93) {
                    long first = rnd.nextLong(THIN_SECTORS / BS - 2) * BS;
                    assertThat(Io.discard(stack.submitter, d, first, BS)).isEqualTo(BioStatus.OK);
                    m.write(first, BS, Pattern.ZEROS, false);
                } else if (devs.size() < 4) {
                    // A snapshot: suspend the origin, create_snap commits (data flushed first).
                    int snap = devs.lastKey() + 1;
                    stack.dm.suspend("t" + id, SuspendMode.FLUSH);
                    stack.message("pool", "create_snap", Integer.toString(snap), Integer.toString(id));
                    stack.dm.resume("t" + id);
                    m.flushed();
                    for (Model other : models.values()) {
                        other.flushed(); // the commit flushed the data device: everything acknowledged is durable
                    }
                    models.put(snap, m.copy());
                    devs.put(snap, stack.create("t" + snap, "0 " + THIN_SECTORS + " thin pool " + snap));
                }
                for (int c = 0; c < CRASH_POINTS_PER_STEP; c++) {
                    long crashSeed = seed * 1_000_003L + step * 31L + c;
                    checkCrash(meta.crashImage(crashSeed), data.crashImage(crashSeed ^ 0x5DEECE66DL), models,
                            "step " + step + " crash " + c);
                    crashPoints++;
                }
            }
        }
        assertThat(crashPoints).isGreaterThanOrEqualTo(1000);
    }

    private void checkCrash(DiskImage metaImage, DiskImage dataImage, TreeMap<Integer, Model> models, String where)
            throws Exception {
        Path file = dir.resolve("crash-meta.bin");
        Files.write(file, metaImage.bytes(0, (int) metaImage.capacityBytes()));
        ThinTools.assertCheckClean(file);
        try (ThinStack after = new ThinStack(SubmitPolicy.FLUSH_ON_BLOCK)) {
            after.leaf("meta", metaImage.open("meta"));
            after.leaf("data", dataImage.open("data"));
            after.create("pool", "0 " + (16L << 20 >> 9) + " thin-pool meta data " + BS + " 0 1 error_if_no_space");
            List<Long> ids = after.pool("pool").withMetadata(ThinMetadata::deviceIds);
            for (var e : models.entrySet()) {
                if (!ids.contains((long) e.getKey())) {
                    throw new AssertionError(where + ": device " + e.getKey() + " is missing after the crash: " + ids);
                }
                MappedDevice d = after.create("t" + e.getKey(), "0 " + THIN_SECTORS + " thin pool " + e.getKey());
                MemorySegment all = Io.readOk(after.submitter, d, 0, (int) (THIN_SECTORS * 512));
                e.getValue().check(Pattern.sectorGenerations(all, 0), where + " device " + e.getKey());
            }
        }
    }
}
