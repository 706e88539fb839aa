package dev.cairn.block;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The bio submission engine ({@code generic_make_request}), with one {@link SubmitPolicy}.
 *
 * <h2>Implementation notes</h2>
 * <b>Recursion becomes iteration.</b> Each thread has a submission state holding its bio lists. The
 * outermost {@link #submit} on a thread marks the state active, dispatches the bio to its device,
 * then keeps popping bios off the thread's list and dispatching them until it is empty. A nested
 * {@code submit} (from inside a device's {@code submitBio}) only appends to the list and returns, so a
 * stack of any depth runs in constant Java stack, but a bio a driver submits does not start until that
 * driver returns.
 *
 * <p><b>Ordering.</b> LEGACY and FLUSH_ON_BLOCK pop FIFO. DEPTH_FIRST follows Linux 4.11
 * ({@code 79bd99596b73}): before each dispatch the pending list moves aside; afterwards the new bios
 * are sorted into those for other ("lower") devices and those for the same device, and the list
 * becomes lower ++ same ++ older pending.
 *
 * <p><b>About to block.</b> Every blocking primitive ({@link IoMutex}, {@link IoRwSemaphore},
 * {@link IoCompletion}, {@link IoSleep}, {@link BioSet#alloc()}) takes its fast path without calling
 * in here; only when it is really going to park does it call {@link #parkBegin}, which runs the
 * thread's plug callbacks ({@code fromSchedule = true}) and then, under FLUSH_ON_BLOCK, hands every
 * parked bio that came from a {@link BioSet} to that set's rescuer (the patch; bios with no set stay, in
 * order). Under every policy an empty BioSet first punts its own parked bios (the 2012 rule).
 *
 * <p><b>Checks at every hop.</b> Before a device sees a bio, the submitter checks the range, the
 * alignment to the logical block size, read-only, operation support, and splits bios larger than the
 * device's {@code maxSectors} (the front goes first, the rest is queued, as {@code blk_queue_split}),
 * and drops FUA and PREFLUSH for a device without a volatile write cache. A device therefore never sees
 * a bio it cannot take; a device with a write cache must honour FUA and PREFLUSH itself.
 *
 * <p>Thread safety: {@link #submit} may be called from any thread. The per-thread state is confined to its
 * thread except that the watchdog reads descriptions copied at park time. The per-thread state is a
 * static {@link ThreadLocal} because it is the analog of Linux's {@code current}: a property of the
 * thread, not configuration; the policy and everything else is per instance.
 */
public final class Submitter implements AutoCloseable {
    private static final ThreadLocal<ThreadState> STATE = ThreadLocal.withInitial(ThreadState::new);

    private final SubmitterConfig config;
    private final SubmitPolicy policy;
    private final Set<ParkRecord> parked = ConcurrentHashMap.newKeySet();
    private final List<BioSet> bioSets = new CopyOnWriteArrayList<>();
    private final BioSet splitSet;
    private final Watchdog watchdog;
    private volatile boolean shutdown;
    /** The explorer's hook (null in production); each primitive copies it into a final field of its own. */
    final SchedulingHook hook;
    /** Coarse clock for in-flight tracking, advanced by the watchdog (0 when there is none). */
    volatile long tick;

    /** Per-thread submission state (Linux {@code current->bio_list} and {@code current->plug}). */
    static final class ThreadState {
        /** The submitter whose outermost submit runs on this thread, or null. */
        Submitter active;
        /** New bios ({@code bio_list_on_stack[0]}). */
        final BioList list0 = new BioList();
        /** Older pending bios under DEPTH_FIRST ({@code bio_list_on_stack[1]}). */
        final BioList list1 = new BioList();
        final BioList lower = new BioList();
        final BioList same = new BioList();
        /** The active plug, or null. */
        Plug plug;
        /** Guards against re-entering the block hook from a plug callback that blocks. */
        boolean inBlockHook;
    }

    private Submitter(SubmitterConfig config) {
        this.config = config;
        this.policy = config.policy();
        this.hook = config.schedulingHook();
        this.splitSet = new BioSet(this, config.name() + "-split", 64);
        this.watchdog = config.watchdogThreshold() == null ? null : new Watchdog(this, config.watchdogThreshold(),
                config.watchdogReporter());
    }

    /** A submitter with {@code config}; close it to stop its rescuers and watchdog. */
    public static Submitter create(SubmitterConfig config) {
        Submitter s = new Submitter(config);
        if (s.watchdog != null) {
            s.watchdog.start();
        }
        return s;
    }

    /** A submitter with the default configuration and {@code policy}. */
    public static Submitter create(SubmitPolicy policy) {
        return create(SubmitterConfig.defaults().withPolicy(policy));
    }

    public SubmitPolicy policy() {
        return policy;
    }

    public String name() {
        return config.name();
    }

    public boolean isShutdown() {
        return shutdown;
    }

    /** True when the calling thread is inside a submission (a device's {@code submitBio} is running on it). */
    public static boolean inSubmission() {
        return STATE.get().active != null;
    }

    /** A new bounded bio set with its own (lazily started) rescuer. */
    public BioSet newBioSet(String name, int capacity) {
        return new BioSet(this, name, capacity);
    }

    void register(BioSet set) {
        bioSets.add(set);
    }

    void unregister(BioSet set) {
        bioSets.remove(set);
    }

    /** The bio sets made from this submitter and not closed yet, at this moment (for statistics). */
    public List<BioSet> openBioSets() {
        return List.copyOf(bioSets);
    }

    /** Watchdog reports made so far (0 without a watchdog). */
    public long watchdogReportCount() {
        return watchdog == null ? 0 : watchdog.reportCount();
    }

    List<BioSet> bioSets() {
        return bioSets;
    }

    // ---------------------------------------------------------------- submission

    /**
     * Submits {@code bio} to {@code bio.device()} ({@code generic_make_request}). Returns when the bio and
     * everything it spawned on this thread has been dispatched (not necessarily completed). Inside a
     * device's {@code submitBio} it only queues the bio.
     */
    public void submit(Bio bio) {
        ThreadState ts = STATE.get();
        if (ts.active != null) {
            ts.list0.add(bio);
            return;
        }
        ts.active = this;
        try {
            if (policy == SubmitPolicy.DEPTH_FIRST) {
                runDepthFirst(ts, bio);
            } else {
                runFifo(ts, bio);
            }
        } catch (RuntimeException | Error e) {
            ts.active = null;
            failParked(ts);
            throw e;
        } finally {
            ts.active = null;
        }
    }

    private void runFifo(ThreadState ts, Bio bio) {
        do {
            dispatch(ts, bio);
            bio = ts.list0.pop();
        } while (bio != null);
    }

    private void runDepthFirst(ThreadState ts, Bio bio) {
        do {
            BlockDevice device = bio.device();
            ts.list0.moveTo(ts.list1);
            dispatch(ts, bio);
            Bio b;
            while ((b = ts.list0.pop()) != null) {
                (b.device() == device ? ts.same : ts.lower).add(b);
            }
            ts.list0.addAll(ts.lower);
            ts.list0.addAll(ts.same);
            ts.list0.addAll(ts.list1);
            bio = ts.list0.pop();
        } while (bio != null);
    }

    /** The generic checks, a split at the device's size limit, then the device's {@code submitBio}. */
    private void dispatch(ThreadState ts, Bio bio) {
        BlockDevice device = bio.device();
        if (device == null) {
            throw new IllegalArgumentException("bio has no device: " + bio);
        }
        if (shutdown) {
            bio.complete(BioStatus.ABORTED);
            return;
        }
        QueueLimits limits = device.limits();
        BioOp op = bio.op();
        if (op == BioOp.FLUSH) {
            if (bio.sizeBytes() != 0) {
                bio.complete(BioStatus.INVALID);
            } else if (!limits.writeCache()) {
                bio.complete();
            } else {
                device.submitBio(bio);
            }
            return;
        }
        BioStatus bad = check(bio, device, limits, op);
        if (bad != null) {
            bio.complete(bad);
            return;
        }
        if (bio.sizeBytes() == 0) {
            bio.complete();
            return;
        }
        if (!limits.writeCache() && (bio.flags() & (BioFlags.FUA | BioFlags.PREFLUSH)) != 0) {
            // Nothing volatile to flush: every completed write is already durable (submit_bio_noacct).
            bio.clearFlags(BioFlags.FUA | BioFlags.PREFLUSH);
        }
        long max = switch (op) {
            case DISCARD -> limits.maxDiscardSectors();
            case WRITE_ZEROES -> limits.maxWriteZeroesSectors();
            default -> limits.maxSectors();
        };
        if (max > 0 && bio.sectors() > max) {
            int frontSectors = (int) (max - (max % (limits.logicalBlockBytes() >>> Sectors.SECTOR_SHIFT)));
            Bio front = bio.split(frontSectors, splitSet);
            ts.list0.add(bio);
            bio = front;
        }
        device.submitBio(bio);
    }

    private static BioStatus check(Bio bio, BlockDevice device, QueueLimits limits, BioOp op) {
        if (op.isWrite() && limits.readOnly()) {
            return BioStatus.PERM;
        }
        if ((op == BioOp.DISCARD && !limits.supportsDiscard())
                || (op == BioOp.WRITE_ZEROES && !limits.supportsWriteZeroes())) {
            return BioStatus.NOTSUPP;
        }
        if (op.hasData() && !bio.hasData() && bio.sizeBytes() != 0) {
            return BioStatus.INVALID;
        }
        long blockMask = limits.logicalBlockBytes() - 1;
        if (((bio.sector() << Sectors.SECTOR_SHIFT) & blockMask) != 0 || (bio.sizeBytes() & blockMask) != 0) {
            return BioStatus.INVALID;
        }
        long capacity = device.capacitySectors();
        if (bio.sector() > capacity || bio.sectors() > capacity - bio.sector()) {
            return BioStatus.INVALID;
        }
        return null;
    }

    /** After a driver threw: the bios still queued on this thread never started; fail them. */
    private void failParked(ThreadState ts) {
        BioList all = new BioList();
        all.addAll(ts.list0);
        all.addAll(ts.list1);
        all.addAll(ts.lower);
        all.addAll(ts.same);
        BioStatus status = shutdown ? BioStatus.ABORTED : BioStatus.IOERR;
        Bio b;
        while ((b = all.pop()) != null) {
            b.complete(status);
        }
    }

    // ---------------------------------------------------------------- about to block

    /**
     * Called by a blocking primitive right before it parks: runs the block hook for the calling thread
     * and registers the wait with the watchdog. Pair with {@link #parkEnd} in a finally block.
     */
    ParkRecord parkBegin(ParkRecord.Blocker primitive) {
        if (shutdown) {
            throw new IoAbortedException(config.name() + " is shutting down; not waiting in " + primitive.describe());
        }
        ThreadState ts = STATE.get();
        beforeBlock(ts);
        List<String> left = ts.list0.isEmpty() && ts.list1.isEmpty() ? List.of() : describeParked(ts);
        ParkRecord record = new ParkRecord(Thread.currentThread(), primitive, System.nanoTime(), left);
        parked.add(record);
        if (shutdown) {
            parked.remove(record);
            throw new IoAbortedException(config.name() + " is shutting down; not waiting in " + primitive.describe());
        }
        return record;
    }

    void parkEnd(ParkRecord record) {
        parked.remove(record);
    }

    /** The block hook for the calling thread, for a primitive that parks again within one registered wait. */
    static void beforeBlock() {
        beforeBlock(STATE.get());
    }

    /** The analog of {@code sched_submit_work}: plug callbacks, then the policy's flush. */
    private static void beforeBlock(ThreadState ts) {
        if (ts.inBlockHook) {
            return;
        }
        ts.inBlockHook = true;
        try {
            if (ts.plug != null) {
                ts.plug.flush(true);
            }
            Submitter active = ts.active;
            if (active != null && active.policy.flushesOnBlock()) {
                punt(ts, null);
            }
        } finally {
            ts.inBlockHook = false;
        }
    }

    /** The 2012 rule: before waiting on an empty {@code set}, punt the calling thread's parked bios from it. */
    static void puntOwn(BioSet set) {
        ThreadState ts = STATE.get();
        if (ts.active != null) {
            punt(ts, set);
        }
    }

    /** Moves parked bios that came from {@code only} (or from any set when null) to their set's rescuer. */
    private static void punt(ThreadState ts, BioSet only) {
        puntList(ts.list0, only);
        puntList(ts.list1, only);
    }

    private static void puntList(BioList list, BioSet only) {
        if (list.isEmpty()) {
            return;
        }
        BioList keep = new BioList();
        Bio b;
        while ((b = list.pop()) != null) {
            BioSet set = b.pool;
            if (set != null && (only == null || set == only) && !set.isClosed()) {
                set.rescue(b);
            } else {
                keep.add(b);
            }
        }
        list.addAll(keep);
    }

    private static List<String> describeParked(ThreadState ts) {
        List<String> out = new ArrayList<>(ts.list0.describe());
        out.addAll(ts.list1.describe());
        return out;
    }

    static ThreadState state() {
        return STATE.get();
    }

    Set<ParkRecord> parkedThreads() {
        return parked;
    }

    // ---------------------------------------------------------------- shutdown

    /**
     * Shuts down: new bios complete with ABORTED, every thread waiting in a primitive of this submitter gets
     * {@link IoAbortedException}, rescuers and the watchdog stop. Idempotent.
     */
    public void shutdown() {
        if (shutdown) {
            return;
        }
        shutdown = true;
        for (ParkRecord r : parked) {
            r.thread().interrupt();
        }
        if (watchdog != null) {
            watchdog.close();
        }
        for (BioSet set : bioSets) {
            set.stopRescuer();
        }
    }

    @Override
    public void close() {
        shutdown();
    }

    @Override
    public String toString() {
        return "Submitter[" + config.name() + ", " + policy.configName() + "]";
    }
}
