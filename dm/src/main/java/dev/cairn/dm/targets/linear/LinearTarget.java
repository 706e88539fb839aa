package dev.cairn.dm.targets.linear;

import dev.cairn.block.Bio;
import dev.cairn.block.Extents;
import dev.cairn.dm.DeviceRef;
import dev.cairn.dm.MapResult;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetContext;

/**
 * The linear target (Linux {@code dm-linear.c}): every clone goes to the lower device at
 * {@code offset + (sector - begin)}. INFO status is empty; TABLE is {@code <dev> <offset>}.
 *
 * <p>Thread safety: immutable.
 */
final class LinearTarget implements Target {
    private final TargetContext ctx;
    private final LinearConfig config;
    private final DeviceRef dev;
    /** {@code offset - begin}: added to a mapped-device sector gives the lower sector. */
    private final long shift;

    LinearTarget(TargetContext ctx, LinearConfig config, DeviceRef dev) {
        this.ctx = ctx;
        this.config = config;
        this.dev = dev;
        this.shift = config.offsetSectors() - ctx.beginSector();
    }

    @Override
    public MapResult map(Bio clone) {
        clone.setDevice(dev.device()).setSector(clone.sector() + shift);
        return MapResult.REMAPPED;
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
        visitor.visit(dev, config.offsetSectors(), ctx.lengthSectors());
    }

    @Override
    public void queryExtents(long sector, long sectors, Extents.Sink sink) {
        dev.device().queryExtents(sector + shift, sectors, sink);
    }
}
