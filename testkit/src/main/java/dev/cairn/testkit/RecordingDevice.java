package dev.cairn.testkit;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.QueueLimits;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;

/** A pass-through device that records every bio it sees and can fail or hold back chosen ones. */
public final class RecordingDevice extends ForwardingDevice {
    public record Op(BioOp op, int flags, long sector, int sectors) {
        public boolean isWrite() {
            return op == BioOp.WRITE;
        }

        public boolean has(int flag) {
            return BioFlags.has(flags, flag);
        }
    }

    private final List<Op> ops = new CopyOnWriteArrayList<>();
    private volatile Predicate<Op> fail = op -> false;
    private volatile Predicate<Op> hold = op -> false;
    private final ConcurrentLinkedQueue<Bio> held = new ConcurrentLinkedQueue<>();

    public RecordingDevice(BlockDevice lower) {
        super(lower);
    }

    public List<Op> ops() {
        return ops;
    }

    public void clear() {
        ops.clear();
    }

    public void failWhen(Predicate<Op> predicate) {
        this.fail = predicate;
    }

    /** Keeps the bios that match (and do not fail) until {@link #releaseHeld}. */
    public void holdWhen(Predicate<Op> predicate) {
        this.hold = predicate;
    }

    /** Bios held now. */
    public int heldCount() {
        return held.size();
    }

    /** Stops holding and passes the held bios on. */
    public void releaseHeld() {
        hold = op -> false;
        drainHeld();
    }

    private void drainHeld() {
        Bio b;
        while ((b = held.poll()) != null) {
            lower().submitBio(b);
        }
    }

    @Override
    public String name() {
        return "rec-" + lower().name();
    }

    /**
     * The lower device's limits with a volatile write cache, so that the submitter keeps PREFLUSH and
     * FUA on the bios (it drops them for a device without a cache, as Linux does) and they can be checked.
     */
    @Override
    public QueueLimits limits() {
        return lower().limits().withCache(true, true);
    }

    @Override
    public void submitBio(Bio bio) {
        Op op = new Op(bio.op(), bio.flags(), bio.sector(), bio.sectors());
        ops.add(op);
        if (fail.test(op)) {
            bio.complete(BioStatus.IOERR);
            return;
        }
        if (hold.test(op)) {
            held.add(bio);
            if (!hold.test(op)) {
                drainHeld(); // released between the test and the add: do not strand it
            }
            return;
        }
        lower().submitBio(bio);
    }
}
