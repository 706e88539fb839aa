package dev.cairn.dm.target.snapshot;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.QueueLimits;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;

/** A pass-through device that records every bio it sees and can fail chosen ones. */
final class RecordingDevice implements BlockDevice {
    record Op(BioOp op, int flags, long sector, int sectors) {
        boolean isWrite() {
            return op == BioOp.WRITE;
        }

        boolean has(int flag) {
            return BioFlags.has(flags, flag);
        }
    }

    private final BlockDevice lower;
    private final List<Op> ops = new CopyOnWriteArrayList<>();
    private volatile Predicate<Op> fail = op -> false;

    RecordingDevice(BlockDevice lower) {
        this.lower = lower;
    }

    List<Op> ops() {
        return ops;
    }

    void clear() {
        ops.clear();
    }

    void failWhen(Predicate<Op> predicate) {
        this.fail = predicate;
    }

    @Override
    public String name() {
        return "rec-" + lower.name();
    }

    @Override
    public long capacitySectors() {
        return lower.capacitySectors();
    }

    /**
     * The lower device's limits with a volatile write cache, so that the submitter keeps PREFLUSH and
     * FUA on the bios (it drops them for a device without a cache, as Linux does) and they can be checked.
     */
    @Override
    public QueueLimits limits() {
        return lower.limits().withCache(true, true);
    }

    @Override
    public void submitBio(Bio bio) {
        Op op = new Op(bio.op(), bio.flags(), bio.sector(), bio.sectors());
        ops.add(op);
        if (fail.test(op)) {
            bio.complete(BioStatus.IOERR);
            return;
        }
        lower.submitBio(bio);
    }
}
