package dev.cairn.bench.block;

import dev.cairn.block.Bio;
import dev.cairn.block.BioEndIo;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioSet;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.SubmitterConfig;
import dev.cairn.block.Submitter;
import dev.cairn.block.store.NullDevice;
import java.lang.foreign.MemorySegment;
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
 * Submit-to-completion of one pooled 4 KiB read through a stack of {@code depth} remap layers over a
 * null leaf that completes inline: the whole cost of the submission path (pool, per-thread list,
 * checks at every hop, completion, return to the pool). Run with {@code -prof gc} for bytes per bio.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class SubmitBenchmark {
    private static final BioEndIo DONE = bio -> { };

    @State(Scope.Benchmark)
    public static class Stack {
        @Param({"FLUSH_ON_BLOCK", "LEGACY", "DEPTH_FIRST"})
        public String policy;

        @Param({"1", "2", "4", "8"})
        public int depth;

        Submitter submitter;
        BlockDevice top;

        @Setup(Level.Trial)
        public void setUp() {
            submitter = Submitter.create(SubmitterConfig.defaults().withName("bench")
                    .withPolicy(SubmitPolicy.valueOf(policy)).withWatchdog(null, r -> { }));
            top = RemapLayer.stack(submitter, new NullDevice("null", 1L << 40), depth);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            submitter.close();
        }
    }

    @State(Scope.Thread)
    public static class PerThread {
        BioSet set;
        MemorySegment page;

        @Setup(Level.Trial)
        public void setUp(Stack stack) {
            set = stack.submitter.newBioSet("bench-" + Thread.currentThread().threadId(), 16);
            page = MemorySegment.ofArray(new byte[4096]);
        }
    }

    @Benchmark
    @Threads(1)
    public void oneThread(Stack stack, PerThread t) {
        submitOne(stack, t);
    }

    @Benchmark
    @Threads(2)
    public void twoThreads(Stack stack, PerThread t) {
        submitOne(stack, t);
    }

    private static void submitOne(Stack stack, PerThread t) {
        Bio bio = t.set.alloc();
        bio.setDevice(stack.top).setOp(BioOp.READ).setSector(64).setData(t.page).setEndIo(DONE);
        stack.submitter.submit(bio);
    }
}
