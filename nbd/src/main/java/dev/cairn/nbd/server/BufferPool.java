package dev.cairn.nbd.server;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Direct, 4096-aligned I/O buffers in power-of-two size classes from 4 KiB to 32 MiB, shared by every
 * connection of a server, and the server-wide budget for the memory they hold on behalf of clients. A buffer
 * is the memory a bio's data segment and the socket read or write use directly, so a payload is never copied
 * between them.
 *
 * <p><b>The budget.</b> At most {@code maxHeldBytes} of buffers (counted by size class) are out at once,
 * whatever the number of connections: {@link #acquire} reserves the bytes before it allocates anything and
 * answers null when they do not fit, and the caller fails that request ({@code ENOMEM}, see
 * {@link Connection}) rather than waiting for memory other clients may never give back. Each connection is
 * bounded on its own too ({@link InFlightBudget}), and a WRITE payload is read in pieces as it arrives
 * ({@link Connection#WRITE_PIECE_BYTES}), so a slow client holds one piece, not the length its header claims.
 *
 * <p><b>Returning memory.</b> Freed buffers are kept for reuse up to {@code maxRetainedBytes} (warm, their
 * pages resident). A buffer beyond that, or released after {@link #close}, gives its pages back to the kernel
 * at once ({@link PageReturn}: {@code madvise(MADV_DONTNEED)}) before it is dropped, so the resident memory
 * of a closed connection goes when the connection's buffers come back, not when the garbage collector next
 * frees the direct buffer (the process held 2 GiB for minutes that way; issue 22).
 *
 * <p><b>Why {@link ByteBuffer#allocateDirect} and not an arena.</b> The socket sees a buffer's NIO view. A
 * view made from a {@link MemorySegment} ({@code segment.asByteBuffer()}) carries the segment's memory
 * session, whatever the arena ({@code ofAuto}, {@code ofShared} or {@code global}), and for every such
 * buffer in a gathering write the JDK acquires the session and allocates a releaser
 * ({@code sun.nio.ch.IOUtil.write}, JDK 25): 40 bytes per reply measured, plus an atomic update of the
 * session count for the shared kinds. A plain direct buffer has no session, so reads and writes on it
 * allocate nothing; the bio gets a segment view of the same memory ({@link MemorySegment#ofBuffer}). The
 * address range is freed by the garbage collector, never explicitly (its pages already went back, above): a
 * buffer a hung device still holds after a forced close stays valid, where an arena closed with the server
 * would have to wait for it or fail.
 *
 * <p>Thread safety: all methods may be called from any thread; each class is a lock-free stack, the
 * counters are atomic (the held bytes are reserved with a compare-and-set, so the budget is never
 * overshot) and {@link #close} is a volatile flag (a buffer released concurrently with it may be
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

    /** Where a new buffer's memory comes from: {@link ByteBuffer#allocateDirect}, or a test's hook. */
    @FunctionalInterface
    interface Allocator {
        /** Direct memory of {@code bytes}; throws {@link OutOfMemoryError} when there is none. */
        ByteBuffer allocate(int bytes);
    }

    private final long maxRetainedBytes;
    private final long maxHeldBytes;
    private final Allocator allocator;
    @SuppressWarnings({"unchecked", "rawtypes"}) // a generic array; every element is made below as a deque of Buffer
    private final ConcurrentLinkedDeque<Buffer>[] free = new ConcurrentLinkedDeque[MAX_SHIFT - MIN_SHIFT + 1];
    private final AtomicLong retainedBytes = new AtomicLong();
    private final AtomicLong outstanding = new AtomicLong();
    private final AtomicLong heldBytes = new AtomicLong();
    private final AtomicLong peakHeldBytes = new AtomicLong();
    private final AtomicLong refusals = new AtomicLong();
    private final AtomicLong allocations = new AtomicLong();
    private final AtomicLong returnedBytes = new AtomicLong();
    private volatile boolean closed;

    /** A pool with no budget of its own ({@link Long#MAX_VALUE} held bytes): for tools and tests of reuse. */
    BufferPool(long maxRetainedBytes) {
        this(maxRetainedBytes, Long.MAX_VALUE, ByteBuffer::allocateDirect);
    }

    /**
     * @param maxRetainedBytes idle buffers kept warm for reuse
     * @param maxHeldBytes     the budget: bytes of buffers out at once, at least {@link #MAX_BYTES}
     * @param allocator        where new buffers come from
     */
    BufferPool(long maxRetainedBytes, long maxHeldBytes, Allocator allocator) {
        if (maxHeldBytes < MAX_BYTES) {
            throw new IllegalArgumentException("maxHeldBytes: " + maxHeldBytes + " (expected: >= " + MAX_BYTES + ")");
        }
        this.maxRetainedBytes = maxRetainedBytes;
        this.maxHeldBytes = maxHeldBytes;
        this.allocator = allocator;
        for (int i = 0; i < free.length; i++) {
            free[i] = new ConcurrentLinkedDeque<>();
        }
    }

    /**
     * A buffer of at least {@code lengthBytes} (1..32 MiB), or null when its size class does not fit in what
     * is left of the budget (nothing was allocated then). Still served after {@link #close}, unpooled.
     *
     * @throws OutOfMemoryError when the JVM cannot allocate direct memory (its limit is below the budget);
     *     nothing stays reserved then
     */
    Buffer acquire(int lengthBytes) {
        if (lengthBytes <= 0 || lengthBytes > MAX_BYTES) {
            throw new IllegalArgumentException("lengthBytes: " + lengthBytes + " (expected: in [1, " + MAX_BYTES + "])");
        }
        int shift = Math.max(MIN_SHIFT, 32 - Integer.numberOfLeadingZeros(lengthBytes - 1));
        int sizeClass = shift - MIN_SHIFT;
        int size = 1 << shift;
        if (!reserve(size)) {
            refusals.incrementAndGet();
            return null;
        }
        outstanding.incrementAndGet();
        Buffer b = free[sizeClass].pollFirst();
        if (b != null) {
            retainedBytes.addAndGet(-size);
            return b;
        }
        try {
            // alignedSlice skips up to ALIGNMENT_BYTES - 1 bytes at the start; slice trims the tail, so the
            // view's capacity is exactly the class size (bytes() relies on it).
            ByteBuffer aligned = allocator.allocate(size + ALIGNMENT_BYTES - 1).alignedSlice(ALIGNMENT_BYTES)
                    .slice(0, size);
            allocations.incrementAndGet();
            return new Buffer(aligned, sizeClass);
        } catch (OutOfMemoryError e) {
            outstanding.decrementAndGet();
            heldBytes.addAndGet(-size);
            throw e;
        }
    }

    /** Takes {@code size} bytes of the budget if they fit. */
    private boolean reserve(long size) {
        while (true) {
            long held = heldBytes.get();
            if (held > maxHeldBytes - size) {
                return false;
            }
            if (heldBytes.compareAndSet(held, held + size)) {
                peakHeldBytes.accumulateAndGet(held + size, Math::max);
                return true;
            }
        }
    }

    /** Returns {@code b}; the caller must not touch it afterwards. */
    void release(Buffer b) {
        long size = 1L << (b.sizeClass + MIN_SHIFT);
        outstanding.decrementAndGet();
        heldBytes.addAndGet(-size);
        if (closed) {
            returnPages(b);
            return;
        }
        if (retainedBytes.addAndGet(size) <= maxRetainedBytes) {
            free[b.sizeClass].offerFirst(b);
            if (closed) {
                dropRetained(); // close ran between the check above and the offer
            }
        } else {
            retainedBytes.addAndGet(-size);
            returnPages(b);
        }
    }

    /**
     * Gives up on {@code b} without reusing it: a device that threw while owning it may still write into it.
     * Its bytes leave the budget (the request is over); its memory is left to the garbage collector.
     */
    void abandon(Buffer b) {
        outstanding.decrementAndGet();
        heldBytes.addAndGet(-(1L << (b.sizeClass + MIN_SHIFT)));
    }

    private void returnPages(Buffer b) {
        if (PageReturn.dontNeed(b.segment)) {
            returnedBytes.addAndGet(b.segment.byteSize());
        }
    }

    /**
     * Stops retaining: idle buffers give their pages back and are dropped, and so will every buffer released
     * later. Buffers still out stay valid. The server calls this
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
                returnPages(b);
            }
        }
    }

    /** Bytes of buffers out now (by size class): what the budget counts. */
    long heldBytes() {
        return heldBytes.get();
    }

    /** The most bytes of buffers that were out at once. */
    long peakHeldBytes() {
        return peakHeldBytes.get();
    }

    /** The budget: {@link #heldBytes} never exceeds it. */
    long maxHeldBytes() {
        return maxHeldBytes;
    }

    /** Acquires refused because the budget was spent. */
    long refusals() {
        return refusals.get();
    }

    /** Bytes whose pages went back to the kernel on release (buffers not kept warm). */
    long returnedBytes() {
        return returnedBytes.get();
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
