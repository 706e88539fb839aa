package dev.cairn.bench.block;

import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * How to bind a thread's bio list for the duration of the outermost submit (the question the block
 * issue asks to measure): a ThreadLocal holding a reusable per-thread state object (what the
 * Submitter uses) against binding a ScopedValue around the call. Each op is one outermost submit
 * with {@code nested} nested lookups, as a stack of that depth does.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Thread)
public class ThreadContextBenchmark {
    static final class State0 {
        Object active;
        long work;
    }

    private static final ThreadLocal<State0> LOCAL = ThreadLocal.withInitial(State0::new);
    private static final ScopedValue<State0> SCOPED = ScopedValue.newInstance();
    private static final int NESTED = 4;

    @Benchmark
    public long threadLocal() {
        State0 s = LOCAL.get();
        s.active = this;
        try {
            for (int i = 0; i < NESTED; i++) {
                State0 n = LOCAL.get();
                n.work++;
            }
            return s.work;
        } finally {
            s.active = null;
        }
    }

    @Benchmark
    public long scopedValue() {
        State0 fresh = new State0();
        return ScopedValue.where(SCOPED, fresh).call(() -> {
            for (int i = 0; i < NESTED; i++) {
                State0 n = SCOPED.get();
                n.work++;
            }
            return fresh.work;
        });
    }
}
