package dev.cairn.pdata;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.IoCompletion;
import dev.cairn.block.Submitter;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Synchronous metadata I/O (Linux {@code dm-bufio}'s reads and writes): bios through the
 * {@link Submitter}, waited for with {@link IoCompletion}. A thread inside a submission (a target's
 * {@code map}) must never wait for a bio it submits itself, since that bio is only parked on its own
 * list; such I/O runs on a fresh virtual thread with its own submission context while the caller waits
 * (a blocking primitive) for its result.
 *
 * <p>Thread safety: stateless apart from the immutable device and submitter.
 */
final class BlockIo {
    private final Submitter submitter;
    private final BlockDevice device;

    BlockIo(Submitter submitter, BlockDevice device) {
        this.submitter = submitter;
        this.device = device;
    }

    BlockDevice device() {
        return device;
    }

    /** One write or read of a whole buffer at {@code sector}. */
    record Request(BioOp op, int flags, long sector, MemorySegment buffer) {}

    void read(long sector, byte[] into) throws MetadataException {
        run(List.of(new Request(BioOp.READ, 0, sector, MemorySegment.ofArray(into))));
    }

    /** Submits every request at once and waits for all; the first error is thrown. */
    void run(List<Request> requests) throws MetadataException {
        if (requests.isEmpty()) {
            return;
        }
        BioStatus status = Submitter.inSubmission() ? offThread(requests) : direct(requests);
        if (!status.isOk()) {
            Request r = requests.getFirst();
            throw new MetadataException(device.name() + ": metadata " + r.op() + " of " + requests.size()
                    + " block(s) from sector " + r.sector() + " failed: " + status);
        }
    }

    /** An empty FLUSH of the device, waited for. */
    void flush() throws MetadataException {
        run(List.of(new Request(BioOp.FLUSH, 0, 0, null)));
    }

    private BioStatus direct(List<Request> requests) {
        AtomicInteger left = new AtomicInteger(requests.size());
        AtomicReference<BioStatus> first = new AtomicReference<>(BioStatus.OK);
        IoCompletion done = new IoCompletion(submitter, "metadata I/O on " + device.name());
        for (Request r : requests) {
            Bio bio = Bio.alloc().setDevice(device).setOp(r.op()).setFlags(r.flags());
            if (r.buffer() != null) {
                bio.setSector(r.sector()).setData(r.buffer());
            }
            bio.setEndIo(b -> {
                if (!b.status().isOk()) {
                    first.compareAndSet(BioStatus.OK, b.status());
                }
                if (left.decrementAndGet() == 0) {
                    done.complete();
                }
            });
            submitter.submit(bio);
        }
        done.await();
        return first.get();
    }

    private BioStatus offThread(List<Request> requests) {
        AtomicReference<BioStatus> result = new AtomicReference<>(BioStatus.IOERR);
        IoCompletion done = new IoCompletion(submitter, "metadata I/O on " + device.name());
        Thread.ofVirtual().name("cairn-pdata-io").start(() -> {
            try {
                result.set(direct(requests));
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
