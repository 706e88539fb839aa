package dev.cairn.block.store;

import com.google.errorprone.annotations.concurrent.GuardedBy;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Native memory for {@link MemoryStore}'s 4 KiB pages: 2 MiB slabs carved into pages, handed out in
 * runs that are contiguous in memory where possible, and taken back with epoch-based reclamation.
 *
 * <p>Implementation notes.
 *
 * <p><b>Ids.</b> A page is an int id: slab {@code id >>> 9}, page {@code id & 511} of that slab. Ids that
 * differ by k within one slab are k pages apart in memory, so a run of them is copied with one call.
 *
 * <p><b>Allocation</b> ({@link #allocate}, under {@link #lock}; only first writes of a page get here, never
 * rewrites or reads): the caller passes a hint, the id after the one holding the previous device page, and
 * the pool extends that run if it is free (sequential writes stay contiguous across bios, even when other
 * threads allocate in between); otherwise next-fit from a cursor for a free run of the wanted length
 * (a fresh slab behaves as a bump allocator), scanning a bounded number of free fragments; then reclaims;
 * then takes whatever free pages there are, scattered (so memory stays bounded by the peak of what is
 * stored, never by the history); and only then maps a new slab.
 *
 * <p><b>Reclamation: the hazard.</b> A bio copies to or from a page after looking its id up, without a
 * lock. A DISCARD on another thread can unlink that page meanwhile; if the page went straight back to the
 * free set, a third bio could get it for other device data while the first is still copying: a write would
 * land in another range (silent corruption), a read would return another range's data (a leak). So an
 * unlinked page is <em>retired</em> into a limbo list and becomes free only after every bio that was in
 * progress when it was unlinked has finished:
 * <ul>
 *   <li>Every bio that touches page memory brackets its copies with {@link #enter()} / {@link #exit(int)}:
 *       one atomic increment and one decrement of a counter picked by the epoch's parity and a stripe of
 *       the thread id (striped and padded, so concurrent bios do not share a cache line). No lock.</li>
 *   <li>The epoch advances (under the lock) from E to E+1 only when every stripe of parity (E+1)&1 reads
 *       zero. Pages retired during epoch E (appended to limbo[E&1] under the same lock, after they were
 *       unlinked) are freed at the advance to E+2. Both advances checked one parity each, both after the
 *       unlink, and a bio that could have seen the page incremented one of the two parities before it
 *       looked the page up (volatile increment, then volatile read of the directory; the unlink is a
 *       volatile write before the volatile reads of the counters: the two cannot both miss each other)
 *       and keeps it incremented until it is done with the page. So that bio was over before the page is
 *       handed out again, whichever epoch value, even a stale one, it counted itself under.</li>
 *   <li>Advances are attempted, never waited for, when pages are retired and when an allocation finds no
 *       free run; bios are short (copies only, completion is after {@link #exit}), so the old parity drains
 *       fast and limbo holds at most about two batches of discards.</li>
 * </ul>
 * A page allocated but never published (a lost install race) was never visible and is freed at once.
 *
 * <p><b>Pins.</b> A read that hands page memory out beyond its {@link #exit} (an NBD reply sent straight from
 * the pages, {@link dev.cairn.block.SpliceSink}) pins those pages first ({@link #pin}, inside its
 * enter/exit): a per-page count, one atomic increment per page. A retired page whose grace period is over
 * but which is still pinned waits in a list of its own and is freed by a later advance once its count is
 * zero. No new pin can appear on it then (pins are taken only by bios that looked the page up, and those
 * have all exited), so a zero stays zero. Pins bound what a slow consumer holds back to the pages of its
 * own replies in flight, which its connection's budget bounds; a page that is pinned but not retired costs
 * nothing.
 *
 * <p><b>Returning memory.</b> A slab whose pages are all free is closed (its arena, {@link Arena#ofShared},
 * gives the memory back to the system) as long as another slab's worth of free pages remains, so a store
 * that is filled and then discarded shrinks, and one that alternates around a slab boundary does not map and
 * unmap on every call. The slabs that remain are closed by a {@link Cleaner} when the pool becomes
 * unreachable: {@link MemoryStore} has no close(), and its callers (tests, the CLI) simply drop it.
 *
 * <p>Slab memory is outside the Java heap and (as measured on JDK 25) not limited by {@code -Xmx} or
 * {@code -XX:MaxDirectMemorySize}: what bounds it is the store's capacity, plus free pages up to the peak.
 *
 * <p>Thread safety: {@link #enter}, {@link #exit}, {@link #slab}, {@link #offsetBytes}, {@link #pin} and
 * the action it returns take no lock and may be called from any thread; everything else takes {@link #lock}
 * (held for bitmap work only, no I/O and no waits, which is why it is a plain lock and not an
 * {@code IoMutex}).
 */
final class NativePagePool {
    static final int PAGE_SHIFT = 12;
    static final int PAGE_BYTES = 1 << PAGE_SHIFT;
    static final int SLAB_SHIFT = 9;
    static final int SLAB_PAGES = 1 << SLAB_SHIFT;
    static final long SLAB_BYTES = (long) SLAB_PAGES << PAGE_SHIFT;
    /** Ids are stored as id + 1 by the store, so the largest id is one below Integer.MAX_VALUE. */
    private static final int MAX_SLABS = (Integer.MAX_VALUE - 1) / SLAB_PAGES;
    /** How many free fragments a run search looks at before it settles for scattered pages. */
    private static final int RUN_PROBES = 32;

    private static final int STRIPES = 8;
    /** 16 longs = 128 bytes between counters: no two stripes share a cache line (or an adjacent-line prefetch). */
    private static final int PAD_SHIFT = 4;

    private static final Cleaner CLEANER = Cleaner.create();

    /** In-flight bio counters: index ((parity * STRIPES) + stripe) << PAD_SHIFT. */
    private final AtomicLongArray inFlight = new AtomicLongArray((2 * STRIPES) << PAD_SHIFT);
    private volatile int epoch;

    private final ReentrantLock lock = new ReentrantLock();
    /**
     * Slab memory by slab index, replaced by a larger copy when it grows. A reader reads it after the
     * directory slot that gave it the id, and the slot was published after the slab was stored here.
     */
    private volatile MemorySegment[] slabs = new MemorySegment[8];
    /** Guarded by lock. */
    @GuardedBy("lock")
    private final Slabs arenas = new Slabs();
    /** Guarded by lock: a set bit = a page of a mapped slab that is free to hand out. */
    @GuardedBy("lock")
    private final BitSet free = new BitSet();
    /** Guarded by lock: free pages per slab. */
    @GuardedBy("lock")
    private int[] slabFree = new int[8];
    /** Guarded by lock. */
    @GuardedBy("lock")
    private int freePages;
    /** Guarded by lock: slab indexes in use; {@code slabs[i] == null} below it for closed slabs. */
    @GuardedBy("lock")
    private int slabLimit;
    /** Guarded by lock. */
    @GuardedBy("lock")
    private int mappedSlabs;
    /** Guarded by lock: next-fit start. */
    @GuardedBy("lock")
    private int cursor;
    /** Guarded by lock: pages retired during an epoch of each parity. */
    @GuardedBy("lock")
    private final IntList[] limbo = {new IntList(), new IntList()};
    /**
     * Pin counts, one per page, by slab index. A slab's array is stored before the slab itself is published
     * (see {@link #slabs}), so a reader that got an id from the directory finds it.
     */
    private volatile AtomicIntegerArray[] pins = new AtomicIntegerArray[8];
    /** Guarded by lock: retired pages past their grace period that a pin still holds. */
    @GuardedBy("lock")
    private final IntList pinnedRetired = new IntList();

    NativePagePool() {
        CLEANER.register(this, arenas);
    }

    // ---------------------------------------------------------------- hot path, no lock

    /** Marks the calling bio in flight; returns the token for {@link #exit}. */
    int enter() {
        int stripe = (int) Thread.currentThread().threadId() & (STRIPES - 1);
        int token = (((epoch & 1) * STRIPES) + stripe) << PAD_SHIFT;
        // happens-before: this increment precedes the bio's directory reads (both are volatile accesses)
        inFlight.getAndIncrement(token);
        return token;
    }

    /** Ends what {@link #enter} began: page ids read since then may be reused once every such bio has exited. */
    void exit(int token) {
        inFlight.getAndDecrement(token);
        // the pool (and so its slabs' arenas) stays reachable until the copies are done
        Reference.reachabilityFence(this);
    }

    /** The memory of the slab holding page {@code id}; valid while the caller is between enter and exit. */
    MemorySegment slab(int id) {
        return slabs[id >>> SLAB_SHIFT];
    }

    /**
     * Pins pages {@code [id, id + pages)} (consecutive ids in one slab) for a reader that uses their memory
     * after its {@link #exit}: if they are retired meanwhile, they are not reused until the returned action
     * has run. Call between {@link #enter} and {@link #exit}, after the lookup that gave {@code id}; run the
     * action exactly once, on any thread.
     */
    Runnable pin(int id, int pages) {
        AtomicIntegerArray counts = pins[id >>> SLAB_SHIFT];
        int first = id & (SLAB_PAGES - 1);
        for (int i = 0; i < pages; i++) {
            counts.getAndIncrement(first + i);
        }
        return new Pin(this, counts, first, pages);
    }

    /** Pages retired and past their grace period that are still pinned, for tests. */
    int pinnedRetiredPages() {
        lock.lock();
        try {
            return pinnedRetired.size;
        } finally {
            lock.unlock();
        }
    }

    static long offsetBytes(int id) {
        return (long) (id & (SLAB_PAGES - 1)) << PAGE_SHIFT;
    }

    /** True when id + pages is in the same slab as id, so the memory of [id, id + pages] is contiguous. */
    static boolean contiguous(int id, int pages) {
        return (id & (SLAB_PAGES - 1)) + pages < SLAB_PAGES;
    }

    // ---------------------------------------------------------------- allocation and reclamation

    /**
     * Fills {@code ids[0, count)} with free pages, unpublished and with unspecified contents, in as few runs
     * of consecutive ids as it can, starting at {@code hint} if that page is free ({@code -1}: no hint).
     */
    void allocate(int count, int hint, int[] ids) {
        lock.lock();
        try {
            int got = 0;
            if (hint >= 0 && free.get(hint)) {
                got = take(hint, count, ids, 0);
            }
            while (got < count) {
                int need = count - got;
                int start = findRun(need);
                if (start < 0 && tryAdvance()) {
                    tryAdvance(); // a second advance frees the other limbo list as well, when nothing holds it
                    start = findRun(need);
                }
                if (start < 0) {
                    start = freePages > 0 ? free.nextSetBit(0) : mapSlab();
                }
                got += take(start, need, ids, got);
            }
        } finally {
            lock.unlock();
        }
    }

    /** Takes free pages back that were allocated but never published: nobody else can have seen them. */
    void free(int[] ids, int count) {
        lock.lock();
        try {
            for (int i = 0; i < count; i++) {
                release(ids[i]);
            }
        } finally {
            lock.unlock();
        }
    }

    /** Takes back pages that were unlinked from the directory: free again once no bio may still use them. */
    void retire(IntList ids) {
        lock.lock();
        try {
            limbo[epoch & 1].addAll(ids);
            // with no bio in flight, two advances make these very pages free again at once
            if (tryAdvance()) {
                tryAdvance();
            }
        } finally {
            lock.unlock();
        }
    }

    /** Bytes of native memory mapped: pages in use, free, and waiting in limbo. */
    long reservedBytes() {
        lock.lock();
        try {
            return mappedSlabs * SLAB_BYTES;
        } finally {
            lock.unlock();
        }
    }

    /** Advances the epoch if the parity it moves to has no bio in flight, and frees that parity's limbo. */
    @GuardedBy("lock")
    private boolean tryAdvance() {
        int next = epoch + 1;
        int base = ((next & 1) * STRIPES) << PAD_SHIFT;
        for (int s = 0; s < STRIPES; s++) {
            if (inFlight.get(base + (s << PAD_SHIFT)) != 0) {
                return false;
            }
        }
        epoch = next;
        IntList reusable = limbo[next & 1]; // retired during epoch next - 2: two quiescent checks since
        for (int i = 0; i < reusable.size; i++) {
            int id = reusable.values[i];
            if (pinned(id)) {
                pinnedRetired.add(id);
            } else {
                release(id);
            }
        }
        reusable.clear();
        int kept = 0;
        for (int i = 0; i < pinnedRetired.size; i++) {
            int id = pinnedRetired.values[i];
            if (pinned(id)) {
                pinnedRetired.values[kept++] = id;
            } else {
                release(id);
            }
        }
        pinnedRetired.size = kept;
        return true;
    }

    private boolean pinned(int id) {
        return pins[id >>> SLAB_SHIFT].get(id & (SLAB_PAGES - 1)) != 0;
    }

    @GuardedBy("lock")
    private void release(int id) {
        assert !free.get(id) : "page freed twice: " + id;
        free.set(id);
        freePages++;
        int slab = id >>> SLAB_SHIFT;
        if (++slabFree[slab] == SLAB_PAGES && freePages >= 2 * SLAB_PAGES) {
            unmapSlab(slab);
        }
    }

    /** Start of a run of free pages (within one slab) of {@code need} pages or to the slab's end, or -1. */
    @GuardedBy("lock")
    private int findRun(int need) {
        int want = Math.min(need, SLAB_PAGES);
        int from = cursor;
        boolean wrapped = false;
        for (int probe = 0; probe < RUN_PROBES; probe++) {
            int start = free.nextSetBit(from);
            if (start < 0) {
                if (wrapped || from == 0) {
                    return -1;
                }
                wrapped = true;
                from = 0;
                continue;
            }
            if (wrapped && start >= cursor) {
                return -1;
            }
            int slabEnd = (start | (SLAB_PAGES - 1)) + 1;
            int end = Math.min(free.nextClearBit(start), slabEnd);
            if (end - start >= want) {
                return start;
            }
            from = end;
        }
        return -1;
    }

    /** Takes up to {@code need} consecutive free pages from {@code start} within its slab; returns how many. */
    @GuardedBy("lock")
    private int take(int start, int need, int[] ids, int at) {
        int slabEnd = (start | (SLAB_PAGES - 1)) + 1;
        int id = start;
        while (id - start < need && id < slabEnd && free.get(id)) {
            ids[at + id - start] = id;
            id++;
        }
        int n = id - start;
        free.clear(start, id);
        freePages -= n;
        slabFree[start >>> SLAB_SHIFT] -= n;
        cursor = id;
        return n;
    }

    // The slab's arena outlives this method on purpose: it is kept in arenas and closed by unmapSlab or close.
    @GuardedBy("lock")
    @SuppressWarnings("MustBeClosedChecker")
    private int mapSlab() {
        int slab = 0;
        MemorySegment[] current = slabs;
        while (slab < slabLimit && current[slab] != null) {
            slab++;
        }
        if (slab >= MAX_SLABS) {
            throw new OutOfMemoryError("memory store: " + MAX_SLABS + " slabs of " + SLAB_BYTES
                    + " bytes (expected: fewer, page ids are ints)");
        }
        AtomicIntegerArray[] pinCounts = pins;
        if (slab >= current.length) {
            int length = (int) Math.min(MAX_SLABS, (long) current.length * 2);
            current = Arrays.copyOf(current, length);
            slabFree = Arrays.copyOf(slabFree, length);
        }
        if (slab >= pinCounts.length) {
            pinCounts = Arrays.copyOf(pinCounts, current.length);
        }
        Arena arena = Arena.ofShared();
        MemorySegment memory;
        try {
            memory = arena.allocate(SLAB_BYTES, PAGE_BYTES);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
        arenas.set(slab, arena);
        pinCounts[slab] = new AtomicIntegerArray(SLAB_PAGES);
        pins = pinCounts; // before the slab: a reader that can see its ids can see its pin counts
        current[slab] = memory;
        slabs = current; // happens-before: ids from this slab are published (by the store) after this write
        slabLimit = Math.max(slabLimit, slab + 1);
        mappedSlabs++;
        int first = slab << SLAB_SHIFT;
        free.set(first, first + SLAB_PAGES);
        freePages += SLAB_PAGES;
        slabFree[slab] = SLAB_PAGES;
        return first;
    }

    /** All pages of {@code slab} are free and none is in limbo or in use: nobody can touch its memory. */
    @GuardedBy("lock")
    private void unmapSlab(int slab) {
        int first = slab << SLAB_SHIFT;
        free.clear(first, first + SLAB_PAGES);
        freePages -= SLAB_PAGES;
        slabFree[slab] = 0;
        slabs[slab] = null;
        mappedSlabs--;
        arenas.close(slab);
    }

    /** The arenas behind the slabs; the cleaner's action, so it must not refer to the pool. */
    private static final class Slabs implements Runnable {
        private final List<Arena> arenas = new ArrayList<>();

        synchronized void set(int slab, Arena arena) {
            while (arenas.size() <= slab) {
                arenas.add(null);
            }
            arenas.set(slab, arena);
        }

        synchronized void close(int slab) {
            arenas.set(slab, null).close();
        }

        @Override
        public synchronized void run() {
            for (Arena a : arenas) {
                if (a != null) {
                    a.close();
                }
            }
            arenas.clear();
        }
    }

    /**
     * Unpins a run of pages of one slab; the action {@link #pin} returns. It refers to the pool so that the
     * pool, whose cleaner would close the slabs, stays reachable while someone still holds pinned memory.
     */
    private record Pin(NativePagePool pool, AtomicIntegerArray counts, int first, int pages) implements Runnable {
        @Override
        public void run() {
            for (int i = 0; i < pages; i++) {
                int left = counts.decrementAndGet(first + i);
                assert left >= 0 : "page unpinned more often than pinned";
            }
            Reference.reachabilityFence(pool);
        }
    }

    /** A growable list of ints (page ids), so large discards do not box. */
    static final class IntList {
        int[] values = new int[16];
        int size;

        void add(int value) {
            if (size == values.length) {
                values = Arrays.copyOf(values, size * 2);
            }
            values[size++] = value;
        }

        void addAll(IntList other) {
            if (size + other.size > values.length) {
                values = Arrays.copyOf(values, Math.max(size + other.size, size * 2));
            }
            System.arraycopy(other.values, 0, values, size, other.size);
            size += other.size;
        }

        void clear() {
            size = 0;
        }
    }
}
