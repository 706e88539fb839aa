package dev.cairn.nbd.server;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Direct, 4096-aligned I/O buffers in power-of-two size classes from 4 KiB to 32 MiB, shared by every
 * connection of a server. A buffer is the memory a bio's data segment and the socket read or write use
 * directly, so a payload is never copied between them. Freed buffers are kept for reuse up to
 * {@code maxRetainedBytes}; beyond that they are left to the garbage collector ({@link Arena#ofAuto()}).
 *
 * <p>Thread safety: all methods may be called from any thread; each class is a lock-free stack.
 */
final class BufferPool {
    static final int MIN_SHIFT = 12;
    static final int MAX_SHIFT = 25;
    static final int MAX_BYTES = 1 << MAX_SHIFT;

    /** One pooled buffer: the segment a bio uses and the NIO view of the same memory. */
    static final class Buffer {
        final MemorySegment segment;
        final ByteBuffer bytes;
        final int sizeClass;

        Buffer(MemorySegment segment, int sizeClass) {
            this.segment = segment;
            this.bytes = segment.asByteBuffer();
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
    @SuppressWarnings("unchecked")
    private final ConcurrentLinkedDeque<Buffer>[] free = new ConcurrentLinkedDeque[MAX_SHIFT - MIN_SHIFT + 1];
    private final AtomicLong retainedBytes = new AtomicLong();
    private final AtomicLong outstanding = new AtomicLong();
    private final AtomicLong allocations = new AtomicLong();

    BufferPool(long maxRetainedBytes) {
        this.maxRetainedBytes = maxRetainedBytes;
        for (int i = 0; i < free.length; i++) {
            free[i] = new ConcurrentLinkedDeque<>();
        }
    }

    /** A buffer of at least {@code lengthBytes} (1..32 MiB). */
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
        return new Buffer(Arena.ofAuto().allocate(1L << shift, 4096), sizeClass);
    }

    /** Returns {@code b}; the caller must not touch it afterwards. */
    void release(Buffer b) {
        outstanding.decrementAndGet();
        long size = 1L << (b.sizeClass + MIN_SHIFT);
        if (retainedBytes.addAndGet(size) <= maxRetainedBytes) {
            free[b.sizeClass].offerFirst(b);
        } else {
            retainedBytes.addAndGet(-size);
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
}
