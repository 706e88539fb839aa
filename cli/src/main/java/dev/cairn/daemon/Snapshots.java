package dev.cairn.daemon;

import dev.cairn.daemon.proto.SnapshotProto;
import dev.cairn.dm.DeviceState;
import dev.cairn.dm.DmException;
import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.StatusLine;
import dev.cairn.dm.StatusType;
import dev.cairn.dm.SuspendMode;
import dev.cairn.snapshot.CowLayout;
import dev.cairn.snapshot.SnapshotStatus;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
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
 * snapshot of the same origin reuses ORIGIN-real and only needs the suspend/create/resume.
 *
 * <h2>Transactions</h2>
 * Every verb here that takes more than one step (create, rm, merge, the end of a merge) first checks
 * everything it can, then runs as a {@link Transaction}: the intent and the state after the verb go
 * into the state file before the first change, each step has an undo, and a failure or a
 * {@code kill -9} at any step ends in the state before the verb or the state after it. Rm and merge
 * pass a point of no return when the origin resumes on its new table (after that, writes to the
 * origin are no longer copied out for the snapshot, or the merge has begun to copy data back), so
 * from there on they are completed, never undone. {@link DaemonHooks#beforeStep} is called before
 * each step.
 *
 * <h2>Open devices</h2>
 * A merge changes what the origin shows, and rm and merge take the snapshot device away. Like LVM,
 * they are refused while a device they change is open (NBD clients connected to one of its exports,
 * or another device stacked on it), unless {@code force}; a merge may instead be deferred: it starts
 * by itself once nothing has the origin or the snapshot open.
 *
 * <p>{@code snapshot merge NAME} removes the snapshot device and loads ORIGIN with
 * {@code snapshot-merge ORIGIN-real file:COW P chunk} (the merge then runs in the target, and
 * survives restarts because the table is in the state file). {@link SnapshotMerges} does the merge:
 * its monitor reads the origin's typed {@link SnapshotStatus}; when the merge is done it puts T back
 * on ORIGIN, removes ORIGIN-real and the COW image (if cairn made it).
 *
 * <p>Transient snapshots ({@code N}) keep their exception table in memory only, so they cannot
 * survive a restart; the restore drops them (and says so) rather than showing a wrong point in time.
 *
 * <p><b>Size.</b> About 600 lines, over the 500-line guide: create and rm are each a check phase plus
 * a transaction whose steps are listed in one place, which keeps each verb readable top to bottom, and
 * the helpers they share with {@link SnapshotMerges} (steps with their undo, the typed status, what has
 * a device open) are here.
 *
 * <p>Thread safety: every verb, the end of a merge and a deferred merge's start hold this class's lock
 * (one snapshot transaction at a time) and the name locks of the snapshot, its origin and
 * ORIGIN-real; {@code snapshot ls} and the merge monitors' polling take no lock.
 */
final class Snapshots implements VerbArea {
    private static final Logger LOG = LoggerFactory.getLogger(Snapshots.class);

    private final DaemonContext ctx;
    private final SnapshotMerges merges;
    static final String CREATE = "snapshot-create";
    static final String REMOVE = "snapshot-rm";
    static final String MERGE = "snapshot-merge";
    static final String MERGE_END = "snapshot-merge-end";

    Snapshots(DaemonContext ctx) {
        this.ctx = ctx;
        this.merges = new SnapshotMerges(ctx, this);
    }

    @Override
    public void register(VerbRegistry verbs) {
        verbs.on(SnapshotProto.CREATE, this::create);
        verbs.on(SnapshotProto.LIST, this::list);
        verbs.on(SnapshotProto.MERGE, merges::merge);
        verbs.on(SnapshotProto.REMOVE, this::remove);
    }

    /** Follows the merges that were running, and starts deferred ones that nothing holds back. */
    @Override
    public void started() {
        merges.resumeMerges();
    }

    @Override
    public void stopping() {
        merges.stopMonitors();
    }

    /** Something let go of a device: a deferred merge may start now. */
    @Override
    public void released() {
        merges.startDeferredMerges();
    }

    static String realName(String origin) {
        return origin + "-real";
    }

    // ------------------------------------------------------------------ create

    /** One snapshot transaction at a time (the state has one intent slot); held with the devices' name locks. */
    <T> T locked(java.util.function.Supplier<T> action, String... deviceNames) {
        return ctx.withIntent(action, deviceNames);
    }

    /** The devices a verb on snapshot {@code name} works on (the snapshot, its origin and ORIGIN-real). */
    String[] devicesOf(String name) {
        DaemonState.Snapshot s = ctx.state().snapshot(name);
        return s == null ? new String[] {name} : new String[] {name, s.origin(), s.real()};
    }

    private SnapshotProto.Snapshot create(SnapshotProto.Create r) {
        return locked(() -> createLocked(r), r.origin(), realName(r.origin()), r.name());
    }

    private SnapshotProto.Removed remove(SnapshotProto.Rm r) {
        return locked(() -> removeLocked(r), devicesOf(r.name()));
    }

    private SnapshotProto.Snapshot createLocked(SnapshotProto.Create r) {
        String origin = r.origin();
        String name = r.name();
        String cowArg = r.cow();
        long sizeBytes = r.sizeBytes() == null ? 0 : r.sizeBytes();
        long chunk = r.chunkSectors();
        boolean persistent = !r.transientStore();
        boolean noExport = r.noExport();
        DaemonState state = ctx.state();
        Names.check("snapshot name", name);

        if (ctx.registry().find(origin).isEmpty()) {
            throw new DaemonException(ErrorKind.NOT_FOUND, "origin: " + origin + " (expected: an existing device)",
                    "cairn ls lists the devices; snapshot one of them: cairn snapshot create DEVICE NAME");
        }
        checkOriginUsable(origin, state);
        if (ctx.registry().find(name).isPresent() || state.snapshot(name) != null) {
            throw new DaemonException(ErrorKind.EXISTS, "name: " + name + " (expected: a name not in use)",
                    "pick another snapshot name (cairn ls lists the names in use)");
        }
        if (!noExport && ctx.exports().of(name).isEmpty() && state.export(name) != null) {
            throw new DaemonException(ErrorKind.EXISTS, "export: " + name + " (expected: a name not in use)",
                    "pick another snapshot name, or add --no-export");
        }
        if (chunk <= 0 || Long.bitCount(chunk) != 1 || chunk > (1 << 20)) {
            throw new DaemonException(ErrorKind.USAGE, "chunk: " + chunk + " (expected: a power of two number of sectors, e.g. 8 for 4 KiB)");
        }
        MappedDevice originDev = ctx.device(origin);
        if (originDev.state() == DeviceState.SUSPENDED) {
            throw new DaemonException(ErrorKind.BUSY, "origin " + origin + " is suspended",
                    "resume it first (cairn resume " + origin + "); a snapshot must be taken of a live device");
        }
        // The dance re-creates the origin's table on ORIGIN-real; a mem: reference in it would make a new,
        // empty memory store there, and the snapshot would capture nothing.
        List<String> memRefs = originDev.deps().live().stream().filter(ref -> ref.startsWith("mem:")).toList();
        if (!memRefs.isEmpty()) {
            throw new DaemonException(ErrorKind.USAGE, "origin: " + origin + " (expected: a device whose table uses no mem: store; "
                    + "it uses " + String.join(", ", memRefs) + ", which cannot move to " + realName(origin) + ")",
                    "put the memory store under its own device (cairn create " + origin + "-mem --table '0 N linear mem:SIZE 0') "
                            + "and stack " + origin + " on it, or use a file: image");
        }
        long originSectors = originDev.capacitySectors();
        String real = realName(origin);
        boolean firstSnapshot = snapshotsOf(origin, state).isEmpty();
        if (firstSnapshot && ctx.registry().find(real).isPresent()) {
            throw new DaemonException(ErrorKind.EXISTS, "device " + real + " exists but is not cairn's snapshot device for " + origin,
                    "rename or remove " + real + " first");
        }
        Path cow;
        boolean managed;
        long createBytes; // > 0: the verb creates the COW image with this size
        if (cowArg == null) {
            cow = ctx.config().stateDir().imagesDir().resolve(name + ".cow");
            managed = true;
            createBytes = sizeBytes > 0 ? roundUp(sizeBytes, chunk * 512) : fullSizeBytes(originSectors, chunk);
            if (Files.exists(cow)) {
                throw new DaemonException(ErrorKind.EXISTS, "COW image " + cow + " already exists",
                        "a leftover of an earlier snapshot: remove it (rm " + cow + ") or pass --cow PATH");
            }
        } else {
            cow = Path.of(cowArg);
            managed = false;
            if (Files.exists(cow)) {
                createBytes = 0;
            } else if (sizeBytes > 0) {
                createBytes = roundUp(sizeBytes, chunk * 512);
            } else {
                throw new DaemonException(ErrorKind.NOT_FOUND, "COW image " + cow + " does not exist",
                        "create it (cairn image create " + cow + " SIZE), add --size SIZE, or leave out --cow");
            }
        }
        Names.checkTableWord("COW image path", cow.toString());
        String originTable = originDev.status(StatusType.TABLE).text();
        String snapTable = "0 " + originSectors + " snapshot " + real + " file:" + cow + " " + (persistent ? "P" : "N")
                + " " + chunk + "\n";
        String originTableAfter = "0 " + originSectors + " snapshot-origin " + real + "\n";
        DaemonState.Snapshot rec = new DaemonState.Snapshot(name, origin, real, cow.toString(), managed, persistent, chunk, false);
        DaemonState.Export exportRec = noExport ? null : new DaemonState.Export(name, name, false, "cairn snapshot " + name + " of " + origin);

        // The state after the verb, for a restart that would complete it (a create is always undone instead,
        // but the intent carries its after state like every other).
        DaemonState.Device originRec = state.device(origin);
        DaemonState after = state;
        if (firstSnapshot && originRec != null) {
            after = after.withDevice(new DaemonState.Device(real, originTable, null, false, true, originRec.deps()))
                    .withDevice(new DaemonState.Device(origin, originTableAfter, originRec.inactive(), false, originRec.hidden(),
                            List.of(real)));
        }
        after = after.withDevice(new DaemonState.Device(name, snapTable, null, false, false, List.of(real))).withSnapshot(rec);
        if (exportRec != null) {
            after = after.withExport(exportRec);
        }

        Transaction tx = Transaction.begin(ctx.stateStore(), ctx.hooks(), CREATE, name, after,
                createBytes > 0 ? List.of(cow.toString()) : List.of(), List.of());
        try {
            if (createBytes > 0) {
                tx.step("create-cow", () -> Images.createSparse(cow, createBytes), null);
            }
            // Hold the origin's I/O: nothing may write it between the copy of its table and the snapshot.
            tx.step("suspend-origin", () -> suspend(origin, SuspendMode.FLUSH), () -> resumeQuietly(origin));
            if (firstSnapshot) {
                tx.step("create-real", () -> ctx.registry().create(real, originTable), () -> ctx.removeQuietly(real));
            }
            tx.step("create-snapshot", () -> ctx.registry().create(name, snapTable), () -> ctx.removeQuietly(name));
            if (firstSnapshot) {
                tx.step("load-origin", () -> ctx.registry().load(origin, originTableAfter), () -> clearQuietly(origin));
            }
            // Held writes replay through snapshot-origin; undoing puts the old table back on the origin.
            tx.step("resume-origin", () -> ctx.registry().resume(origin),
                    firstSnapshot ? () -> restoreTable(origin, originTable) : null);
            if (exportRec != null) {
                tx.step("add-export", () -> ctx.addExportLive(exportRec), () -> ctx.exports().remove(name));
            }
            DaemonState.Device realLive = firstSnapshot ? ctx.recordOf(real, true, null) : null;
            DaemonState.Device snapLive = ctx.recordOf(name, false, null);
            DaemonState.Device originLive = ctx.recordOf(origin);
            tx.commit(st -> {
                DaemonState next = realLive == null ? st : st.withDevice(realLive);
                next = next.withDevice(snapLive).withDevice(originLive).withSnapshot(rec);
                return exportRec == null ? next : next.withExport(exportRec);
            });
        } catch (Exception | Error e) {
            tx.rollback();
            throw failure("snapshot create", name, e);
        }
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
            if (s.merging() || s.mergeDeferred()) {
                throw new DaemonException(ErrorKind.BUSY, "origin " + origin + (s.merging() ? " is merging snapshot "
                        : " has a deferred merge of snapshot ") + s.name(),
                        "wait for the merge to finish (cairn snapshot ls; cairn wait " + origin + ")");
            }
        }
    }

    /** A COW that can hold a copy of every origin chunk (the snapshot can never overflow); sparse, so it costs only what is used. */
    static long fullSizeBytes(long originSectors, long chunkSectors) {
        return CowLayout.requiredCowSectors(originSectors, Math.toIntExact(chunkSectors)) * 512;
    }

    private static long roundUp(long v, long unit) {
        return (v + unit - 1) / unit * unit;
    }

    /** Turns a failed step into the error the client gets; the transaction has already been undone. */
    static DaemonException failure(String verb, String name, Throwable e) {
        return switch (e) {
            case DaemonException d -> d;
            case DmException d -> DmErrors.of(verb, name, d);
            case IOException io -> new DaemonException(ErrorKind.FAILED, verb + " " + name + ": " + io.getMessage(),
                    "nothing was changed", io);
            case RuntimeException r -> r instanceof IllegalArgumentException
                    ? new DaemonException(ErrorKind.FAILED, verb + " " + name + ": " + r.getMessage(), "nothing was changed", r)
                    : new DaemonException(ErrorKind.INTERNAL, verb + " " + name + " failed and was undone: " + r,
                    "this is a bug in cairn; the daemon log has the details", r);
            case Error err -> throw err;
            default -> new DaemonException(ErrorKind.FAILED, verb + " " + name + ": " + e, "nothing was changed", e);
        };
    }

    // ------------------------------------------------------------------ list

    private SnapshotProto.SnapshotList list(SnapshotProto.Ls r) {
        String only = r.name();
        if (only != null) {
            // Under the snapshot's names: the end of a merge is never seen half done (the origin's table
            // back to its own while the snapshot is still recorded), which `snapshot merge` polls for.
            return ctx.withNames(() -> listUnlocked(only, r.strict()), devicesOf(only));
        }
        return listUnlocked(null, false);
    }

    private SnapshotProto.SnapshotList listUnlocked(String only, boolean strict) {
        List<SnapshotProto.Snapshot> out = new ArrayList<>();
        boolean found = false;
        for (DaemonState.Snapshot s : ctx.state().snapshots()) {
            if (only != null && !only.equals(s.name())) {
                continue;
            }
            found = true;
            out.add(describe(s));
        }
        if (only != null && !found && strict) {
            throw notASnapshot(only);
        }
        return new SnapshotProto.SnapshotList(out);
    }

    SnapshotProto.Snapshot describe(DaemonState.Snapshot s) {
        // While merging, the snapshot device is gone and the origin's snapshot-merge target has the status.
        String statusDevice = s.merging() ? s.origin() : s.name();
        String info = infoStatus(statusDevice);
        SnapshotStatus u = status(statusDevice);
        boolean active = u != null && u.state() == SnapshotStatus.State.ACTIVE;
        Long left = null;
        Long total = null;
        if (active && s.merging()) {
            left = Math.max(0, u.allocatedSectors() - u.metadataSectors());
            total = Math.max(merges.startSectors(s.name(), left), left);
        }
        boolean deferred = !s.merging() && s.mergeDeferred();
        String state = deferred ? "merge-deferred"
                : active ? (s.merging() ? "merging" : "active") : info.isEmpty() ? "unknown" : info.toLowerCase(java.util.Locale.ROOT);
        return new SnapshotProto.Snapshot(s.name(), s.origin(), s.cow(), s.persistent(), s.chunkSectors(), s.merging(),
                s.mergeDeferred(), info, active ? u.allocatedSectors() : null, active ? u.totalSectors() : null,
                active ? u.metadataSectors() : null, active ? Math.round(u.usedPercent() * 10.0) / 10.0 : null, left, total,
                state, deferred ? openUsers(s.origin(), s.name()) : null);
    }

    /** The INFO status text of {@code device}'s first target ("" without a device or a live table). */
    String infoStatus(String device) {
        SnapshotStatus typed = status(device);
        if (typed != null) {
            return typed.toInfo();
        }
        return ctx.registry().find(device).map(md -> {
            List<StatusLine> lines = md.status(StatusType.INFO).lines();
            return lines.isEmpty() ? "" : lines.get(0).params();
        }).orElse("");
    }

    /**
     * The typed status of a snapshot or snapshot-merge device, read from its target in this process (no
     * status text is parsed), or null (no such device, another target).
     */
    SnapshotStatus status(String device) {
        return ctx.registry().find(device)
                .flatMap(md -> md.liveTargets(SnapshotStatus.Source.class).stream().findFirst())
                .map(SnapshotStatus.Source::snapshotStatus)
                .orElse(null);
    }

    // ------------------------------------------------------------------ open devices

    /**
     * What has {@code origin} or {@code snapshot} open, as lines for a message ({@code "NBD clients of
     * export vol0 (2)"}, {@code "device top holds vol0"}); empty when nothing.
     */
    List<String> openUsers(String origin, String snapshot) {
        return ctx.openUsers(origin, snapshot);
    }

    // ------------------------------------------------------------------ remove

    private SnapshotProto.Removed removeLocked(SnapshotProto.Rm r) {
        String name = r.name();
        boolean force = r.force();
        DaemonState state = ctx.state();
        DaemonState.Snapshot s = state.snapshot(name);
        if (s == null) {
            throw notASnapshot(name);
        }
        if (s.merging()) {
            throw new DaemonException(ErrorKind.BUSY, "snapshot " + name + " is merging into " + s.origin(),
                    "wait for the merge to finish (cairn snapshot ls shows its progress; cairn wait " + s.origin() + ")");
        }
        MappedDevice snapDev = ctx.device(name);
        if (!snapDev.info().holders().isEmpty()) {
            throw new DaemonException(ErrorKind.BUSY, "snapshot " + name + " is used by " + String.join(", ", snapDev.info().holders()),
                    "remove those devices first (cairn ls --tree)");
        }
        if (!force) {
            List<String> open = openUsers(name, null);
            if (!open.isEmpty()) {
                throw new DaemonException(ErrorKind.BUSY, "snapshot " + name + " is open: " + String.join(", ", open),
                        "disconnect them first, or remove it anyway (their connections fail): cairn snapshot rm --force " + name);
            }
        }
        boolean last = snapshotsOf(s.origin(), state).size() == 1;
        MappedDevice realDev = ctx.device(s.real());
        if (last) {
            // Only the daemon's exports open a device from outside a table (an export of ORIGIN-real is refused
            // now, but a state file of an older cairn may have one).
            List<String> realExports = ctx.exports().of(s.real());
            if (!realExports.isEmpty()) {
                throw new DaemonException(ErrorKind.BUSY, "device " + s.real() + " (the origin's data under its snapshots) is open: "
                        + "exported as " + String.join(", ", realExports),
                        "remove the export first (cairn export rm " + realExports.get(0) + "), then retry");
            }
        }
        String snapTable = snapDev.status(StatusType.TABLE).text();
        String realTable = realDev.status(StatusType.TABLE).text();
        List<DaemonState.Export> exportRecs = ctx.exports().of(name).stream().map(state::export).toList();
        DaemonState after = state.withoutSnapshot(name).withoutDevice(name);
        DaemonState.Device realRec = state.device(s.real());
        DaemonState.Device originRec = state.device(s.origin());
        if (last) {
            after = after.withoutDevice(s.real());
            if (realRec != null && originRec != null) {
                after = after.withDevice(new DaemonState.Device(s.origin(), realTable, originRec.inactive(), originRec.suspended(),
                        originRec.hidden(), realRec.deps()));
            }
        }
        Transaction tx = Transaction.begin(ctx.stateStore(), ctx.hooks(), REMOVE, name, after, List.of(),
                s.cowManaged() ? List.of(s.cow()) : List.of());
        try {
            for (DaemonState.Export e : exportRecs) {
                tx.step("remove-export", () -> ctx.exports().remove(e.name()), () -> ctx.addExportLive(e));
            }
            tx.step("suspend-origin", () -> suspend(s.origin(), SuspendMode.FLUSH), () -> resumeQuietly(s.origin()));
            tx.step("remove-snapshot", () -> ctx.registry().remove(name, force), () -> recreate(name, snapTable));
            if (last) {
                tx.step("load-origin", () -> ctx.registry().load(s.origin(), realTable), () -> clearQuietly(s.origin()));
            }
            // From the resume on, writes to the origin are no longer copied out for this snapshot: forward only.
            tx.pointOfNoReturn();
            tx.step("resume-origin", () -> ctx.registry().resume(s.origin()), null);
            if (last) {
                tx.step("remove-real", () -> ctx.registry().remove(s.real(), false), null);
            }
            DaemonState.Device originLive = ctx.recordOf(s.origin());
            tx.commit(st -> {
                DaemonState next = st.withoutSnapshot(name).withoutDevice(name);
                return (last ? next.withoutDevice(s.real()) : next).withDevice(originLive);
            });
        } catch (Exception | Error e) {
            if (tx.isForward()) {
                throw new DaemonException(ErrorKind.STATE, "snapshot rm " + name + " was done but could not be recorded: " + e.getMessage(),
                        "the next start of the daemon completes it", e);
            }
            tx.rollback();
            throw failure("snapshot rm", name, e);
        }
        return new SnapshotProto.Removed(name, s.cowManaged());
    }

    void recreate(String name, String table) {
        try {
            ctx.registry().create(name, table);
        } catch (DmException e) {
            LOG.error("rollback: could not recreate snapshot device {}: {}", name, e.getMessage());
        }
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
    @Override
    public void checkNotManaged(String device, String verb) {
        DaemonState state = ctx.state();
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

    static DaemonException notASnapshot(String name) {
        return new DaemonException(ErrorKind.NOT_FOUND, "snapshot: " + name + " (expected: an existing snapshot)",
                "cairn snapshot ls lists the snapshots");
    }

    /** Suspends a device; a cancelled request (its client gone, the daemon stopping) makes the wait give up. */
    void suspend(String device, SuspendMode mode) throws DmException {
        ctx.suspendDevice(ctx.device(device), mode, null);
    }

    void resumeQuietly(String device) {
        try {
            ctx.registry().resume(device);
        } catch (DmException | RuntimeException e) {
            LOG.error("rollback: could not resume {}: {}", device, e.getMessage());
        }
    }

    void clearQuietly(String device) {
        try {
            ctx.registry().clear(device);
        } catch (DmException | RuntimeException e) {
            LOG.error("rollback: could not clear the loaded table of {}: {}", device, e.getMessage());
        }
    }

    void restoreTable(String device, String table) {
        try {
            ctx.registry().suspend(device, SuspendMode.FLUSH);
            ctx.registry().load(device, table);
            ctx.registry().resume(device);
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
}
