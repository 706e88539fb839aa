package dev.cairn.testkit;

import dev.cairn.block.Bio;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.Extents;
import dev.cairn.block.QueueLimits;
import java.util.Objects;

/**
 * A device that passes everything to a lower one: its name, capacity, limits, bios and extent queries. A
 * test device extends it and overrides only what it changes (records bios, delays them, fails them, gives
 * the device other limits), instead of repeating the forwarding.
 *
 * <p>Thread safety: as the lower device's; subclasses document their own state.
 */
public abstract class ForwardingDevice implements BlockDevice {
    private final BlockDevice lower;

    protected ForwardingDevice(BlockDevice lower) {
        this.lower = Objects.requireNonNull(lower, "lower");
    }

    /** The device this one passes to. */
    protected final BlockDevice lower() {
        return lower;
    }

    @Override
    public String name() {
        return lower.name();
    }

    @Override
    public long capacitySectors() {
        return lower.capacitySectors();
    }

    @Override
    public QueueLimits limits() {
        return lower.limits();
    }

    @Override
    public void submitBio(Bio bio) {
        lower.submitBio(bio);
    }

    @Override
    public void queryExtents(long sector, long sectors, Extents.Sink sink) {
        lower.queryExtents(sector, sectors, sink);
    }
}
