package dev.cairn.bench.dm;

import dev.cairn.block.Bio;
import dev.cairn.block.BioEndIo;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioSet;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.IoCompletion;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.SubmitterConfig;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.dm.DeviceRegistry;
import dev.cairn.dm.DmException;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The cost of one device-mapper layer: random reads of {@code sizeKiB} through
 * <ul>
 *   <li>{@code memory}: a 64 MiB memory store alone (the baseline);</li>
 *   <li>{@code linear}: {@code 0 131072 linear m0 0} over that store;</li>
 *   <li>{@code striped4}: {@code 0 131072 striped 4 128 m0 0 m1 0 m2 0 m3 0} over four 16 MiB stores
 *       (64 KiB chunks, so a 64 KiB read usually splits in two).</li>
 * </ul>
 * Every store is filled first, so reads copy real data. The memory stores complete inline, so one
 * submit is one whole round trip: the difference to {@code memory} is dm's overhead (clone, per-bio
 * context, split, completion accounting). Run with {@code -prof gc} for bytes per bio.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class DmBenchmark {
    private static final BioEndIo DONE = bio -> { };
    private static final long CAPACITY_SECTORS = 131072; // 64 MiB

    @State(Scope.Benchmark)
    public static class Stack {
        @Param({"memory", "linear", "striped4"})
        public String device;

        @Param({"FLUSH_ON_BLOCK", "DEPTH_FIRST"})
        public String policy;

        @Param({"4", "64"})
        public int sizeKiB;

        Submitter submitter;
        DeviceRegistry dm;
        BlockDevice top;

        @Setup(Level.Trial)
        public void setUp() throws DmException {
            submitter = Submitter.create(SubmitterConfig.defaults().withName("bench")
                    .withPolicy(SubmitPolicy.valueOf(policy)).withWatchdog(null, r -> { }));
            dm = new DeviceRegistry(submitter);
            switch (device) {
                case "memory" -> top = filled(new MemoryStore("m0", CAPACITY_SECTORS << 9));
                case "linear" -> {
                    dm.addLeaf("m0", filled(new MemoryStore("m0", CAPACITY_SECTORS << 9)));
                    top = dm.create("lin", "0 " + CAPACITY_SECTORS + " linear m0 0");
                }
                case "striped4" -> {
                    for (int i = 0; i < 4; i++) {
                        dm.addLeaf("m" + i, filled(new MemoryStore("m" + i, CAPACITY_SECTORS << 9 >> 2)));
                    }
                    top = dm.create("st", "0 " + CAPACITY_SECTORS + " striped 4 128 m0 0 m1 0 m2 0 m3 0");
                }
                default -> throw new IllegalArgumentException("device: " + device + " (expected: memory, linear or striped4)");
            }
        }

        private MemoryStore filled(MemoryStore store) {
            MemorySegment chunk = MemorySegment.ofArray(new byte[1 << 20]);
            chunk.fill((byte) 0x5a);
            for (long s = 0; s < store.capacitySectors(); s += 2048) {
                Bio b = Bio.alloc().setDevice(store).setOp(BioOp.WRITE).setSector(s).setData(chunk);
                IoCompletion.submitAndWait(submitter, b);
            }
            return store;
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            dm.close();
            submitter.close();
        }
    }

    @State(Scope.Thread)
    public static class PerThread {
        BioSet set;
        MemorySegment buffer;

        @Setup(Level.Trial)
        public void setUp(Stack stack) {
            set = stack.submitter.newBioSet("bench-" + Thread.currentThread().threadId(), 16);
            buffer = MemorySegment.ofArray(new byte[stack.sizeKiB << 10]);
        }
    }

    @Benchmark
    @Threads(1)
    public void oneThread(Stack stack, PerThread t) {
        readOne(stack, t);
    }

    @Benchmark
    @Threads(2)
    public void twoThreads(Stack stack, PerThread t) {
        readOne(stack, t);
    }

    /** One random, 4 KiB-aligned read; the stores complete inline, so it is done when submit returns. */
    private static void readOne(Stack stack, PerThread t) {
        int sectors = stack.sizeKiB << 1;
        long sector = ThreadLocalRandom.current().nextLong((CAPACITY_SECTORS - sectors) >> 3) << 3;
        Bio bio = t.set.alloc();
        bio.setDevice(stack.top).setOp(BioOp.READ).setSector(sector).setData(t.buffer).setEndIo(DONE);
        stack.submitter.submit(bio);
    }
}
