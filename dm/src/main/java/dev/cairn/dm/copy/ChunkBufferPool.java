package dev.cairn.dm.copy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A bounded pool of native copy buffers of one size, for one {@link CopyEngine} (the role of the
 * pages kcopyd reserves per client). Buffers come from one shared arena, made lazily up to
 * {@code capacity}; the arena is closed by {@link #close} once every buffer is back.
 *
 * <h2>Implementation notes</h2>
 * <b>Native, page-aligned.</b> A heap buffer costs a fresh {@code byte[]} per copy and goes
 * through FileStore's bounce buffer on both the read and the write; a native one is handed to
 * {@code preadv}/{@code pwritev} as it is (and is aligned for {@code O_DIRECT}).
 *
 * <p><b>Never waits.</b> {@link #take} does not block when the pool is empty: it makes one more
 * buffer beyond the bound, in an arena of its own that {@link #release} closes, and counts it
 * ({@link #extraAllocations}). Waiting would be a deadlock, not back-pressure: the only taker is
 * the engine's worker, and the only thread that gives a buffer back while the worker runs is the
 * worker itself (in {@code finish}), so a worker parked here could never be woken; no
 * flush-on-block rescue helps, because what is missing is a buffer, not a parked bio. The bound is
 * kept by the engine instead: it takes a buffer only for a job it starts while fewer than
 * {@code maxJobsInFlight} (= {@code capacity}) jobs are active, and every active job holds at most
 * one, so the pool is never empty when asked. The extra path is a guard against a future caller
 * breaking that rule, and tests assert it stays unused.
 *
 * <p><b>Exactly once.</b> Each {@link Buffer} carries an out/in flag: a second {@link #release}
 * of the same buffer throws instead of putting it in the free list twice.
 *
 * <p><b>Closing.</b> {@link #close} refuses further {@link #take}s and frees the arena at once if
 * no buffer is out, otherwise when the last one comes back (a bio still in flight may be reading
 * or writing it). A buffer held by a bio that never completes (a torn-down stack) keeps the arena
 * alive: at most {@code capacity} buffers, rather than native memory freed under a live I/O.
 *
 * <p>Thread safety: all methods may be called from any thread (lock-free; in practice
 * {@link #take} runs on the engine's worker and {@link #release} on the worker, or on a completing
 * bio's thread after the worker stopped).
 */
final class ChunkBufferPool implements AutoCloseable {
    /** Page alignment: what O_DIRECT asks of a buffer's address. */
    static final long ALIGN_BYTES = 4096;

    /** One buffer of the pool; {@link #segment()} is valid until it is released. */
    static final class Buffer {
        private final MemorySegment segment;
        /** Non-null for a buffer made beyond the bound: freed on release. */
        private final Arena own;
        private final AtomicBoolean out = new AtomicBoolean();

        private Buffer(MemorySegment segment, Arena own) {
            this.segment = segment;
            this.own = own;
        }

        MemorySegment segment() {
            return segment;
        }
    }

    private final String name;
    private final long bufferBytes;
    private final int capacity;
    private final Arena arena = Arena.ofShared();
    private final ConcurrentLinkedQueue<Buffer> free = new ConcurrentLinkedQueue<>();
    /** Pooled buffers made so far (at most capacity). */
    private final AtomicInteger created = new AtomicInteger();
    /** Buffers out now, pooled and extra. */
    private final AtomicInteger outstanding = new AtomicInteger();
    private final AtomicInteger maxOutstanding = new AtomicInteger();
    private final AtomicLong extraAllocations = new AtomicLong();
    private final AtomicLong takes = new AtomicLong();
    private final AtomicBoolean arenaClosed = new AtomicBoolean();
    private volatile boolean closing;

    ChunkBufferPool(String name, long bufferBytes, int capacity) {
        if (bufferBytes <= 0 || bufferBytes % 512 != 0) {
            throw new IllegalArgumentException("bufferBytes: " + bufferBytes + " (expected: a positive multiple of 512)");
        }
        if (capacity < 1) {
            throw new IllegalArgumentException("capacity: " + capacity + " (expected: >= 1)");
        }
        this.name = name;
        this.bufferBytes = bufferBytes;
        this.capacity = capacity;
    }

    /** A buffer of {@link #bufferBytes} bytes (contents undefined); never blocks, see the class comment. */
    Buffer take() {
        if (closing) {
            throw new IllegalStateException("buffer pool " + name + " is closed");
        }
        Buffer b = free.poll();
        if (b == null) {
            b = make();
        }
        if (!b.out.compareAndSet(false, true)) {
            throw new AssertionError("buffer pool " + name + ": a free buffer was out");
        }
        int n = outstanding.incrementAndGet();
        maxOutstanding.accumulateAndGet(n, Math::max);
        takes.incrementAndGet();
        return b;
    }

    // An extra buffer's arena goes with it: Buffer closes it when the buffer is given back.
    @SuppressWarnings("MustBeClosedChecker")
    private Buffer make() {
        while (true) {
            int c = created.get();
            if (c >= capacity) {
                extraAllocations.incrementAndGet();
                Arena own = Arena.ofShared();
                return new Buffer(own.allocate(bufferBytes, ALIGN_BYTES), own);
            }
            if (created.compareAndSet(c, c + 1)) {
                return new Buffer(arena.allocate(bufferBytes, ALIGN_BYTES), null);
            }
        }
    }

    /** Gives {@code b} back; exactly once per {@link #take}. */
    void release(Buffer b) {
        if (!b.out.compareAndSet(true, false)) {
            throw new IllegalStateException("buffer pool " + name + ": buffer released twice (or not taken)");
        }
        if (b.own != null) {
            b.own.close();
        } else {
            free.offer(b);
        }
        // happens-before: close() sets closing before reading outstanding; one of the two sees zero and closing.
        if (outstanding.decrementAndGet() == 0 && closing) {
            closeArena();
        }
    }

    /** Refuses further takes; frees the arena now, or when the last buffer out comes back. Idempotent. */
    @Override
    public void close() {
        closing = true;
        if (outstanding.get() == 0) {
            closeArena();
        }
    }

    private void closeArena() {
        if (arenaClosed.compareAndSet(false, true)) {
            free.clear();
            arena.close();
        }
    }

    long bufferBytes() {
        return bufferBytes;
    }

    int capacity() {
        return capacity;
    }

    /** Pooled buffers made so far; never above {@link #capacity}. */
    int created() {
        return created.get();
    }

    /** Buffers taken and not released yet. */
    int outstanding() {
        return outstanding.get();
    }

    /** The most buffers ever out at once. */
    int maxOutstanding() {
        return maxOutstanding.get();
    }

    /** Buffers made beyond the bound because the pool was empty (0 while the engine keeps its rule). */
    long extraAllocations() {
        return extraAllocations.get();
    }

    long takes() {
        return takes.get();
    }

    boolean isArenaClosed() {
        return arenaClosed.get();
    }

    CopyEngine.BufferStats stats() {
        return new CopyEngine.BufferStats(bufferBytes(), capacity(), created(), outstanding(), maxOutstanding(),
                takes(), extraAllocations(), isArenaClosed());
    }

    @Override
    public String toString() {
        return "ChunkBufferPool[" + name + ", " + bufferBytes + " B, " + outstanding.get() + " out, "
                + created.get() + "/" + capacity + " made" + (closing ? ", closed" : "") + "]";
    }
}
