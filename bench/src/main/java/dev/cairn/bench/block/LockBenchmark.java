package dev.cairn.bench.block;

import dev.cairn.block.IoMutex;
import dev.cairn.block.IoRwSemaphore;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Threads;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * Lock plus unlock of the block layer's primitives against the JDK locks they wrap: uncontended
 * (one thread) and contended (two threads on one lock, a tiny critical section). The goal is
 * uncontended within 1.2x of {@link ReentrantLock}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
@State(Scope.Benchmark)
public class LockBenchmark {
    Submitter submitter;
    IoMutex ioMutex;
    ReentrantLock reentrantLock;
    IoRwSemaphore ioRw;
    ReentrantReadWriteLock jdkRw;
    long counter;

    @Setup(Level.Trial)
    public void setUp() {
        submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
        ioMutex = new IoMutex(submitter, "bench");
        reentrantLock = new ReentrantLock();
        ioRw = new IoRwSemaphore(submitter, "bench");
        jdkRw = new ReentrantReadWriteLock();
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        submitter.close();
    }

    @Benchmark
    @Threads(1)
    public long ioMutexUncontended() {
        ioMutex.lock();
        try {
            return ++counter;
        } finally {
            ioMutex.unlock();
        }
    }

    @Benchmark
    @Threads(1)
    public long reentrantLockUncontended() {
        reentrantLock.lock();
        try {
            return ++counter;
        } finally {
            reentrantLock.unlock();
        }
    }

    @Benchmark
    @Threads(2)
    public long ioMutexContended() {
        ioMutex.lock();
        try {
            return ++counter;
        } finally {
            ioMutex.unlock();
        }
    }

    @Benchmark
    @Threads(2)
    public long reentrantLockContended() {
        reentrantLock.lock();
        try {
            return ++counter;
        } finally {
            reentrantLock.unlock();
        }
    }

    @Benchmark
    @Threads(1)
    public void ioRwReadUncontended(Blackhole bh) {
        ioRw.lockRead();
        try {
            bh.consume(counter);
        } finally {
            ioRw.unlockRead();
        }
    }

    @Benchmark
    @Threads(1)
    public void jdkRwReadUncontended(Blackhole bh) {
        jdkRw.readLock().lock();
        try {
            bh.consume(counter);
        } finally {
            jdkRw.readLock().unlock();
        }
    }

    @Benchmark
    @Threads(1)
    public long ioRwWriteUncontended() {
        ioRw.lockWrite();
        try {
            return ++counter;
        } finally {
            ioRw.unlockWrite();
        }
    }

    @Benchmark
    @Threads(1)
    public long jdkRwWriteUncontended() {
        jdkRw.writeLock().lock();
        try {
            return ++counter;
        } finally {
            jdkRw.writeLock().unlock();
        }
    }

    @Benchmark
    @Threads(2)
    public long ioRwWriteContended() {
        ioRw.lockWrite();
        try {
            return ++counter;
        } finally {
            ioRw.unlockWrite();
        }
    }

    @Benchmark
    @Threads(2)
    public long jdkRwWriteContended() {
        jdkRw.writeLock().lock();
        try {
            return ++counter;
        } finally {
            jdkRw.writeLock().unlock();
        }
    }
}
