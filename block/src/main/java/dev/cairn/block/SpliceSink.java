package dev.cairn.block;

import com.google.errorprone.annotations.concurrent.GuardedBy;
import java.io.EOFException;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.util.Arrays;
import java.util.Objects;

/**
 * Lets a READ leave its data where it already is. A bio that carries a sink ({@link Bio#setSpliceSink})
 * may be answered by a store with a <em>reference</em> instead of a copy into the bio's memory:
 * <ul>
 *   <li>{@link FileRange}: "bytes {@code [offset, offset + length)} of the read are at {@code position} in
 *       this file" (a file store whose data is in the page cache). A socket consumer sends them with
 *       {@code sendfile(2)}: the kernel hands the page-cache pages to the socket, and the server copies
 *       nothing (as NFS servers and web servers do; the block layer itself has no such read).</li>
 *   <li>{@link MemoryRange}: "those bytes are in this memory" (a memory store's own pages). The consumer
 *       writes them to the socket from there, one copy (into the kernel) instead of two.</li>
 * </ul>
 * A range nobody referenced was copied into the bio's memory as usual, so a reader must merge the two:
 * {@link #piece} in offset order, the bio's memory between them.
 *
 * <p><b>What the data is.</b> A referenced range holds its source's content when it is <em>read</em>
 * (sent), not when the bio completed. For an NBD reply that is the same for the client, which cannot see
 * the data before the reply, and a write that races a read may be seen by it or not either way; but a
 * layer whose read data must not change after completion must not pass the sink down. So only layers
 * that remap a READ to the same bytes of a lower device (dm {@code linear}, {@code striped}) pass it on:
 * {@link Bio#clone} does not copy it, a layer that wants it passed copies it on purpose. A layer that
 * forwards the bio itself (not a clone) and transforms or substitutes its data (decryption, a snapshot's
 * exception store) must clear it with {@code setSpliceSink(null)} first.
 *
 * <p><b>Pinning.</b> A store that records a piece keeps its source valid for it until the piece's release
 * runs: a file store counts it as I/O in flight (its close waits for that), a memory store does not reuse
 * the pages for other data. The consumer releases the sink exactly when it is done with the data, sent or
 * not; after that the sink takes no more pieces, so a late clone of a failed request copies instead of
 * pinning a store forever.
 *
 * <p><b>Bounds.</b> A sink takes at most {@value #MAX_PIECES} pieces; later offers are refused and those
 * ranges are copied. So the consumer's work per reply (one gathering-write entry or {@code sendfile} call
 * per piece) and what one request can pin stay bounded however the read was split below.
 *
 * <p>Thread safety: {@link #offer} and {@link #offerMemory} may be called from many completing threads at
 * once (a striped read's clones); the other methods are for the consumer after the bio completed (its
 * completion is the happens-before edge) and must not race the offers except {@link #release}, which may.
 */
public final class SpliceSink {
    /** The most pieces one sink takes; later offers are refused (the store copies). */
    public static final int MAX_PIECES = 64;

    /** One referenced range of the read: bytes {@code [offsetBytes, + lengthBytes)} of the bio's memory. */
    public sealed interface Piece permits FileRange, MemoryRange {
        long offsetBytes();

        long lengthBytes();

        /** Unpins the source; run exactly once, by {@link #release()}. */
        Runnable release();
    }

    /** The bytes are at {@code positionBytes} of {@code channel}. */
    public record FileRange(long offsetBytes, long lengthBytes, FileChannel channel, long positionBytes, Runnable release)
            implements Piece {}

    /** The bytes are {@code memory} (native, {@code lengthBytes} long), a store's own memory. */
    public record MemoryRange(long offsetBytes, long lengthBytes, MemorySegment memory, Runnable release)
            implements Piece {}

    private final long baseAddress;
    private final long baseBytes;
    private final long minFileRangeBytes;
    @GuardedBy("this")
    private Piece[] pieces = new Piece[2];
    @GuardedBy("this")
    private int count;
    @GuardedBy("this")
    private boolean sorted = true;
    @GuardedBy("this")
    private boolean released;

    /** {@code minFileRangeBytes} of a sink that takes memory pieces only. */
    public static final long NO_FILE_RANGES = Long.MAX_VALUE;

    /** A sink for a read into {@code base} (native memory: the bio's data must be slices of it), for both kinds of piece. */
    public SpliceSink(MemorySegment base) {
        this(base, 0L);
    }

    /**
     * A sink for a read into {@code base} that takes file ranges only for reads of at least
     * {@code minFileRangeBytes}, and memory pieces of any size: a consumer whose cost per file range (a
     * {@code sendfile} call) exceeds the copy of a small one says so here. {@link #NO_FILE_RANGES}: memory
     * pieces only (a consumer for which sending from a file is no cheaper than a copy: a TCP socket, see
     * docs/nbd.md).
     */
    public SpliceSink(MemorySegment base, long minFileRangeBytes) {
        if (!base.isNative()) {
            throw new IllegalArgumentException("base: heap memory (expected: native memory)");
        }
        if (minFileRangeBytes < 0) {
            throw new IllegalArgumentException("minFileRangeBytes: " + minFileRangeBytes + " (expected: >= 0)");
        }
        this.baseAddress = base.address();
        this.baseBytes = base.byteSize();
        this.minFileRangeBytes = minFileRangeBytes;
    }

    /** Whether {@link #offer} (file ranges) can take anything: a file store asks before it looks at its page cache. */
    public boolean acceptsFileRanges() {
        return minFileRangeBytes != NO_FILE_RANGES;
    }

    /**
     * Whether a read of {@code lengthBytes} from a file should be offered as file ranges at all: a file store
     * asks with its bio's size before it looks at its page cache, and copies a smaller read as usual.
     */
    public boolean acceptsFileRange(long lengthBytes) {
        return acceptsFileRanges() && lengthBytes >= minFileRangeBytes;
    }

    /**
     * For a file store: offers the reference "bytes {@code [segmentOffsetBytes, + lengthBytes)} of
     * {@code segment} (part of the bio's data) are at {@code positionBytes} in {@code channel}". True when the
     * sink took it: the store must then leave that memory alone, keep the channel open until {@code release}
     * runs (exactly once, on whatever thread releases the sink), and may complete that part of the bio. False
     * (memory outside this sink's base, a sink for memory pieces only, the sink full or already released): the
     * store copies as usual.
     */
    public boolean offer(MemorySegment segment, long segmentOffsetBytes, long lengthBytes, FileChannel channel,
            long positionBytes, Runnable release) {
        Objects.requireNonNull(channel, "channel");
        Objects.requireNonNull(release, "release");
        if (!acceptsFileRanges() || positionBytes < 0) {
            return false;
        }
        long offset = offsetInBase(segment, segmentOffsetBytes, lengthBytes);
        return offset >= 0 && add(new FileRange(offset, lengthBytes, channel, positionBytes, release));
    }

    /**
     * For a memory store: offers the reference "bytes {@code [segmentOffsetBytes, + source.byteSize())} of
     * {@code segment} (part of the bio's data) are {@code source}". True when the sink took it: the store must
     * then leave that part of the bio's memory alone and keep {@code source} valid (not reused for other data,
     * not freed) until {@code release} runs, exactly once. False: the store copies as usual.
     */
    public boolean offerMemory(MemorySegment segment, long segmentOffsetBytes, MemorySegment source, Runnable release) {
        Objects.requireNonNull(release, "release");
        if (!source.isNative()) {
            return false;
        }
        long offset = offsetInBase(segment, segmentOffsetBytes, source.byteSize());
        return offset >= 0 && add(new MemoryRange(offset, source.byteSize(), source, release));
    }

    /** Where {@code [segmentOffsetBytes, + lengthBytes)} of {@code segment} lies in the base, or -1 if not in it. */
    private long offsetInBase(MemorySegment segment, long segmentOffsetBytes, long lengthBytes) {
        if (!segment.isNative() || lengthBytes <= 0 || segmentOffsetBytes < 0
                || segmentOffsetBytes + lengthBytes > segment.byteSize()) {
            return -1;
        }
        long offset = segment.address() + segmentOffsetBytes - baseAddress;
        return offset < 0 || offset + lengthBytes > baseBytes ? -1 : offset;
    }

    private synchronized boolean add(Piece piece) {
        if (released || count == MAX_PIECES) {
            return false;
        }
        if (count == pieces.length) {
            pieces = Arrays.copyOf(pieces, Math.min(count * 2, MAX_PIECES));
        }
        if (count > 0 && pieces[count - 1].offsetBytes() > piece.offsetBytes()) {
            sorted = false;
        }
        pieces[count++] = piece;
        return true;
    }

    /** How many ranges were referenced. */
    public synchronized int count() {
        return count;
    }

    /** The {@code i}-th referenced range in offset order; ranges never overlap (each byte is read once). */
    public synchronized Piece piece(int i) {
        Objects.checkIndex(i, count);
        if (!sorted) {
            Arrays.sort(pieces, 0, count, (a, b) -> Long.compare(a.offsetBytes(), b.offsetBytes()));
            sorted = true;
        }
        return pieces[i];
    }

    /**
     * Copies every referenced range into {@code base} (the memory this sink was made for), so that it holds
     * what a read by copy would have returned: for a consumer that cannot send references, and for checks.
     * The sink stays as it was (release it as usual).
     */
    public void copyInto(MemorySegment base) throws IOException {
        if (base.address() != baseAddress || base.byteSize() != baseBytes) {
            throw new IllegalArgumentException("base: not the memory this sink was made for");
        }
        for (int i = 0; i < count(); i++) {
            switch (piece(i)) {
                case FileRange f -> {
                    ByteBuffer dst = base.asSlice(f.offsetBytes(), f.lengthBytes()).asByteBuffer();
                    while (dst.hasRemaining()) {
                        if (f.channel().read(dst, f.positionBytes() + dst.position()) < 0) {
                            throw new EOFException("file ended at " + (f.positionBytes() + dst.position())
                                    + " (expected: " + (f.positionBytes() + f.lengthBytes()) + " bytes)");
                        }
                    }
                }
                case MemoryRange m -> MemorySegment.copy(m.memory(), 0, base, m.offsetBytes(), m.lengthBytes());
            }
        }
    }

    /** Unpins every piece's store and refuses later offers. Idempotent. */
    public void release() {
        Piece[] toRelease;
        int n;
        synchronized (this) {
            if (released) {
                return;
            }
            released = true;
            toRelease = pieces;
            n = count;
            count = 0;
            pieces = new Piece[0];
        }
        RuntimeException failure = null;
        for (int i = 0; i < n; i++) {
            try {
                toRelease[i].release().run();
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    @Override
    public synchronized String toString() {
        return "SpliceSink[" + count + " pieces" + (released ? ", released" : "") + "]";
    }
}
