package dev.cairn.block;

import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.util.Arrays;
import java.util.Objects;

/**
 * Lets a READ leave its data where it already is. A bio that carries a sink ({@link Bio#setSpliceSink})
 * may be answered by a store whose data lies in a file's page cache with a <em>reference</em>: "bytes
 * {@code [offset, offset + length)} of the read are at {@code position} in this file", instead of a copy
 * into the bio's memory. Whoever reads the bio's data afterwards takes those bytes from the file, which
 * for a socket means {@code sendfile(2)}: the kernel hands the page-cache pages to the socket, so the
 * server copies nothing (Linux's own analog is a splice read, as NFS and web servers do with
 * {@code sendfile}; the block layer itself has none). A range nobody referenced was copied into the bio's
 * memory as usual, so a reader must merge the two: {@link #piece} in offset order, memory between them.
 *
 * <p><b>What the data is.</b> A referenced range holds the file's content when it is <em>read</em>
 * (sent), not when the bio completed. For an NBD reply that is the same for the client, which cannot see
 * the data before the reply, and a write that races a read may be seen by it or not either way; but a
 * layer whose read data must not change after completion must not pass the sink down. So only layers
 * that remap a READ to the same bytes of a lower device (dm {@code linear}, {@code striped}) pass it on:
 * {@link Bio#clone} does not copy it, a layer that wants it passed copies it on purpose. A layer that
 * forwards the bio itself (not a clone) and transforms or substitutes its data (decryption, a snapshot's
 * exception store) must clear it with {@code setSpliceSink(null)} first.
 *
 * <p><b>Pinning.</b> A store that records a piece keeps its file open for it: it counts the piece as I/O in
 * flight until {@link #release} (its close waits for that). The consumer releases the sink exactly when it
 * is done with the data, sent or not; after that the sink takes no more pieces, so a late clone of a failed
 * request copies instead of pinning a store forever.
 *
 * <p>Thread safety: {@link #offer} may be called from many completing threads at once (a striped read's
 * clones); the other methods are for the consumer after the bio completed (its completion is the
 * happens-before edge) and must not race {@link #offer} except {@link #release}, which may.
 */
public final class SpliceSink {
    /** One referenced range of the read. */
    public record Piece(long offsetBytes, long lengthBytes, FileChannel channel, long positionBytes, Runnable release) {}

    private final long baseAddress;
    private final long baseBytes;
    private Piece[] pieces = new Piece[2]; // @GuardedBy("this")
    private int count; // @GuardedBy("this")
    private boolean sorted = true; // @GuardedBy("this")
    private boolean released; // @GuardedBy("this")

    /** A sink for a read into {@code base} (native memory: the bio's data must be slices of it). */
    public SpliceSink(MemorySegment base) {
        if (!base.isNative()) {
            throw new IllegalArgumentException("base: heap memory (expected: native memory)");
        }
        this.baseAddress = base.address();
        this.baseBytes = base.byteSize();
    }

    /**
     * For a store: offers the reference "bytes {@code [segmentOffsetBytes, + lengthBytes)} of {@code segment}
     * (part of the bio's data) are at {@code positionBytes} in {@code channel}". True when the sink took it:
     * the store must then leave that memory alone, keep the channel open until {@code release} runs (exactly
     * once, on whatever thread releases the sink), and may complete that part of the bio. False (memory
     * outside this sink's base, or the sink already released): the store copies as usual.
     */
    public boolean offer(MemorySegment segment, long segmentOffsetBytes, long lengthBytes, FileChannel channel,
            long positionBytes, Runnable release) {
        Objects.requireNonNull(channel, "channel");
        Objects.requireNonNull(release, "release");
        if (!segment.isNative() || lengthBytes <= 0 || positionBytes < 0) {
            return false;
        }
        long offset = segment.address() + segmentOffsetBytes - baseAddress;
        if (segmentOffsetBytes < 0 || segmentOffsetBytes + lengthBytes > segment.byteSize()
                || offset < 0 || offset + lengthBytes > baseBytes) {
            return false;
        }
        synchronized (this) {
            if (released) {
                return false;
            }
            if (count == pieces.length) {
                pieces = Arrays.copyOf(pieces, count * 2);
            }
            if (count > 0 && pieces[count - 1].offsetBytes() > offset) {
                sorted = false;
            }
            pieces[count++] = new Piece(offset, lengthBytes, channel, positionBytes, release);
        }
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
