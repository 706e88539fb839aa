package dev.cairn.bench.block;

import dev.cairn.block.Bio;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.Submitter;

/** The cheapest stacking driver: remaps every bio to the device below at an offset (dm-linear's map). */
final class RemapLayer implements BlockDevice {
    private final Submitter submitter;
    private final BlockDevice lower;
    private final long offsetSectors;
    private final long capacitySectors;
    private final QueueLimits limits;

    RemapLayer(Submitter submitter, BlockDevice lower, long offsetSectors) {
        this.submitter = submitter;
        this.lower = lower;
        this.offsetSectors = offsetSectors;
        this.capacitySectors = lower.capacitySectors() - offsetSectors;
        this.limits = lower.limits();
    }

    static BlockDevice stack(Submitter submitter, BlockDevice leaf, int depth) {
        BlockDevice dev = leaf;
        for (int i = 0; i < depth; i++) {
            dev = new RemapLayer(submitter, dev, 8);
        }
        return dev;
    }

    @Override
    public String name() {
        return "remap";
    }

    @Override
    public long capacitySectors() {
        return capacitySectors;
    }

    @Override
    public QueueLimits limits() {
        return limits;
    }

    @Override
    public void submitBio(Bio bio) {
        bio.setDevice(lower).setSector(bio.sector() + offsetSectors);
        submitter.submit(bio);
    }
}
