package dev.cairn.bench.harness;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.QueueLimits;
import dev.cairn.testkit.ForwardingDevice;

/**
 * A leaf that advertises a write cache with FUA over one that has none (a {@code MemoryStore}): FLUSH completes
 * at once (every completed write already is as durable as memory gets), a FUA write is an ordinary write. The
 * {@code mem NAME SIZE cache} leaf of {@link StackServeMain}: without it the NBD server does not offer FLUSH
 * and a client that sends one (fio {@code --fsync}) fails, so the log-writes rows' baseline could not run the
 * same workload. Thread-safe (stateless over a thread-safe device).
 */
final class CachedLeaf extends ForwardingDevice {
    private final QueueLimits limits;

    CachedLeaf(BlockDevice lower) {
        super(lower);
        this.limits = lower.limits().withCache(true, true);
    }

    @Override
    public QueueLimits limits() {
        return limits;
    }

    @Override
    public void submitBio(Bio bio) {
        if (bio.op() == BioOp.FLUSH) {
            bio.complete(BioStatus.OK);
            return;
        }
        super.submitBio(bio);
    }
}
