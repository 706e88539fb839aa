package dev.cairn.dm.targets.linear;

import dev.cairn.block.Bio;
import dev.cairn.block.Extents;
import dev.cairn.dm.DeviceRef;
import dev.cairn.dm.MapResult;
import dev.cairn.dm.ShiftRemap;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetContext;

/**
 * The linear target (Linux {@code dm-linear.c}): every clone goes to the lower device at
 * {@code offset + (sector - begin)}. INFO status is empty; TABLE is {@code <dev> <offset>}.
 *
 * <p>Thread safety: immutable.
 */
final class LinearTarget implements Target {
    private final LinearConfig config;
    private final ShiftRemap remap;

    LinearTarget(TargetContext ctx, LinearConfig config, DeviceRef dev) {
        this.config = config;
        this.remap = new ShiftRemap(ctx, dev, config.offsetSectors());
    }

    @Override
    public MapResult map(Bio clone) {
        return remap.map(clone);
    }

    /** A pure remap: a file store below may answer large reads by reference (see {@link Target#passesSpliceReads}). */
    @Override
    public boolean passesSpliceReads() {
        return true;
    }

    @Override
    public String statusTable() {
        return config.toTable();
    }

    @Override
    public void iterateDevices(DeviceVisitor visitor) {
        remap.visit(visitor);
    }

    @Override
    public void queryExtents(long sector, long sectors, Extents.Sink sink) {
        remap.queryExtents(sector, sectors, sink);
    }
}
