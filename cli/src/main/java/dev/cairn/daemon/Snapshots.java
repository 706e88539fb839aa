package dev.cairn.daemon;

import dev.cairn.dm.DeviceState;
import dev.cairn.dm.DmException;
import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.StatusLine;
import dev.cairn.dm.StatusType;
import dev.cairn.dm.SuspendMode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * LVM-style snapshots on top of the dm targets: the daemon's half of {@code cairn snapshot}.
 *
 * <h2>The dance</h2>
 * {@code snapshot create ORIGIN NAME} turns
 * <pre>
 *   ORIGIN: T                       ORIGIN:      0 L snapshot-origin ORIGIN-real
 *                          into     ORIGIN-real: T                      (hidden, not exported)
 *                                   NAME:        0 L snapshot ORIGIN-real file:COW P chunk
 * </pre>
 * in this order: COW image created; ORIGIN suspended (held I/O, in-flight drained, flushed);
 * ORIGIN-real created with T; NAME created over it (loads the COW while no write can reach the
 * origin); ORIGIN loaded with snapshot-origin and resumed (held writes now copy out first). A later
 * snapshot of the same origin reuses ORIGIN-real and only needs the suspend/create/resume. Every
 * step has an undo; on any failure the undos run in reverse order, so it happens completely or not
 * at all, and the state file is written only at the end.
 *
 * <p>{@code snapshot merge NAME} removes the snapshot device and loads ORIGIN with
 * {@code snapshot-merge ORIGIN-real file:COW P chunk} (the merge then runs in the target, and
 * survives restarts because the table is in the state file). A monitor polls the origin's status;
 * when the merge is done ({@code allocated == metadata}) it puts T back on ORIGIN, removes
 * ORIGIN-real and the COW image (if cairn made it).
 *
 * <p>Transient snapshots ({@code N}) keep their exception table in memory only, so they cannot
 * survive a restart; the restore drops them (and says so) rather than showing a wrong point in time.
 *
 * <p>Thread safety: every entry point runs under the daemon's operation lock; merge monitors take it
 * for their final step and read only status otherwise.
 */
final class Snapshots {
    private static final Logger LOG = LoggerFactory.getLogger(Snapshots.class);
    static final long DEFAULT_CHUNK_SECTORS = 8;
    static final Duration MONITOR_PERIOD = Duration.ofMillis(200);

    private final Daemon daemon;
    /** Snapshot name -> its merge monitor thread. */
    private final Map<String, Thread> monitors = new ConcurrentHashMap<>();
    /** Snapshot name -> sectors left to merge when its monitor started (for the progress percentage). */
    private final Map<String, Long> mergeStartSectors = new ConcurrentHashMap<>();
    private volatile boolean stopping;

    Snapshots(Daemon daemon) {
        this.daemon = daemon;
    }

    static String realName(String origin) {
        return origin + "-real";
    }

    // ------------------------------------------------------------------ create

    Object create(Protocol.Args args) {
        String origin = args.string("origin");
        String name = args.string("name");
        String cowArg = args.optString("cow");
        long sizeBytes = args.number("sizeBytes", 0);
        long chunk = args.number("chunkSectors", DEFAULT_CHUNK_SECTORS);
        boolean persistent = !args.bool("transient");
        boolean noExport = args.bool("noExport");
        DaemonState state = daemon.state();

        if (daemon.registry().find(origin).isEmpty()) {
            throw new DaemonException(ErrorKind.NOT_FOUND, "origin: " + origin + " (expected: an existing device)",
                    "cairn ls lists the devices; snapshot one of them: cairn snapshot create DEVICE NAME");
        }
        checkOriginUsable(origin, state);
        if (daemon.registry().find(name).isPresent() || state.snapshot(name) != null) {
            throw new DaemonException(ErrorKind.EXISTS, "name: " + name + " (expected: a name not in use)",
                    "pick another snapshot name (cairn ls lists the names in use)");
        }
        if (chunk <= 0 || Long.bitCount(chunk) != 1 || chunk > (1 << 20)) {
            throw new DaemonException(ErrorKind.USAGE, "chunk: " + chunk + " (expected: a power of two number of sectors, e.g. 8 for 4 KiB)");
        }
        MappedDevice originDev = daemon.device(origin);
        if (originDev.state() == DeviceState.SUSPENDED) {
            throw new DaemonException(ErrorKind.BUSY, "origin " + origin + " is suspended",
                    "resume it first (cairn resume " + origin + "); a snapshot must be taken of a live device");
        }
        // The dance re-creates the origin's table on ORIGIN-real; a mem: reference in it would make a new,
        // empty memory store there, and the snapshot would capture nothing.
        List<String> memRefs = originDev.deps().live().stream().filter(r -> r.startsWith("mem:")).toList();
        if (!memRefs.isEmpty()) {
            throw new DaemonException(ErrorKind.USAGE, "origin: " + origin + " (expected: a device whose table uses no mem: store; "
                    + "it uses " + String.join(", ", memRefs) + ", which cannot move to " + realName(origin) + ")",
                    "put the memory store under its own device (cairn create " + origin + "-mem --table '0 N linear mem:SIZE 0') "
                            + "and stack " + origin + " on it, or use a file: image");
        }
        long originSectors = originDev.capacitySectors();
        String real = realName(origin);
        List<DaemonState.Snapshot> siblings = snapshotsOf(origin, state);
        boolean firstSnapshot = siblings.isEmpty();
        if (firstSnapshot && daemon.registry().find(real).isPresent()) {
            throw new DaemonException(ErrorKind.EXISTS, "device " + real + " exists but is not cairn's snapshot device for " + origin,
                    "rename or remove " + real + " first");
        }

        Deque<Runnable> undo = new ArrayDeque<>();
        DaemonState next;
        DaemonState.Snapshot rec;
        try {
            // 1. The COW image.
            Path cow;
            boolean managed;
            if (cowArg == null) {
                cow = daemon.config().stateDir().imagesDir().resolve(name + ".cow");
                managed = true;
                long bytes = sizeBytes > 0 ? roundUp(sizeBytes, chunk * 512) : fullSizeBytes(originSectors, chunk);
                if (Files.exists(cow)) {
                    throw new DaemonException(ErrorKind.EXISTS, "COW image " + cow + " already exists",
                            "a leftover of an earlier snapshot: remove it (rm " + cow + ") or pass --cow PATH");
                }
                Images.createSparse(cow, bytes);
                undo.push(() -> deleteQuietly(cow));
            } else {
                cow = Path.of(cowArg);
                if (sizeBytes > 0 && !Files.exists(cow)) {
                    Images.createSparse(cow, roundUp(sizeBytes, chunk * 512));
                    undo.push(() -> deleteQuietly(cow));
                    managed = false;
                } else if (!Files.exists(cow)) {
                    throw new DaemonException(ErrorKind.NOT_FOUND, "COW image " + cow + " does not exist",
                            "create it (cairn image create " + cow + " SIZE), add --size SIZE, or leave out --cow");
                } else {
                    managed = false;
                }
            }
            // 2. Hold the origin's I/O: nothing may write it between the copy of its table and the snapshot.
            suspend(origin, SuspendMode.FLUSH);
            undo.push(() -> resumeQuietly(origin));
            // 3. The hidden device with the origin's table.
            String originTable = originDev.status(StatusType.TABLE).text();
            if (firstSnapshot) {
                daemon.registry().create(real, originTable);
                undo.push(() -> daemon.removeQuietly(real));
            }
            // 4. The snapshot device, loading (or initialising) the COW.
            String snapTable = "0 " + originSectors + " snapshot " + real + " file:" + cow + " " + (persistent ? "P" : "N")
                    + " " + chunk + "\n";
            daemon.registry().create(name, snapTable);
            undo.push(() -> daemon.removeQuietly(name));
            // 5. The origin becomes snapshot-origin over the hidden device; held writes replay through it.
            if (firstSnapshot) {
                daemon.registry().load(origin, "0 " + originSectors + " snapshot-origin " + real + "\n");
                undo.push(() -> clearQuietly(origin));
            }
            daemon.registry().resume(origin);
            if (firstSnapshot) {
                undo.pop(); // the clear: the new table is live now; undoing means putting the old table back
                undo.push(() -> restoreTable(origin, originTable));
            }
            next = state;
            if (firstSnapshot) {
                next = next.withDevice(daemon.recordOf(real, true, null));
            }
            next = next.withDevice(daemon.recordOf(name, false, null)).withDevice(daemon.recordOf(origin));
            if (!noExport && !daemon.exportsOf(name).contains(name)) {
                DaemonState.Export e = new DaemonState.Export(name, name, false, "cairn snapshot " + name + " of " + origin);
                daemon.addExportLive(e);
                undo.push(() -> daemon.removeExportLive(name));
                next = next.withExport(e);
            }
            rec = new DaemonState.Snapshot(name, origin, real, cow.toString(), managed, persistent, chunk, false);
            next = next.withSnapshot(rec);
        } catch (DmException e) {
            rollback(undo);
            throw DmErrors.of("snapshot create", name, e);
        } catch (IOException e) {
            rollback(undo);
            throw new DaemonException(ErrorKind.FAILED, "snapshot create " + name + ": " + e.getMessage(), "nothing was changed", e);
        } catch (RuntimeException | Error e) {
            rollback(undo);
            throw e;
        }
        // Outside the undo scope: if the state file cannot be written, the snapshot is live and commit says so.
        daemon.commit(next);
        LOG.info("snapshot {} of {} created (COW {}, chunk {} sectors, {})", name, origin, rec.cow(), chunk,
                persistent ? "persistent" : "transient");
        return describe(rec);
    }

    private void checkOriginUsable(String origin, DaemonState state) {
        DaemonState.Device rec = state.device(origin);
        if (rec != null && rec.hidden()) {
            throw new DaemonException(ErrorKind.USAGE, "origin: " + origin + " (expected: a device that is not cairn's hidden snapshot device)",
                    "snapshot the origin itself");
        }
        if (state.snapshot(origin) != null) {
            throw new DaemonException(ErrorKind.USAGE, "origin: " + origin + " (expected: a device that is not itself a snapshot)",
                    "cairn cannot snapshot a snapshot; snapshot its origin " + state.snapshot(origin).origin() + " instead");
        }
        for (DaemonState.Snapshot s : snapshotsOf(origin, state)) {
            if (s.merging()) {
                throw new DaemonException(ErrorKind.BUSY, "origin " + origin + " is merging snapshot " + s.name(),
                        "wait for the merge to finish (cairn snapshot ls)");
            }
        }
    }

    /** A COW that can hold a copy of every origin chunk: header, metadata areas and data; sparse, so it costs only what is used. */
    static long fullSizeBytes(long originSectors, long chunkSectors) {
        long dataChunks = (originSectors + chunkSectors - 1) / chunkSectors;
        long perArea = chunkSectors * 512 / 16;
        long areas = (dataChunks + perArea - 1) / perArea;
        return (1 + areas + dataChunks + 1) * chunkSectors * 512;
    }

    private static long roundUp(long v, long unit) {
        return (v + unit - 1) / unit * unit;
    }

    // ------------------------------------------------------------------ list

    Object list(Protocol.Args args) {
        String only = args.optString("name");
        List<Object> out = new ArrayList<>();
        boolean found = false;
        for (DaemonState.Snapshot s : daemon.state().snapshots()) {
            if (only != null && !only.equals(s.name())) {
                continue;
            }
            found = true;
            out.add(describe(s));
        }
        if (only != null && !found && args.bool("strict")) {
            throw notASnapshot(only);
        }
        return Map.of("snapshots", out);
    }

    private Map<String, Object> describe(DaemonState.Snapshot s) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", s.name());
        m.put("origin", s.origin());
        m.put("cow", s.cow());
        m.put("persistent", s.persistent());
        m.put("chunkSectors", s.chunkSectors());
        m.put("merging", s.merging());
        // While merging, the snapshot device is gone and the origin's snapshot-merge target has the status.
        String statusDevice = s.merging() ? s.origin() : s.name();
        String info = infoStatus(statusDevice);
        m.put("status", info);
        Usage u = Usage.parse(info);
        if (u != null) {
            m.put("allocatedSectors", u.allocated());
            m.put("totalSectors", u.total());
            m.put("metadataSectors", u.metadata());
            m.put("fillPercent", u.total() == 0 ? 0.0 : Math.round(u.allocated() * 1000.0 / u.total()) / 10.0);
            if (s.merging()) {
                long left = Math.max(0, u.allocated() - u.metadata());
                long start = mergeStartSectors.getOrDefault(s.name(), left);
                m.put("mergeLeftSectors", left);
                m.put("mergeTotalSectors", Math.max(start, left));
            }
        }
        m.put("state", u != null ? (s.merging() ? "merging" : "active") : info.isEmpty() ? "unknown" : info.toLowerCase(java.util.Locale.ROOT));
        return m;
    }

    private String infoStatus(String device) {
        return daemon.registry().find(device).map(md -> {
            List<StatusLine> lines = md.status(StatusType.INFO).lines();
            return lines.isEmpty() ? "" : lines.get(0).params();
        }).orElse("");
    }

    /** {@code <allocated>/<total> <metadata>} of a snapshot's INFO status, in sectors. */
    record Usage(long allocated, long total, long metadata) {
        static Usage parse(String info) {
            String[] parts = info.strip().split("[/ ]");
            if (parts.length != 3) {
                return null;
            }
            try {
                return new Usage(Long.parseLong(parts[0]), Long.parseLong(parts[1]), Long.parseLong(parts[2]));
            } catch (NumberFormatException e) {
                return null;
            }
        }
    }

    // ------------------------------------------------------------------ merge

    Object merge(Protocol.Args args) {
        String name = args.string("name");
        DaemonState state = daemon.state();
        DaemonState.Snapshot s = state.snapshot(name);
        if (s == null) {
            throw notASnapshot(name);
        }
        if (s.merging()) {
            return describe(s); // already merging: the CLI just follows it
        }
        if (!s.persistent()) {
            throw new DaemonException(ErrorKind.USAGE, "snapshot " + name + " is transient (N)",
                    "only a persistent snapshot can be merged; remove it with cairn snapshot rm " + name);
        }
        List<DaemonState.Snapshot> siblings = snapshotsOf(s.origin(), state);
        if (siblings.size() > 1) {
            throw new DaemonException(ErrorKind.BUSY, "origin " + s.origin() + " has other snapshots: "
                    + String.join(", ", siblings.stream().map(DaemonState.Snapshot::name).filter(n -> !n.equals(name)).toList()),
                    "remove them first (cairn snapshot rm NAME); cairn merges only an origin's last snapshot");
        }
        String info = infoStatus(name);
        if (Usage.parse(info) == null) {
            throw new DaemonException(ErrorKind.FAILED, "snapshot " + name + " cannot be merged: its status is " + info,
                    "an invalid (overflowed) snapshot has no consistent data to merge; remove it: cairn snapshot rm " + name);
        }
        MappedDevice snapDev = daemon.device(name);
        if (!snapDev.info().holders().isEmpty()) {
            throw new DaemonException(ErrorKind.BUSY, "snapshot " + name + " is used by " + String.join(", ", snapDev.info().holders()),
                    "remove those devices first");
        }
        String snapTable = snapDev.status(StatusType.TABLE).text();
        long originSectors = daemon.device(s.origin()).capacitySectors();
        List<String> snapExports = daemon.exportsOf(name);
        List<DaemonState.Export> exportRecs = snapExports.stream().map(e -> daemon.state().export(e)).toList();
        Deque<Runnable> undo = new ArrayDeque<>();
        try {
            for (DaemonState.Export e : exportRecs) {
                daemon.removeExportLive(e.name());
                undo.push(() -> daemon.addExportLive(e));
            }
            suspend(s.origin(), SuspendMode.FLUSH);
            undo.push(() -> resumeQuietly(s.origin()));
            // The COW may be used by one table at a time: the snapshot device goes before the merge loads it.
            snapDev.suspend(SuspendMode.FLUSH);
            daemon.registry().remove(name, false);
            undo.push(() -> recreate(name, snapTable));
            daemon.registry().load(s.origin(), "0 " + originSectors + " snapshot-merge " + s.real() + " file:" + s.cow()
                    + " P " + s.chunkSectors() + "\n");
            undo.push(() -> clearQuietly(s.origin()));
            daemon.registry().resume(s.origin());
        } catch (DmException e) {
            rollback(undo);
            throw DmErrors.of("snapshot merge", name, e);
        } catch (RuntimeException | Error e) {
            rollback(undo);
            throw e;
        }
        DaemonState.Snapshot merging = s.withMerging(true);
        DaemonState next = daemon.state().withoutDevice(name).withSnapshot(merging).withDevice(daemon.recordOf(s.origin()));
        daemon.commit(next);
        LOG.info("merging snapshot {} into {}", name, s.origin());
        startMonitor(merging);
        return describe(merging);
    }

    private void recreate(String name, String table) {
        try {
            daemon.registry().create(name, table);
        } catch (DmException e) {
            LOG.error("rollback: could not recreate snapshot device {}: {}", name, e.getMessage());
        }
    }

    /** After a restart: follow merges that were running. */
    void resumeMerges() {
        for (DaemonState.Snapshot s : daemon.state().snapshots()) {
            if (s.merging()) {
                startMonitor(s);
            }
        }
    }

    private void startMonitor(DaemonState.Snapshot s) {
        Usage u = Usage.parse(infoStatus(s.origin()));
        if (u != null) {
            mergeStartSectors.put(s.name(), Math.max(0, u.allocated() - u.metadata()));
        }
        Thread t = Thread.ofVirtual().name("cairn-merge-" + s.name()).unstarted(() -> monitor(s));
        monitors.put(s.name(), t);
        t.start();
    }

    private void monitor(DaemonState.Snapshot s) {
        String lastProblem = null;
        try {
            while (!stopping) {
                String info = infoStatus(s.origin());
                Usage u = Usage.parse(info);
                if (u != null && u.allocated() <= u.metadata()) {
                    if (finishMerge(s)) {
                        return;
                    }
                } else if (u == null && !info.equals(lastProblem)) {
                    lastProblem = info;
                    LOG.error("merge of {} into {} stopped: status {}", s.name(), s.origin(), info);
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
        daemon.opLock().lock();
        try {
            if (stopping) {
                return true;
            }
            DaemonState.Snapshot current = daemon.state().snapshot(s.name());
            if (current == null || !current.merging()) {
                return true;
            }
            String realTable = daemon.device(s.real()).status(StatusType.TABLE).text();
            long originSectors = daemon.device(s.origin()).capacitySectors();
            suspend(s.origin(), SuspendMode.FLUSH);
            try {
                daemon.registry().load(s.origin(), realTable);
                daemon.registry().resume(s.origin());
            } catch (DmException e) {
                resumeQuietly(s.origin());
                throw e;
            }
            daemon.registry().remove(s.real(), false);
            if (s.cowManaged()) {
                deleteQuietly(Path.of(s.cow()));
            }
            DaemonState next = daemon.state().withoutSnapshot(s.name()).withoutDevice(s.real()).withDevice(daemon.recordOf(s.origin()));
            daemon.commit(next);
            Long merged = mergeStartSectors.remove(s.name());
            LOG.info("merge of {} into {} finished ({} sectors of {} merged by this run)", s.name(), s.origin(),
                    merged == null ? "?" : merged, originSectors);
            return true;
        } catch (DmException | RuntimeException e) {
            LOG.error("finishing the merge of {} into {} failed: {}; will retry", s.name(), s.origin(), e.getMessage());
            return false;
        } finally {
            daemon.opLock().unlock();
        }
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

    // ------------------------------------------------------------------ remove

    Object remove(Protocol.Args args) {
        String name = args.string("name");
        DaemonState state = daemon.state();
        DaemonState.Snapshot s = state.snapshot(name);
        if (s == null) {
            throw notASnapshot(name);
        }
        if (s.merging()) {
            throw new DaemonException(ErrorKind.BUSY, "snapshot " + name + " is merging into " + s.origin(),
                    "wait for the merge to finish (cairn snapshot ls shows its progress)");
        }
        MappedDevice snapDev = daemon.device(name);
        if (!snapDev.info().holders().isEmpty()) {
            throw new DaemonException(ErrorKind.BUSY, "snapshot " + name + " is used by " + String.join(", ", snapDev.info().holders()),
                    "remove those devices first (cairn ls --tree)");
        }
        boolean last = snapshotsOf(s.origin(), state).size() == 1;
        String snapTable = snapDev.status(StatusType.TABLE).text();
        String realTable = daemon.device(s.real()).status(StatusType.TABLE).text();
        List<DaemonState.Export> exportRecs = daemon.exportsOf(name).stream().map(e -> state.export(e)).toList();
        Deque<Runnable> undo = new ArrayDeque<>();
        try {
            for (DaemonState.Export e : exportRecs) {
                daemon.removeExportLive(e.name());
                undo.push(() -> daemon.addExportLive(e));
            }
            suspend(s.origin(), SuspendMode.FLUSH);
            undo.push(() -> resumeQuietly(s.origin()));
            daemon.registry().remove(name, false);
            undo.push(() -> recreate(name, snapTable));
            if (last) {
                daemon.registry().load(s.origin(), realTable);
                undo.push(() -> clearQuietly(s.origin()));
            }
            daemon.registry().resume(s.origin());
            if (last) {
                daemon.registry().remove(s.real(), false);
            }
        } catch (DmException e) {
            rollback(undo);
            throw DmErrors.of("snapshot rm", name, e);
        } catch (RuntimeException | Error e) {
            rollback(undo);
            throw e;
        }
        if (s.cowManaged()) {
            deleteQuietly(Path.of(s.cow()));
        }
        DaemonState next = daemon.state().withoutSnapshot(name).withoutDevice(name);
        if (last) {
            next = next.withoutDevice(s.real());
        }
        next = next.withDevice(daemon.recordOf(s.origin()));
        daemon.commit(next);
        return Map.of("removed", name, "cowDeleted", s.cowManaged());
    }

    // ------------------------------------------------------------------ restore

    /**
     * Drops transient snapshots from a state read at start (their exceptions lived in memory only);
     * returns the new state and adds a line per dropped snapshot to {@code problems}.
     */
    static DaemonState dropTransient(DaemonState state, List<String> problems) {
        DaemonState next = state;
        for (DaemonState.Snapshot s : state.snapshots()) {
            if (s.persistent()) {
                continue;
            }
            next = next.withoutSnapshot(s.name()).withoutDevice(s.name());
            problems.add("transient snapshot " + s.name() + " of " + s.origin()
                    + " did not survive the restart (its exception table was in memory); it was removed");
            if (snapshotsOf(s.origin(), next).isEmpty()) {
                DaemonState.Device real = next.device(s.real());
                DaemonState.Device origin = next.device(s.origin());
                if (real != null && origin != null) {
                    next = next.withDevice(new DaemonState.Device(origin.name(), real.table(), null, origin.suspended(),
                            origin.hidden(), real.deps())).withoutDevice(s.real());
                }
            }
            if (s.cowManaged()) {
                deleteQuietly(Path.of(s.cow()));
            }
        }
        return next;
    }

    // ------------------------------------------------------------------ helpers

    /** Refuses plain dm verbs on devices whose tables this class manages. */
    void checkNotManaged(String device, String verb) {
        DaemonState state = daemon.state();
        if (state.snapshot(device) != null) {
            throw new DaemonException(ErrorKind.BUSY, "device " + device + " is a snapshot managed by cairn",
                    "use: cairn snapshot rm " + device);
        }
        for (DaemonState.Snapshot s : state.snapshots()) {
            if (s.real().equals(device)) {
                throw new DaemonException(ErrorKind.BUSY, "device " + device + " holds the data of origin " + s.origin()
                        + " under its snapshots", "remove the snapshots of " + s.origin() + " first (cairn snapshot ls)");
            }
            if (s.origin().equals(device)) {
                throw new DaemonException(ErrorKind.BUSY, "device " + device + " is the origin of snapshot " + s.name()
                        + " (its table is managed by cairn)", "remove its snapshots first (cairn snapshot rm " + s.name() + ")"
                        + (verb.equals("remove") ? "" : ", then " + verb + " it"));
            }
        }
    }

    static List<DaemonState.Snapshot> snapshotsOf(String origin, DaemonState state) {
        return state.snapshots().stream().filter(s -> s.origin().equals(origin)).toList();
    }

    private static DaemonException notASnapshot(String name) {
        return new DaemonException(ErrorKind.NOT_FOUND, "snapshot: " + name + " (expected: an existing snapshot)",
                "cairn snapshot ls lists the snapshots");
    }

    private void suspend(String device, SuspendMode mode) throws DmException {
        daemon.registry().suspend(device, mode);
    }

    private void resumeQuietly(String device) {
        try {
            daemon.registry().resume(device);
        } catch (DmException | RuntimeException e) {
            LOG.error("rollback: could not resume {}: {}", device, e.getMessage());
        }
    }

    private void clearQuietly(String device) {
        try {
            daemon.registry().clear(device);
        } catch (DmException | RuntimeException e) {
            LOG.error("rollback: could not clear the loaded table of {}: {}", device, e.getMessage());
        }
    }

    private void restoreTable(String device, String table) {
        try {
            daemon.registry().suspend(device, SuspendMode.FLUSH);
            daemon.registry().load(device, table);
            daemon.registry().resume(device);
        } catch (DmException | RuntimeException e) {
            LOG.error("rollback: could not put the old table back on {}: {}", device, e.getMessage());
        }
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            LOG.warn("could not delete {}: {}", p, e.toString());
        }
    }

    private static void rollback(Deque<Runnable> undo) {
        while (!undo.isEmpty()) {
            try {
                undo.pop().run();
            } catch (RuntimeException e) {
                LOG.error("rollback step failed: {}", e.toString());
            }
        }
    }
}
