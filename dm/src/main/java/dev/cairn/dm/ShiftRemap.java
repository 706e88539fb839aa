package dev.cairn.dm;

import dev.cairn.block.Bio;
import dev.cairn.block.Extents;

/**
 * The remap of targets that only shift (linear, flakey, delay: Linux's {@code linear_map_sector} and its
 * copies): a mapped-device sector {@code s} of the target goes to {@code offset + (s - begin)} on one lower
 * device. One place for the shift, the remap, the device report and the extents query, so those targets
 * write only what they do differently.
 *
 * <p>Thread safety: immutable.
 */
public final class ShiftRemap {
    private final DeviceRef device;
    private final long offsetSectors;
    private final long lengthSectors;
    /** {@code offset - begin}: added to a mapped-device sector gives the lower sector. */
    private final long shiftSectors;

    /** The target of {@code ctx} mapped onto {@code device} from {@code offsetSectors} on. */
    public ShiftRemap(TargetContext ctx, DeviceRef device, long offsetSectors) {
        this.device = device;
        this.offsetSectors = offsetSectors;
        this.lengthSectors = ctx.lengthSectors();
        this.shiftSectors = offsetSectors - ctx.beginSector();
    }

    public DeviceRef device() {
        return device;
    }

    /** The lower device's sector for mapped-device sector {@code sector}. */
    public long lowerSector(long sector) {
        return sector + shiftSectors;
    }

    /** Points {@code clone} at the lower device and sector; returns it. */
    public Bio apply(Bio clone) {
        return clone.setDevice(device.device()).setSector(lowerSector(clone.sector()));
    }

    /** {@link #apply} and the verdict for it: the core submits the clone below. */
    public MapResult map(Bio clone) {
        apply(clone);
        return MapResult.REMAPPED;
    }

    /** Reports the lower range to {@code visitor} ({@link Target#iterateDevices}). */
    public void visit(Target.DeviceVisitor visitor) {
        visitor.visit(device, offsetSectors, lengthSectors);
    }

    /** Asks the lower device about the shifted range ({@link Target#queryExtents}). */
    public void queryExtents(long sector, long sectors, Extents.Sink sink) {
        device.device().queryExtents(lowerSector(sector), sectors, sink);
    }
}
