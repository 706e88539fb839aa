package dev.cairn.daemon;

import dev.cairn.daemon.proto.SnapshotProto;
import dev.cairn.dm.DeviceState;
import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.StatusType;
import dev.cairn.dm.SuspendMode;
import dev.cairn.snapshot.SnapshotStatus;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code snapshot merge} and what follows it: the merge verb (now, deferred, or forced), the monitor that
 * puts the origin's own table back once the {@code snapshot-merge} target has copied every exception back,
 * and the deferred merges that start once nothing has their devices open. See {@link Snapshots} for the
 * device dance and the transactions.
 *
 * <p>The monitor reads the origin's {@link SnapshotStatus} from its target every {@link #MONITOR_PERIOD}
 * (typed, in this process; nothing parses status text): the merge is done when {@code allocated ==
 * metadata}.
 *
 * <p>Thread safety: the verb, the end of a merge and a deferred merge's start run under
 * {@link Snapshots}' lock and the devices' name locks; the monitor threads poll without a lock.
 */
final class SnapshotMerges {
    private static final Logger LOG = LoggerFactory.getLogger(SnapshotMerges.class);
    static final Duration MONITOR_PERIOD = Duration.ofMillis(200);

    private final DaemonContext ctx;
    private final Snapshots snapshots;
    /** Snapshot name -> its merge monitor thread. */
    private final Map<String, Thread> monitors = new ConcurrentHashMap<>();
    /** Snapshot name -> sectors left to merge when its monitor started (for the progress percentage). */
    private final Map<String, Long> mergeStartSectors = new ConcurrentHashMap<>();
    private volatile boolean stopping;

    SnapshotMerges(DaemonContext ctx, Snapshots snapshots) {
        this.ctx = ctx;
        this.snapshots = snapshots;
    }

    SnapshotProto.Snapshot merge(SnapshotProto.Merge r) {
        return snapshots.locked(() -> mergeLocked(r), snapshots.devicesOf(r.name()));
    }

    /** Sectors left to merge when the monitor of {@code name} started, or {@code orElse}. */
    long startSectors(String name, long orElse) {
        return mergeStartSectors.getOrDefault(name, orElse);
    }


    private SnapshotProto.Snapshot mergeLocked(SnapshotProto.Merge r) {
        String name = r.name();
        boolean force = r.force();
        boolean defer = r.defer();
        if (force && defer) {
            throw new DaemonException(ErrorKind.USAGE, "--force and --defer (expected: at most one of them)",
                    "--defer waits until nothing has the origin open; --force merges now anyway");
        }
        DaemonState state = ctx.state();
        DaemonState.Snapshot s = state.snapshot(name);
        if (s == null) {
            throw Snapshots.notASnapshot(name);
        }
        if (s.merging()) {
            return snapshots.describe(s); // already merging: the CLI just follows it
        }
        checkMergeable(s, state);
        List<String> open = snapshots.openUsers(s.origin(), name);
        if (!open.isEmpty() && !force) {
            if (defer) {
                if (!s.mergeDeferred()) {
                    ctx.update(st -> st.withSnapshot(s.withMergeDeferred(true)));
                    LOG.info("merge of {} into {} deferred until it is no longer open ({})", name, s.origin(), String.join(", ", open));
                }
                return snapshots.describe(ctx.state().snapshot(name));
            }
            throw new DaemonException(ErrorKind.BUSY, "origin " + s.origin() + " or snapshot " + name + " is open: "
                    + String.join(", ", open) + " (a merge changes the origin's data under them)",
                    "unmount and disconnect them first; or let it start by itself once they are gone: cairn snapshot merge --defer "
                            + name + "; or merge anyway (they will see data change under them): cairn snapshot merge --force " + name);
        }
        return startMerge(s, force);
    }

    private void checkMergeable(DaemonState.Snapshot s, DaemonState state) {
        String name = s.name();
        if (!s.persistent()) {
            throw new DaemonException(ErrorKind.USAGE, "snapshot " + name + " is transient (N)",
                    "only a persistent snapshot can be merged; remove it with cairn snapshot rm " + name);
        }
        List<DaemonState.Snapshot> siblings = Snapshots.snapshotsOf(s.origin(), state);
        if (siblings.size() > 1) {
            throw new DaemonException(ErrorKind.BUSY, "origin " + s.origin() + " has other snapshots: "
                    + String.join(", ", siblings.stream().map(DaemonState.Snapshot::name).filter(n -> !n.equals(name)).toList()),
                    "remove them first (cairn snapshot rm NAME); cairn merges only an origin's last snapshot");
        }
        SnapshotStatus st = snapshots.status(name);
        if (st == null || st.state() != SnapshotStatus.State.ACTIVE) {
            throw new DaemonException(ErrorKind.FAILED, "snapshot " + name + " cannot be merged: its status is " + snapshots.infoStatus(name),
                    "an invalid (overflowed) snapshot has no consistent data to merge; remove it: cairn snapshot rm " + name);
        }
        MappedDevice originDev = ctx.device(s.origin());
        if (originDev.state() == DeviceState.SUSPENDED) {
            throw new DaemonException(ErrorKind.BUSY, "origin " + s.origin() + " is suspended",
                    "resume it first: cairn resume " + s.origin());
        }
    }

    /** The merge itself, once checked (and, unless forced, nothing has the devices open). */
    private SnapshotProto.Snapshot startMerge(DaemonState.Snapshot s, boolean force) {
        String name = s.name();
        MappedDevice snapDev = ctx.device(name);
        if (!snapDev.info().holders().isEmpty()) {
            throw new DaemonException(ErrorKind.BUSY, "snapshot " + name + " is used by " + String.join(", ", snapDev.info().holders()),
                    "remove those devices first");
        }
        String snapTable = snapDev.status(StatusType.TABLE).text();
        long originSectors = ctx.device(s.origin()).capacitySectors();
        DaemonState state = ctx.state();
        List<DaemonState.Export> exportRecs = ctx.exports().of(name).stream().map(state::export).toList();
        String mergeTable = "0 " + originSectors + " snapshot-merge " + s.real() + " file:" + s.cow() + " P " + s.chunkSectors() + "\n";
        DaemonState.Snapshot merging = s.withMerging(true);
        DaemonState.Device originRec = state.device(s.origin());
        DaemonState after = state.withoutDevice(name).withSnapshot(merging);
        if (originRec != null) {
            after = after.withDevice(new DaemonState.Device(s.origin(), mergeTable, null, false, originRec.hidden(), List.of(s.real())));
        }
        Transaction tx = Transaction.begin(ctx.stateStore(), ctx.hooks(), Snapshots.MERGE, name, after, List.of(), List.of());
        try {
            for (DaemonState.Export e : exportRecs) {
                tx.step("remove-export", () -> ctx.exports().remove(e.name()), () -> ctx.addExportLive(e));
            }
            tx.step("suspend-origin", () -> snapshots.suspend(s.origin(), SuspendMode.FLUSH), () -> snapshots.resumeQuietly(s.origin()));
            // The COW may be used by one table at a time: the snapshot device goes before the merge loads it.
            tx.step("suspend-snapshot", () -> snapDev.suspend(SuspendMode.FLUSH), () -> snapshots.resumeQuietly(name));
            tx.step("remove-snapshot", () -> ctx.registry().remove(name, force), () -> snapshots.recreate(name, snapTable));
            tx.step("load-origin", () -> ctx.registry().load(s.origin(), mergeTable), () -> snapshots.clearQuietly(s.origin()));
            // From the resume on the merge copies data back into the origin: it can only go forward.
            tx.pointOfNoReturn();
            tx.step("resume-origin", () -> ctx.registry().resume(s.origin()), null);
            DaemonState.Device originLive = ctx.recordOf(s.origin());
            tx.commit(st -> st.withoutDevice(name).withSnapshot(merging).withDevice(originLive));
        } catch (Exception | Error e) {
            if (tx.isForward()) {
                throw new DaemonException(ErrorKind.STATE, "snapshot merge " + name + " started but could not be recorded: " + e.getMessage(),
                        "the next start of the daemon completes it", e);
            }
            tx.rollback();
            throw Snapshots.failure("snapshot merge", name, e);
        }
        LOG.info("merging snapshot {} into {}", name, s.origin());
        startMonitor(merging);
        return snapshots.describe(merging);
    }

    /** After a restart: follow merges that were running, and start deferred ones that nothing holds back. */
    void resumeMerges() {
        for (DaemonState.Snapshot s : ctx.state().snapshots()) {
            if (s.merging()) {
                startMonitor(s);
            }
        }
        startDeferredMerges();
    }

    /**
     * Starts every deferred merge whose origin and snapshot nothing has open. Called when an NBD client
     * leaves, a device is removed, and at start; runs the merges on a virtual thread so the caller
     * (a connection's thread) never waits.
     */
    void startDeferredMerges() {
        if (stopping || ctx.state().snapshots().stream().noneMatch(DaemonState.Snapshot::mergeDeferred)) {
            return;
        }
        Thread.ofVirtual().name("cairn-deferred-merge").start(() -> {
            for (DaemonState.Snapshot found : ctx.state().snapshots()) {
                if (!found.mergeDeferred()) {
                    continue;
                }
                snapshots.locked(() -> {
                    DaemonState.Snapshot s = ctx.state().snapshot(found.name());
                    if (stopping || s == null || !s.mergeDeferred() || s.merging() || !snapshots.openUsers(s.origin(), s.name()).isEmpty()) {
                        return null;
                    }
                    try {
                        checkMergeable(s, ctx.state());
                        startMerge(s, false);
                        LOG.info("deferred merge of {} into {} started: nothing has them open any more", s.name(), s.origin());
                    } catch (DaemonException e) {
                        LOG.error("deferred merge of {} into {} could not start: {}; it stays deferred (cairn snapshot rm {} drops it)",
                                s.name(), s.origin(), e.getMessage(), s.name());
                    }
                    return null;
                }, snapshots.devicesOf(found.name()));
            }
        });
    }

    private void startMonitor(DaemonState.Snapshot s) {
        SnapshotStatus u = snapshots.status(s.origin());
        if (u != null && u.state() == SnapshotStatus.State.ACTIVE) {
            mergeStartSectors.put(s.name(), Math.max(0, u.allocatedSectors() - u.metadataSectors()));
        }
        Thread t = Thread.ofVirtual().name("cairn-merge-" + s.name()).unstarted(() -> monitor(s));
        monitors.put(s.name(), t);
        t.start();
    }

    private void monitor(DaemonState.Snapshot s) {
        SnapshotStatus.State lastProblem = null;
        try {
            while (!stopping) {
                SnapshotStatus u = snapshots.status(s.origin());
                if (u != null && u.isMergeDone()) {
                    if (finishMerge(s)) {
                        return;
                    }
                } else if (u != null && u.state() != SnapshotStatus.State.ACTIVE && u.state() != lastProblem) {
                    lastProblem = u.state();
                    LOG.error("merge of {} into {} stopped: status {}", s.name(), s.origin(), u.toInfo());
                }
                Thread.sleep(MONITOR_PERIOD);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            monitors.remove(s.name(), Thread.currentThread());
        }
    }

    /** Puts the origin's own table back once the merge is done; true when finished (or nothing left to do). */
    private boolean finishMerge(DaemonState.Snapshot s) {
        return snapshots.locked(() -> {
            if (stopping) {
                return true;
            }
            DaemonState.Snapshot current = ctx.state().snapshot(s.name());
            if (current == null || !current.merging()) {
                return true;
            }
            String realTable = ctx.device(s.real()).status(StatusType.TABLE).text();
            String mergeTable = ctx.device(s.origin()).status(StatusType.TABLE).text();
            long originSectors = ctx.device(s.origin()).capacitySectors();
            DaemonState state = ctx.state();
            DaemonState.Device realRec = state.device(s.real());
            DaemonState.Device originRec = state.device(s.origin());
            DaemonState after = state.withoutSnapshot(s.name()).withoutDevice(s.real());
            if (realRec != null && originRec != null) {
                after = after.withDevice(new DaemonState.Device(s.origin(), realTable, null, false, originRec.hidden(), realRec.deps()));
            }
            Transaction tx = Transaction.begin(ctx.stateStore(), ctx.hooks(), Snapshots.MERGE_END, s.name(), after, List.of(),
                    s.cowManaged() ? List.of(s.cow()) : List.of());
            try {
                tx.step("suspend-origin", () -> snapshots.suspend(s.origin(), SuspendMode.FLUSH), () -> snapshots.resumeQuietly(s.origin()));
                tx.step("load-origin", () -> ctx.registry().load(s.origin(), realTable), () -> snapshots.clearQuietly(s.origin()));
                tx.step("resume-origin", () -> ctx.registry().resume(s.origin()), () -> snapshots.restoreTable(s.origin(), mergeTable));
                tx.step("remove-real", () -> ctx.registry().remove(s.real(), false), () -> snapshots.recreate(s.real(), realTable));
                DaemonState.Device originLive = ctx.recordOf(s.origin());
                tx.commit(st -> st.withoutSnapshot(s.name()).withoutDevice(s.real()).withDevice(originLive));
            } catch (Exception | Error e) {
                if (tx.isForward()) {
                    LOG.error("the merge of {} into {} finished but could not be recorded: {}; the next start completes it",
                            s.name(), s.origin(), e.toString());
                    return true;
                }
                tx.rollback();
                LOG.error("finishing the merge of {} into {} failed: {}; will retry", s.name(), s.origin(), e.toString());
                return false;
            }
            Long merged = mergeStartSectors.remove(s.name());
            LOG.info("merge of {} into {} finished ({} sectors of {} merged by this run)", s.name(), s.origin(),
                    merged == null ? "?" : merged, originSectors);
            return true;
        }, snapshots.devicesOf(s.name()));
    }

    void stopMonitors() {
        stopping = true;
        for (Thread t : monitors.values()) {
            t.interrupt();
        }
        for (Thread t : List.copyOf(monitors.values())) {
            try {
                t.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
