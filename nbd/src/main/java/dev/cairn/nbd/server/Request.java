package dev.cairn.nbd.server;

import dev.cairn.block.Bio;
import dev.cairn.block.BioEndIo;
import dev.cairn.block.SpliceSink;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One transmission request from header to reply. It is the end-io of the bio (or bios) it became, and
 * then the reply the writer sends: header fields, the error, the data buffer, and for a structured READ
 * the data/hole layout.
 *
 * <p>Thread safety: written by the reader before submission and by the completing thread in end-io;
 * handed to the writer through the reply queue (a happens-before edge), or, when it completed on the
 * reader's own thread, possibly written by the reader itself (no hand-off at all). {@link #claim} makes
 * the reply happen once even when a device both throws and completes.
 */
final class Request implements BioEndIo {
    final RequestHandlers handlers;
    final int type;
    final int flags;
    final long cookie;
    final long offsetBytes;
    final int lengthBytes;

    /** Budget bytes to give back after the reply is written. */
    long budgetBytes;
    /** The request holds a share of the in-flight budget: it must be answered (or the share given back). */
    boolean acquired;
    /** READ data, WRITE payload or BLOCK_STATUS payload; returned to the pool after the reply. */
    BufferPool.Buffer buffer;
    /** Bytes of {@link #buffer} the reply carries (READ length or BLOCK_STATUS payload length). */
    int replyDataBytes;
    /** Bytes of read data counted as queued in the budget ({@link InFlightBudget#readQueued}) while queued. */
    int queuedReadBytes;
    /**
     * READ: the ranges of the data a file store left in its file instead of copying them into
     * {@link #buffer} (sent from there with sendfile); null when the read was not offered that. Released
     * with the buffer.
     */
    SpliceSink splice;
    /** Structured READ layout: lengths in bytes, negative for a hole chunk; null for one data chunk. */
    int[] extents;
    int extentCount;

    int error;
    String message;

    /** FUA on a device without native FUA: flush after the write completes, then reply. */
    boolean flushAfter;
    /** WRITE_ZEROES the device refused with NOTSUPP: being redone by writing zeros. */
    boolean zeroFallback;
    /** The device threw while owning the buffer: never reuse it. */
    boolean dropBuffer;
    /** A WRITE read and submitted in pieces ({@link WritePieces}): its pieces, not the reader, end it. */
    boolean pieced;

    private final AtomicBoolean claimed = new AtomicBoolean();

    Request(RequestHandlers handlers, int type, int flags, long cookie, long offsetBytes, int lengthBytes) {
        this.handlers = handlers;
        this.type = type;
        this.flags = flags;
        this.cookie = cookie;
        this.offsetBytes = offsetBytes;
        this.lengthBytes = lengthBytes;
    }

    boolean hasFlag(int flag) {
        return (flags & flag) != 0;
    }

    Request fail(int errno, String why) {
        this.error = errno;
        this.message = why;
        return this;
    }

    /** True for the one caller allowed to queue the reply. */
    boolean claim() {
        return claimed.compareAndSet(false, true);
    }

    @Override
    public void endIo(Bio bio) {
        handlers.bioDone(this, bio.status());
    }

    @Override
    public String toString() {
        return dev.cairn.nbd.protocol.NbdConstants.commandName(type) + " cookie=" + Long.toHexString(cookie)
                + " offset=" + offsetBytes + " length=" + Integer.toUnsignedString(lengthBytes)
                + (error == 0 ? "" : " error=" + error);
    }
}
