package dev.cairn.dm.targets.error;

import dev.cairn.block.Bio;
import dev.cairn.block.BioStatus;
import dev.cairn.dm.MapResult;
import dev.cairn.dm.Target;

/**
 * The error target (Linux {@code io_err} in {@code dm-target.c}): {@code map} kills every clone with
 * IOERR. Like Linux it takes no empty flushes (it has no device to flush), so a flush of a device that
 * has an error target elsewhere still succeeds. Status is empty in both forms; extents are reported as
 * data (the default), never as a hole, since reads fail.
 *
 * <p>Thread safety: stateless.
 */
final class ErrorTarget implements Target {
    @Override
    public MapResult map(Bio clone) {
        return MapResult.kill(BioStatus.IOERR);
    }

    @Override
    public int numFlushBios() {
        return 0;
    }

    @Override
    public String statusTable() {
        return "";
    }
}
