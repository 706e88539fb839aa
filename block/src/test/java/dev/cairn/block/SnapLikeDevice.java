package dev.cairn.block;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A test device with dm-snapshot's lock pattern, small enough to read in one sitting:
 * <ul>
 *   <li>bios are split at chunk boundaries (like dm core splitting at the snapshot's chunk size);
 *   <li>mapping a piece takes the device's write lock ({@code down_write(&s->lock)} for every bio),
 *       marks the chunk as tracked and remaps the piece to the origin;
 *   <li>a piece's end-io stops tracking the chunk;
 *   <li>{@link #pendingComplete} takes the write lock and, while holding it, sleeps until no read of
 *       the chunk is tracked (the old {@code __check_for_conflicting_io}).
 * </ul>
 * Under LEGACY and FLUSH_ON_BLOCK a bio's pieces are all mapped in one {@code submitBio} call;
 * under DEPTH_FIRST only the first piece is, and the rest is resubmitted.
 */
final class SnapLikeDevice extends StackedTestDevice {
    /** Called after a piece was mapped and queued, before the next piece is mapped. */
    interface Hooks {
        void afterPieceMapped(int pieceIndex, long chunk);
    }

    private final int chunkSectors;
    private final IoRwSemaphore lock;
    private final BioSet clones;
    private final Set<Long> tracked = ConcurrentHashMap.newKeySet();
    private volatile Hooks hooks = (i, c) -> { };

    SnapLikeDevice(Submitter submitter, BlockDevice origin, int chunkSectors) {
        super("snap-like", submitter, origin);
        this.chunkSectors = chunkSectors;
        this.lock = new IoRwSemaphore(submitter, "snap-like");
        this.clones = submitter.newBioSet("snap-like-clones", 16);
    }

    void setHooks(Hooks hooks) {
        this.hooks = hooks;
    }

    BioSet clones() {
        return clones;
    }

    boolean isTracked(long chunk) {
        return tracked.contains(chunk);
    }

    @Override
    public void submitBio(Bio bio) {
        int piece = 0;
        while (true) {
            long chunk = bio.sector() / chunkSectors;
            int toBoundary = (int) ((chunk + 1) * chunkSectors - bio.sector());
            boolean last = bio.sectors() <= toBoundary;
            Bio clone = bio.clone(clones);
            if (!last) {
                clone.trim(0, toBoundary);
            }
            clone.chain(bio);
            mapPiece(clone, chunk);
            hooks.afterPieceMapped(piece++, chunk);
            if (last) {
                bio.complete();
                return;
            }
            bio.advance(toBoundary << Sectors.SECTOR_SHIFT);
            if (submitter.policy().splitsDepthFirst() && Submitter.inSubmission()) {
                submitter.submit(bio);
                return;
            }
        }
    }

    /** snapshot_map for a read of an uncopied chunk: lock, track, remap to the origin. */
    private void mapPiece(Bio clone, long chunk) {
        lock.lockWrite();
        try {
            tracked.add(chunk);
        } finally {
            lock.unlockWrite();
        }
        Bio piece = clone.clone(clones);
        piece.setDevice(lower);
        piece.setEndIo(b -> {
            tracked.remove(chunk);
            clone.complete(b.status());
        });
        submitter.submit(piece);
    }

    /** The old pending_complete: holds the write lock while it waits for tracked reads of {@code chunk}. */
    void pendingComplete(long chunk, Runnable whenLocked) {
        lock.lockWrite();
        try {
            whenLocked.run();
            while (tracked.contains(chunk)) {
                IoSleep.sleep(submitter, Duration.ofMillis(1));
            }
        } finally {
            lock.unlockWrite();
        }
    }
}
