package dev.cairn.block.store;

import dev.cairn.block.Bio;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.QueueLimits;

/**
 * A device that completes every bio at once without touching its data (Linux {@code null_blk}
 * with {@code memory_backed=0}). For benchmarks of the submission path and as a sink in tests.
 *
 * <p>Thread safety: stateless.
 */
public final class NullDevice implements BlockDevice {
    private final String name;
    private final long capacitySectors;
    private final QueueLimits limits = QueueLimits.defaults();

    public NullDevice(String name, long capacitySectors) {
        this.name = name;
        this.capacitySectors = capacitySectors;
    }

    @Override
    public String name() {
        return name;
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
        bio.complete();
    }
}
