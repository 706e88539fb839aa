package dev.cairn.snapshot;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.QueueLimits;
import dev.cairn.dm.DeviceRef;
import dev.cairn.dm.MapResult;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetContext;
import dev.cairn.dm.TargetIo;

/**
 * {@code snapshot-origin <origin>}: the origin device as its users see it (Linux {@code origin_map}).
 * Reads pass straight through. A write first makes every active snapshot of the origin copy the
 * chunk it touches (largest chunk size first); the write itself waits until those copies are
 * committed. Writes are cut at the smallest chunk size of the origin's snapshots, so one write
 * never needs two chunks of the same snapshot.
 *
 * <p>Thread safety: stateless apart from the shared {@link OriginRegistry}.
 */
final class OriginTarget implements Target {
    private final TargetContext context;
    private final DeviceRef originRef;
    private final BlockDevice origin;
    private final OriginRegistry registry;

    OriginTarget(TargetContext context, DeviceRef originRef, OriginRegistry registry) {
        this.context = context;
        this.originRef = originRef;
        this.origin = originRef.device();
        this.registry = registry;
    }

    @Override
    public MapResult map(Bio clone) {
        long sector = context.targetOffset(clone.sector());
        clone.setDevice(origin).setSector(sector);
        BioOp op = clone.op();
        if (op == BioOp.FLUSH || !op.isWrite()) {
            return MapResult.REMAPPED;
        }
        return mapOriginWrite(registry, origin, clone, sector, registry.minimumChunkSectors(origin));
    }

    /**
     * A write to the origin, already remapped to it: cut at {@code splitSectors} (the smallest
     * snapshot chunk; Linux {@code split_boundary} with {@code dm_accept_partial_bio}), then
     * {@code do_origin}.
     */
    static MapResult mapOriginWrite(OriginRegistry registry, BlockDevice origin, Bio clone, long sector,
            int splitSectors) {
        if (splitSectors > 0) {
            long available = splitSectors - (sector & (splitSectors - 1L));
            if (clone.sectors() > available) {
                TargetIo.of(clone).acceptPartial(clone, (int) available);
            }
        }
        return registry.doOrigin(origin, sector, clone);
    }

    @Override
    public String statusTable() {
        return originRef.spec();
    }

    @Override
    public void iterateDevices(DeviceVisitor visitor) {
        visitor.visit(originRef, 0, context.lengthSectors());
    }

    /** Like Linux's origin target: no discard or write-zeroes (they would have to copy out first). */
    @Override
    public QueueLimits ioHints(QueueLimits limits) {
        return limits.withDiscard(0, 0).withWriteZeroes(0);
    }

    @Override
    public String toString() {
        return "snapshot-origin " + originRef.spec();
    }
}
