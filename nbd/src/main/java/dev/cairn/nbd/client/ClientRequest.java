package dev.cairn.nbd.client;

import dev.cairn.block.Bio;
import dev.cairn.block.BioStatus;
import java.util.function.Consumer;

/**
 * One NBD request in flight on a {@link ClientConnection}: the command, its range, the bio whose data it
 * carries (a READ's destination, a WRITE's source; null otherwise) with the byte offset of the request
 * inside that bio, and what to do when its reply is complete. BLOCK_STATUS requests collect their
 * descriptors into {@link #extents}.
 *
 * <p>Thread safety: built by a submitting thread, handed to the writer thread through the send queue and to
 * the reader thread through the in-flight map (both happens-before edges); {@link #finish} runs once.
 */
final class ClientRequest {
    final int type;
    final int commandFlags;
    final long offsetBytes;
    final int lengthBytes;
    final Bio bio;
    final long bioOffsetBytes;
    final Consumer<BioStatus> done;
    /** BLOCK_STATUS descriptors as (length, flags) pairs; null for other commands. */
    final long[][] extents;
    int extentCount;

    long cookie;
    long sentNanos;
    /** First error from an error chunk (an errno), 0 when none. */
    int errno;

    ClientRequest(int type, int commandFlags, long offsetBytes, int lengthBytes, Bio bio, long bioOffsetBytes,
            Consumer<BioStatus> done, boolean wantsExtents) {
        this.type = type;
        this.commandFlags = commandFlags;
        this.offsetBytes = offsetBytes;
        this.lengthBytes = lengthBytes;
        this.bio = bio;
        this.bioOffsetBytes = bioOffsetBytes;
        this.done = done;
        this.extents = wantsExtents ? new long[1][] : null;
    }

    void addExtent(long lengthBytes, int flags) {
        long[] e = extents[0];
        if (e == null) {
            e = new long[16];
        } else if (extentCount * 2 == e.length) {
            e = java.util.Arrays.copyOf(e, e.length * 2);
        }
        e[extentCount * 2] = lengthBytes;
        e[extentCount * 2 + 1] = flags;
        extents[0] = e;
        extentCount++;
    }

    void finish(BioStatus status) {
        done.accept(status);
    }

    @Override
    public String toString() {
        return dev.cairn.nbd.protocol.NbdConstants.commandName(type) + " [" + offsetBytes + ", +" + lengthBytes + ") cookie "
                + cookie + (commandFlags == 0 ? "" : " flags 0x" + Integer.toHexString(commandFlags));
    }

    /** The bio status for an NBD errno. */
    static BioStatus statusOf(int errno) {
        return switch (errno) {
            case 0 -> BioStatus.OK;
            case 1 -> BioStatus.PERM;
            case 12 -> BioStatus.NOMEM;
            case 22, 75 -> BioStatus.INVALID;
            case 28 -> BioStatus.NOSPC;
            case 95 -> BioStatus.NOTSUPP;
            default -> BioStatus.IOERR;
        };
    }
}
