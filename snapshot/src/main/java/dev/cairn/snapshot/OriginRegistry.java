package dev.cairn.snapshot;

import dev.cairn.block.Bio;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.IoCompletion;
import dev.cairn.block.IoRwSemaphore;
import dev.cairn.block.Submitter;
import dev.cairn.dm.MapResult;
import dev.cairn.dm.SharedKey;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The snapshots of each origin device (Linux {@code _origins} hash and {@code _origins_lock}), kept
 * per {@code DeviceRegistry} through {@code TargetContext.shared}, never in a static. An origin write
 * goes through {@link #doOrigin}, which visits that origin's snapshots largest chunk first.
 *
 * <p>It also counts completed pending exceptions system-wide ({@code _pending_exceptions_done}), which
 * a merge waits on after it has triggered copies in the other snapshots.
 *
 * <p>Thread safety: the map is guarded by an {@link IoRwSemaphore} (read for origin writes, write to
 * register and unregister); the counter and its event are atomics.
 */
final class OriginRegistry {
    static final SharedKey<OriginRegistry> SHARED_KEY = SharedKey.of("snapshot origins", OriginRegistry.class);

    private final IoRwSemaphore lock;
    /** @GuardedBy("lock"). Each list sorted by chunk size, largest first. */
    private final Map<BlockDevice, List<Snapshot>> origins = new IdentityHashMap<>();
    private final Submitter submitter;
    private final AtomicLong pendingDone = new AtomicLong();
    private final AtomicReference<IoCompletion> pendingDoneEvent;

    OriginRegistry(Submitter submitter) {
        this.submitter = submitter;
        this.lock = new IoRwSemaphore(submitter, "snapshot origins");
        this.pendingDoneEvent = new AtomicReference<>(newEvent());
    }

    private IoCompletion newEvent() {
        return new IoCompletion(submitter, "a pending exception to complete");
    }

    /** Adds {@code s} to its origin's list ({@code register_snapshot}). */
    void register(Snapshot s) {
        lock.lockWrite();
        try {
            List<Snapshot> list = origins.computeIfAbsent(s.origin, o -> new ArrayList<>());
            insertSorted(list, s);
        } finally {
            lock.unlockWrite();
        }
    }

    private static void insertSorted(List<Snapshot> list, Snapshot s) {
        int i = 0;
        while (i < list.size() && list.get(i).chunkSectors >= s.chunkSectors) {
            i++;
        }
        list.add(i, s);
    }

    void unregister(Snapshot s) {
        lock.lockWrite();
        try {
            List<Snapshot> list = origins.get(s.origin);
            if (list != null) {
                list.remove(s);
                if (list.isEmpty()) {
                    origins.remove(s.origin);
                }
            }
        } finally {
            lock.unlockWrite();
        }
    }

    /** Snapshots of {@code origin} that use {@code cow} (for handover checks), in list order. */
    List<Snapshot> sharingCow(BlockDevice origin, BlockDevice cow) {
        lock.lockRead();
        try {
            List<Snapshot> out = new ArrayList<>();
            for (Snapshot s : origins.getOrDefault(origin, List.of())) {
                if (s.cow == cow) {
                    out.add(s);
                }
            }
            return out;
        } finally {
            lock.unlockRead();
        }
    }

    /** The smallest chunk size of {@code origin}'s snapshots, 0 when it has none. */
    int minimumChunkSectors(BlockDevice origin) {
        lock.lockRead();
        try {
            int min = 0;
            for (Snapshot s : origins.getOrDefault(origin, List.of())) {
                min = min == 0 ? s.chunkSectors : Math.min(min, s.chunkSectors);
            }
            return min;
        } finally {
            lock.unlockRead();
        }
    }

    /**
     * An origin write ({@code do_origin}): makes sure every active snapshot has the chunk at
     * {@code sector} copied. {@link MapResult#REMAPPED} when none needs a copy ({@code bio} may go to
     * the origin now); {@link MapResult#SUBMITTED} when copies were needed, in which case {@code bio}
     * (if not null) waits on one of them and is retried afterwards.
     */
    MapResult doOrigin(BlockDevice origin, long sector, Bio bio) {
        lock.lockRead();
        try {
            List<Snapshot> list = origins.get(origin);
            return list == null ? MapResult.REMAPPED : Snapshot.originWrite(list, sector, bio);
        } finally {
            lock.unlockRead();
        }
    }

    /** {@code origin_write_extent}: triggers copies for every chunk of the range; true when any must be waited for. */
    boolean originWriteExtent(BlockDevice origin, long sector, long sectors, int stepSectors) {
        boolean mustWait = false;
        lock.lockRead();
        try {
            List<Snapshot> list = origins.get(origin);
            if (list == null) {
                return false;
            }
            for (long n = 0; n < sectors; n += stepSectors) {
                if (Snapshot.originWrite(list, sector + n, null) == MapResult.SUBMITTED) {
                    mustWait = true;
                }
            }
        } finally {
            lock.unlockRead();
        }
        return mustWait;
    }

    // ---------------------------------------------------------------- pending exceptions done

    long pendingDoneCount() {
        return pendingDone.get();
    }

    /** Called once per finished pending exception, in any snapshot. */
    void pendingExceptionDone() {
        pendingDone.incrementAndGet();
        pendingDoneEvent.getAndSet(newEvent()).complete();
    }

    /** Waits until some pending exception finished after {@code previous} was read. */
    void awaitPendingDone(long previous) {
        while (pendingDone.get() == previous) {
            IoCompletion event = pendingDoneEvent.get();
            if (pendingDone.get() != previous) {
                return;
            }
            event.await();
        }
    }
}
