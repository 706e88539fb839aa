package dev.cairn.dm.targets.zero;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.Extents;
import dev.cairn.block.QueueLimits;
import dev.cairn.dm.MapResult;
import dev.cairn.dm.Target;

/**
 * The zero target (Linux {@code dm-zero.c}): a READ is filled with zeros, every write-type operation
 * succeeds without effect. It has no device and no cache, so it takes no flushes. Status is empty in
 * both forms. Extents report a hole that reads as zeros: nothing is stored behind it.
 *
 * <p>Thread safety: stateless.
 */
final class ZeroTarget implements Target {
    @Override
    public MapResult map(Bio clone) {
        if (clone.op() == BioOp.READ) {
            clone.fill(0, clone.sizeBytes(), (byte) 0);
        }
        clone.complete(BioStatus.OK);
        return MapResult.SUBMITTED;
    }

    @Override
    public int numFlushBios() {
        return 0;
    }

    @Override
    public String statusTable() {
        return "";
    }

    @Override
    public QueueLimits ioHints(QueueLimits limits) {
        return limits.withDiscard(512, Long.MAX_VALUE >> 10).withWriteZeroes(Long.MAX_VALUE >> 10);
    }

    @Override
    public void queryExtents(long sector, long sectors, Extents.Sink sink) {
        sink.extent(sectors, Extents.HOLE | Extents.ZERO);
    }
}
