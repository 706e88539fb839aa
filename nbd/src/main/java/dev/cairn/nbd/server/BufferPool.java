package dev.cairn.nbd.server;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Direct, 4096-aligned I/O buffers in power-of-two size classes from 4 KiB to 32 MiB, shared by every
 * connection of a server. A buffer is the memory a bio's data segment and the socket read or write use
 * directly, so a payload is never copied between them. Freed buffers are kept for reuse up to
 * {@code maxRetainedBytes}; beyond that, and after {@link #close}, they are left to the garbage collector.
 *
 * <p><b>Why {@link ByteBuffer#allocateDirect} and not an arena.</b> The socket sees a buffer's NIO view. A
 * view made from a {@link MemorySegment} ({@code segment.asByteBuffer()}) carries the segment's memory
 * session, whatever the arena ({@code ofAuto}, {@code ofShared} or {@code global}), and for every such
 * buffer in a gathering write the JDK acquires the session and allocates a releaser
 * ({@code sun.nio.ch.IOUtil.write}, JDK 25): 40 bytes per reply measured, plus an atomic update of the
 * session count for the shared kinds. A plain direct buffer has no session, so reads and writes on it
 * allocate nothing; the bio gets a segment view of the same memory ({@link MemorySegment#ofBuffer}). The
 * memory is freed by the garbage collector, never explicitly: a buffer a hung device still holds after a
 * forced close stays valid, where an arena closed with the server would have to wait for it or fail.
 *
 * <p>Thread safety: all methods may be called from any thread; each class is a lock-free stack, the
 * counters are atomic and {@link #close} is a volatile flag (a buffer released concurrently with it may be
 * retained; the free lists are emptied again when that happens after close).
 */
final class BufferPool {
    static final int MIN_SHIFT = 12;
    static final int MAX_SHIFT = 25;
    static final int MAX_BYTES = 1 << MAX_SHIFT;
    static final int ALIGNMENT_BYTES = 4096;

    /** One pooled buffer: the segment a bio uses and the NIO view of the same memory. */
    static final class Buffer {
        final MemorySegment segment;
        final ByteBuffer bytes;
        final int sizeClass;

        Buffer(ByteBuffer bytes, int sizeClass) {
            this.bytes = bytes;
            this.segment = MemorySegment.ofBuffer(bytes);
            this.sizeClass = sizeClass;
        }

        /** The first {@code lengthBytes} as a segment (for a bio). */
        MemorySegment segment(int lengthBytes) {
            return segment.asSlice(0, lengthBytes);
        }

        /** The NIO view reset to {@code [0, lengthBytes)}. */
        ByteBuffer bytes(int lengthBytes) {
            return bytes.clear().limit(lengthBytes);
        }
    }

    private final long maxRetainedBytes;
    @SuppressWarnings({"unchecked", "rawtypes"}) // a generic array; every element is made below as a deque of Buffer
    private final ConcurrentLinkedDeque<Buffer>[] free = new ConcurrentLinkedDeque[MAX_SHIFT - MIN_SHIFT + 1];
    private final AtomicLong retainedBytes = new AtomicLong();
    private final AtomicLong outstanding = new AtomicLong();
    private final AtomicLong allocations = new AtomicLong();
    private volatile boolean closed;

    BufferPool(long maxRetainedBytes) {
        this.maxRetainedBytes = maxRetainedBytes;
        for (int i = 0; i < free.length; i++) {
            free[i] = new ConcurrentLinkedDeque<>();
        }
    }

    /** A buffer of at least {@code lengthBytes} (1..32 MiB); still served after {@link #close}, unpooled. */
    Buffer acquire(int lengthBytes) {
        if (lengthBytes <= 0 || lengthBytes > MAX_BYTES) {
            throw new IllegalArgumentException("lengthBytes: " + lengthBytes + " (expected: in [1, " + MAX_BYTES + "])");
        }
        int shift = Math.max(MIN_SHIFT, 32 - Integer.numberOfLeadingZeros(lengthBytes - 1));
        int sizeClass = shift - MIN_SHIFT;
        outstanding.incrementAndGet();
        Buffer b = free[sizeClass].pollFirst();
        if (b != null) {
            retainedBytes.addAndGet(-(1L << shift));
            return b;
        }
        allocations.incrementAndGet();
        int size = 1 << shift;
        // alignedSlice skips up to ALIGNMENT_BYTES - 1 bytes at the start; slice trims the tail, so the
        // view's capacity is exactly the class size (bytes() relies on it).
        ByteBuffer aligned = ByteBuffer.allocateDirect(size + ALIGNMENT_BYTES - 1).alignedSlice(ALIGNMENT_BYTES)
                .slice(0, size);
        return new Buffer(aligned, sizeClass);
    }

    /** Returns {@code b}; the caller must not touch it afterwards. */
    void release(Buffer b) {
        outstanding.decrementAndGet();
        if (closed) {
            return;
        }
        long size = 1L << (b.sizeClass + MIN_SHIFT);
        if (retainedBytes.addAndGet(size) <= maxRetainedBytes) {
            free[b.sizeClass].offerFirst(b);
            if (closed) {
                dropRetained(); // close ran between the check above and the offer
            }
        } else {
            retainedBytes.addAndGet(-size);
        }
    }

    /**
     * Stops retaining: idle buffers are dropped (their memory goes back when the collector finds them
     * unreachable) and later releases keep nothing. Buffers still out stay valid. The server calls this
     * after its connections have ended. Idempotent.
     */
    void close() {
        closed = true;
        dropRetained();
    }

    private void dropRetained() {
        for (ConcurrentLinkedDeque<Buffer> list : free) {
            Buffer b;
            while ((b = list.pollFirst()) != null) {
                retainedBytes.addAndGet(-(1L << (b.sizeClass + MIN_SHIFT)));
            }
        }
    }

    /** Buffers acquired and not yet released (a leak check for tests). */
    long outstanding() {
        return outstanding.get();
    }

    /** Buffers made so far (the rest were reused). */
    long allocations() {
        return allocations.get();
    }

    /** Bytes of idle buffers kept for reuse. */
    long retainedBytes() {
        return retainedBytes.get();
    }
}
