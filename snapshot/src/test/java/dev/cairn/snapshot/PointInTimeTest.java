package dev.cairn.snapshot;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.SuspendMode;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.ModelDevice;
import dev.cairn.testkit.Pattern;
import dev.cairn.testkit.RandomIo;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Point-in-time correctness against a model: an origin with several snapshots taken at different
 * moments (different chunk sizes and store types), random writes to the origin and to each snapshot
 * in between. Each snapshot must always read as the origin did when it was taken plus its own
 * writes; snapshot writes never change the origin; and merging one snapshot leaves the origin
 * equal to that snapshot's view while the others keep theirs.
 */
class PointInTimeTest {
    private static final int SECTORS = 4096;
    private static final String[] SNAPSHOT_ARGS = {"P 8", "N 16", "PO 4", "P 32"};

    @ParameterizedTest
    @EnumSource(value = SubmitPolicy.class, names = {"FLUSH_ON_BLOCK", "DEPTH_FIRST"})
    @Timeout(120)
    void everySnapshotReadsAsTheOriginDidWhenItWasTaken(SubmitPolicy policy) throws Exception {
        long seed = Long.getLong(RandomIo.SEED_PROPERTY, RandomIo.newSeed());
        System.out.println("PointInTimeTest " + policy + " seed " + seed);
        SplittableRandom random = new SplittableRandom(seed);
        int generation = 1;
        try (SnapStack stack = new SnapStack(policy)) {
            MemoryStore real = new MemoryStore("real-store", SECTORS * 512L);
            Io.writeOk(stack.submitter, real, 0, Pattern.segment(0, SECTORS * 512, generation));
            stack.leaf("real", real);
            MappedDevice origin = stack.create("origin", "0 " + SECTORS + " snapshot-origin real");
            ModelDevice originModel = new ModelDevice(SECTORS * 512L);
            originModel.write(0, Pattern.segment(0, SECTORS * 512, generation));
            List<MappedDevice> snaps = new ArrayList<>();
            List<ModelDevice> models = new ArrayList<>();

            for (int round = 0; round < SNAPSHOT_ARGS.length + 2; round++) {
                if (round < SNAPSHOT_ARGS.length) {
                    stack.leaf("cow" + round, new MemoryStore("cow" + round, 3L << 20));
                    // Linux wants the origin suspended while a snapshot is loaded: no write may race the moment.
                    stack.dm.suspend("origin", SuspendMode.FLUSH);
                    snaps.add(stack.create("s" + round, "0 " + SECTORS + " snapshot real cow" + round + " " + SNAPSHOT_ARGS[round]));
                    stack.dm.resume("origin");
                    ModelDevice m = new ModelDevice(SECTORS * 512L);
                    m.write(0, Io.readOk(stack.submitter, real, 0, SECTORS * 512));
                    originModel.assertMatches(0, Io.readOk(stack.submitter, real, 0, SECTORS * 512));
                    models.add(m);
                }
                for (int i = 0; i < 120; i++) {
                    generation++;
                    int sectors = 1 + random.nextInt(24);
                    long sector = random.nextLong(SECTORS - sectors + 1);
                    MemorySegment data = Pattern.segment(sector * 512, sectors * 512, generation);
                    int target = random.nextInt(snaps.size() + 2); // origin twice as often
                    if (target >= snaps.size()) {
                        Io.writeOk(stack.submitter, origin, sector, data);
                        originModel.write(sector * 512, data);
                    } else {
                        Io.writeOk(stack.submitter, snaps.get(target), sector, data);
                        models.get(target).write(sector * 512, data);
                    }
                }
                originModel.assertMatches(stack.submitter, origin);
                for (int s = 0; s < snaps.size(); s++) {
                    models.get(s).assertMatches(stack.submitter, snaps.get(s));
                }
            }

            // Merge s0 into the origin; the others must keep their views.
            stack.dm.remove("s0", false);
            stack.dm.suspend("origin", SuspendMode.FLUSH);
            stack.dm.load("origin", "0 " + SECTORS + " snapshot-merge real cow0 P 8");
            stack.dm.resume("origin");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (stack.snapshot("origin").isMergeRunning() && System.nanoTime() < deadline) {
                models.get(0).assertMatches(stack.submitter, origin); // the origin shows s0's view throughout
                Thread.sleep(2);
            }
            assertThat(stack.snapshot("origin").isMergeRunning()).isFalse();
            assertThat(stack.snapshot("origin").isMergeFailed()).isFalse();
            models.get(0).assertMatches(stack.submitter, origin);
            models.get(0).assertMatches(stack.submitter, real);
            for (int s = 1; s < snaps.size(); s++) {
                models.get(s).assertMatches(stack.submitter, snaps.get(s));
            }
            assertThat(CowInspector.inspect(stack.submitter, stack.snapshot("origin").cow).exceptions()).isZero();
        }
    }
}
