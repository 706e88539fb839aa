package dev.cairn.snapshot;

import dev.cairn.block.Bio;
import dev.cairn.dm.TargetIo;
import java.util.ArrayList;
import java.util.List;

/**
 * A chunk being copied to the COW (Linux {@code struct dm_snap_pending_exception}): allocated in
 * the store, the copy started or about to be, with the bios that wait for it.
 *
 * <p>Thread safety: every field is guarded by the owning snapshot's lock, except that the bio lists
 * are handed to {@code pendingComplete} once the exception has left the pending table.
 */
final class PendingException {
    final Snapshot snapshot;
    final long oldChunk;
    final long newChunk;
    /** Origin writes that wait for this copy, then go through {@code doOrigin} again. */
    final List<Bio> originBios = new ArrayList<>();
    /** Snapshot writes already remapped to the COW chunk; submitted once the exception is committed. */
    final List<Bio> snapshotBios = new ArrayList<>();
    /** True once the copy (or the whole-chunk write that replaces it) has been started. */
    boolean started;
    /** A whole-chunk snapshot write that was sent instead of a copy; finished after the commit. */
    TargetIo fullBio;

    PendingException(Snapshot snapshot, long oldChunk, long newChunk) {
        this.snapshot = snapshot;
        this.oldChunk = oldChunk;
        this.newChunk = newChunk;
    }

    @Override
    public String toString() {
        return "PendingException[" + oldChunk + " -> " + newChunk + (started ? ", started" : "") + "]";
    }
}
