package dev.cairn.dm;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.ModelDevice;
import dev.cairn.testkit.RandomIo;
import dev.cairn.testkit.StackBuilder;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Random I/O from one sector to 2 MiB across target boundaries and stripe chunks, under every
 * submission policy: the device must equal the model, and every sector must sit where an independent
 * re-implementation of the linear and striped mappings says it should on the leaves.
 */
class SplitTest {
    private static final int LEAF_BYTES = 8 << 20;

    /** The layout under test; each leaf range is used by exactly one target, so placement is unambiguous. */
    static final String TABLE = """
            0 1000 linear L0 0
            1000 24 linear L1 0
            1024 4096 striped 4 8 L0 1000 L1 24 L2 0 L3 0
            5120 6144 striped 3 16 L2 1024 L3 1024 L0 2024
            11264 1 linear L1 1048
            11265 4095 linear L3 3072
            """;
    static final long CAPACITY = 15360;

    /** Independent reference: where sector {@code s} of the device lives, as {leaf index, leaf sector}. */
    static long[] locate(long s) {
        if (s < 1000) {
            return new long[] {0, s};
        }
        if (s < 1024) {
            return new long[] {1, s - 1000};
        }
        if (s < 5120) {
            return striped(s - 1024, 8, new int[] {0, 1, 2, 3}, new long[] {1000, 24, 0, 0});
        }
        if (s < 11264) {
            return striped(s - 5120, 16, new int[] {2, 3, 0}, new long[] {1024, 1024, 2024});
        }
        if (s < 11265) {
            return new long[] {1, 1048};
        }
        return new long[] {3, 3072 + (s - 11265)};
    }

    private static long[] striped(long off, long chunk, int[] leaves, long[] offsets) {
        long c = off / chunk;
        int stripe = (int) (c % leaves.length);
        return new long[] {leaves[stripe], offsets[stripe] + (c / leaves.length) * chunk + off % chunk};
    }

    private static DeviceRegistry build(Submitter submitter, MemoryStore[] leaves) throws DmException {
        DeviceRegistry dm = new DeviceRegistry(submitter);
        for (int i = 0; i < leaves.length; i++) {
            leaves[i] = new MemoryStore("L" + i, LEAF_BYTES);
            dm.addLeaf("L" + i, leaves[i]);
        }
        dm.create("split", TABLE);
        return dm;
    }

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    void randomIoAcrossBoundariesMatchesTheModelAndThePlacement(SubmitPolicy policy) throws Exception {
        try (StackBuilder stack = StackBuilder.create(policy)) {
            MemoryStore[] leaves = new MemoryStore[4];
            try (DeviceRegistry dm = build(stack.submitter(), leaves)) {
                MappedDevice md = dm.device("split");
                assertThat(md.capacitySectors()).isEqualTo(CAPACITY);
                ModelDevice model = new ModelDevice(CAPACITY * 512);
                RandomIo io = RandomIo.create(RandomIo.newSeed(), 0, CAPACITY).withMaxSectors(4096);
                io.run(stack.submitter(), md, model, 1500);
                model.assertMatches(stack.submitter(), md);
                checkPlacement(stack.submitter(), md, leaves, io.seed());
            }
        }
    }

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    void concurrentRandomIoFromFourThreads(SubmitPolicy policy) throws Exception {
        try (StackBuilder stack = StackBuilder.create(policy)) {
            MemoryStore[] leaves = new MemoryStore[4];
            try (DeviceRegistry dm = build(stack.submitter(), leaves)) {
                MappedDevice md = dm.device("split");
                ModelDevice model = new ModelDevice(CAPACITY * 512);
                long seed = RandomIo.newSeed();
                ExecutorService pool = Executors.newFixedThreadPool(4);
                try {
                    List<Future<?>> futures = new ArrayList<>();
                    long quarter = CAPACITY / 4;
                    for (int t = 0; t < 4; t++) {
                        RandomIo io = RandomIo.create(seed + t, t * quarter, quarter).withMaxSectors(2048);
                        futures.add(pool.submit(() -> io.run(stack.submitter(), md, model, 400)));
                    }
                    for (Future<?> f : futures) {
                        f.get();
                    }
                } finally {
                    pool.shutdownNow();
                }
                model.assertMatches(stack.submitter(), md);
                checkPlacement(stack.submitter(), md, leaves, seed);
            }
        }
    }

    /** Every sector read through the device equals the sector at its reference location on the leaves. */
    private static void checkPlacement(Submitter submitter, MappedDevice md, MemoryStore[] leaves, long seed) {
        MemorySegment all = Io.readOk(submitter, md, 0, (int) (CAPACITY * 512));
        SplittableRandom r = new SplittableRandom(seed);
        for (long s = 0; s < CAPACITY; s += 1 + r.nextInt(3)) {
            long[] at = locate(s);
            MemorySegment leaf = Io.readOk(submitter, leaves[(int) at[0]], at[1], 512);
            long mismatch = all.asSlice(s * 512, 512).mismatch(leaf);
            assertThat(mismatch).as("sector %d (expected on L%d sector %d), seed %d", s, at[0], at[1], seed).isEqualTo(-1);
        }
    }
}
