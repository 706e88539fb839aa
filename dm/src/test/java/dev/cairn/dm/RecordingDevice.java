package dev.cairn.dm;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.testkit.ForwardingDevice;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * A memory store with a volatile cache (so flushes reach it) that records every bio it receives:
 * op, flags, sector, sectors. Optionally appends to a shared event log. Thread-safe.
 */
public final class RecordingDevice extends ForwardingDevice {
    /** One bio as received. */
    public record Seen(String device, BioOp op, int flags, long sector, int sectors) {}

    private final QueueLimits limits;
    private final List<Seen> seen = new ArrayList<>();
    private final Consumer<String> log;

    public RecordingDevice(String name, long capacityBytes, QueueLimits limits, Consumer<String> log) {
        super(new MemoryStore(name, capacityBytes));
        this.limits = limits;
        this.log = log;
    }

    public RecordingDevice(String name, long capacityBytes) {
        this(name, capacityBytes, QueueLimits.defaults(), s -> { });
    }

    @Override
    public QueueLimits limits() {
        return limits;
    }

    @Override
    public void submitBio(Bio bio) {
        synchronized (this) {
            seen.add(new Seen(name(), bio.op(), bio.flags(), bio.sector(), bio.sectors()));
        }
        log.accept("io " + name() + " " + bio.op() + " " + bio.sector() + "+" + bio.sectors());
        if (bio.op() == BioOp.FLUSH) {
            bio.complete();
        } else {
            super.submitBio(bio);
        }
    }

    public synchronized List<Seen> seen() {
        return new ArrayList<>(seen);
    }

    public synchronized void clear() {
        seen.clear();
    }
}
