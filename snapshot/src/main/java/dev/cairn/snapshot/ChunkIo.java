package dev.cairn.snapshot;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.IoCompletion;
import dev.cairn.block.Submitter;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Synchronous whole-buffer I/O for the exception stores (Linux {@code chunk_io} through
 * {@code dm_io}): one bio, submitted through the {@link Submitter}, waited for with
 * {@link IoCompletion}.
 *
 * <p>A thread that is inside a submission (a target's {@code map}) must never wait for a bio it
 * submits itself: the bio would only be parked on its own list. Linux hands such I/O to the
 * {@code ksnaphd} workqueue "to avoid generic_make_request recursion"; here it goes to a fresh
 * virtual thread with its own submission context, and the caller waits for that thread's result.
 *
 * <p>Thread safety: stateless.
 */
final class ChunkIo {
    private ChunkIo() {}

    /** Reads or writes {@code buffer} at {@code sector} of {@code device}; throws on any error. */
    static void io(Submitter submitter, BlockDevice device, BioOp op, int flags, long sector, MemorySegment buffer)
            throws IOException {
        BioStatus status = Submitter.inSubmission()
                ? offThread(submitter, device, op, flags, sector, buffer)
                : direct(submitter, device, op, flags, sector, buffer);
        if (!status.isOk()) {
            throw new IOException(device.name() + ": " + op + " of " + buffer.byteSize() + " bytes at sector " + sector
                    + " failed: " + status);
        }
    }

    /** An empty FLUSH of {@code device}, waited for; throws on error. Never from inside a submission. */
    static void flush(Submitter submitter, BlockDevice device) throws IOException {
        BioStatus status = IoCompletion.submitAndWait(submitter, Bio.alloc().setDevice(device).setOp(BioOp.FLUSH));
        if (!status.isOk()) {
            throw new IOException(device.name() + ": flush failed: " + status);
        }
    }

    private static BioStatus direct(Submitter submitter, BlockDevice device, BioOp op, int flags, long sector,
            MemorySegment buffer) {
        Bio bio = Bio.alloc().setDevice(device).setOp(op).setFlags(flags).setSector(sector).setData(buffer);
        return IoCompletion.submitAndWait(submitter, bio);
    }

    private static BioStatus offThread(Submitter submitter, BlockDevice device, BioOp op, int flags, long sector,
            MemorySegment buffer) {
        AtomicReference<BioStatus> result = new AtomicReference<>(BioStatus.IOERR);
        IoCompletion done = new IoCompletion(submitter, "metadata " + op + " on " + device.name());
        Thread.ofVirtual().name("cairn-snap-metadata").start(() -> {
            try {
                result.set(direct(submitter, device, op, flags, sector, buffer));
            } catch (RuntimeException e) {
                result.set(BioStatus.ABORTED);
            } finally {
                done.complete();
            }
        });
        done.await();
        return result.get();
    }
}
