package dev.cairn.daemon;

import dev.cairn.daemon.proto.DeviceProto;
import dev.cairn.daemon.proto.SnapshotProto;
import dev.cairn.daemon.proto.ThinProto;
import dev.cairn.dm.DeviceState;
import dev.cairn.dm.DmException;
import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.StatusLine;
import dev.cairn.dm.StatusType;
import dev.cairn.dm.SuspendMode;
import dev.cairn.thin.ThinRequestException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * LVM-thin style verbs on top of the {@code thin-pool} and {@code thin} targets: the daemon's half of
 * {@code cairn pool create}, {@code cairn thin create}, and of {@code snapshot create|merge|rm|ls} and
 * {@code remove} when they name a thin volume or a pool.
 *
 * <h2>What each verb does to the pool (as LVM does it)</h2>
 * <pre>
 *   pool create P        files P_tmeta.img, P_tdata.img; device P: 0 L thin-pool file:META file:DATA BS 0
 *   thin create P V      create_thin D; device V: 0 L thin P D [ORIGIN]; set_transaction_id T T+1
 *   snapshot create V S  suspend V; create_snap D id(V); resume V; device S: thin P D; set_transaction_id
 *   snapshot merge S     S's device goes; V's table becomes thin P id(S); delete id(V); set_transaction_id
 *   remove V             V's device goes; delete id(V); set_transaction_id
 *   remove P             refused while P has volumes; device P goes, then its files (if cairn made them)
 * </pre>
 * Device ids come from the pool's allocator in the state file ({@link ThinState.Pool#nextDeviceId}),
 * never reused. Every verb that changes a pool's metadata ends with {@code set_transaction_id}, and the
 * state file says which id the pool must have ({@link ThinState.Pool#transactionId}).
 *
 * <h2>Transactions and restarts</h2>
 * Each verb checks everything first, then runs as a {@link Transaction} (intent in {@code state.json}
 * before the first change, an undo for each step, {@link DaemonHooks#beforeStep} before each). The
 * pool's own messages commit one by one, so the state file alone cannot say what the pool holds after
 * a {@code kill -9}; the two are reconciled at start, after the pool's device is built and before its
 * volumes are:
 * <ul>
 *   <li>Creating messages ({@code create_thin}, {@code create_snap}) come before the point of no return,
 *       deleting ones ({@code delete}) after it, and {@code set_transaction_id} last. So a rolled-back
 *       verb can only have left device ids that the state does not have (they are put in the pool's
 *       {@code pendingDeletes} by {@link #recovered}), and a completed one only deletions and the
 *       transaction id still to do (its {@code after} state lists them).</li>
 *   <li>{@link #restored} deletes the pending ids (one that is already gone is fine) and, if the pool's
 *       transaction id is one behind the state's, sets it. Any other difference is reported as a
 *       problem at start and the pool's volumes are left as they are.</li>
 * </ul>
 *
 * <p>Pool usage (Data%, Meta%) and volume usage come from the targets' status lines, the interface
 * dmsetup and LVM read too: the thin module exports no typed status.
 *
 * <p><b>Size.</b> Over the 500-line guide: one check phase plus one transaction per verb, each readable
 * top to bottom, and the restart reconciliation that must know every verb's order of messages.
 *
 * <p><b>An area.</b> Registers {@code pool-create} and {@code thin-create} ({@link ThinProto}) and takes
 * {@code remove}, {@code snapshot-create|merge|rm|ls} and the pool checks of {@code message} of its devices
 * from the other areas with {@link VerbRegistry#around}; it adds its columns to {@code ls} the same way.
 *
 * <p>Thread safety: every verb runs under {@link DaemonContext#withIntent} (the state file has one intent
 * slot, shared with the dm-snapshot verbs) and the name locks of the devices it touches; listing takes none.
 */
final class ThinVolumes implements VerbArea {
    private static final Logger LOG = LoggerFactory.getLogger(ThinVolumes.class);
    static final String POOL_CREATE = "pool-create";
    static final String POOL_REMOVE = "pool-remove";
    static final String THIN_CREATE = "thin-create";
    static final String SNAPSHOT_CREATE = "thin-snapshot-create";
    static final String MERGE = "thin-merge";
    static final String REMOVE = "thin-remove";
    static final long DEFAULT_BLOCK_BYTES = 64 << 10;
    static final long MIN_METADATA_BYTES = 2L << 20;
    /** What the pool can use: 255 index entries of 16,320 blocks of 4 KiB (dm-thin's limit). */
    static final long MAX_METADATA_BYTES = 255L * 16320 * 4096;
    private static final int ENODATA = 61;

    private final DaemonContext ctx;

    ThinVolumes(DaemonContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void register(VerbRegistry verbs) {
        verbs.on(ThinProto.POOL_CREATE, this::poolCreate);
        verbs.on(ThinProto.THIN_CREATE, this::thinCreate);
        // The verbs of other areas on the devices this one manages:
        verbs.around(DeviceProto.REMOVE, (r, next) -> manages(r.name()) ? remove(r.name(), r.force()) : next.handle(r));
        verbs.around(DeviceProto.LS, (r, next) -> decorateLs(next.handle(r)));
        verbs.around(DeviceProto.MESSAGE, (r, next) -> {
            checkMessage(r.name(), r.message());
            return next.handle(r);
        });
        verbs.around(SnapshotProto.CREATE, (r, next) -> isVolume(r.origin()) ? snapshotCreate(r) : next.handle(r));
        verbs.around(SnapshotProto.MERGE, (r, next) -> isVolume(r.name()) ? merge(r) : next.handle(r));
        verbs.around(SnapshotProto.REMOVE, (r, next) -> {
            if (!isVolume(r.name())) {
                return next.handle(r);
            }
            remove(r.name(), r.force());
            return new SnapshotProto.Removed(r.name(), false);
        });
        verbs.around(SnapshotProto.LIST, (r, next) -> {
            if (r.name() != null && isVolume(r.name())) {
                List<SnapshotProto.Snapshot> thin = snapshotEntries(r.name());
                if (thin.isEmpty() && r.strict()) {
                    throw Snapshots.notASnapshot(r.name());
                }
                return new SnapshotProto.SnapshotList(thin);
            }
            SnapshotProto.SnapshotList dm = next.handle(r);
            if (r.name() != null) {
                return dm;
            }
            List<SnapshotProto.Snapshot> all = new ArrayList<>(dm.snapshots());
            all.addAll(snapshotEntries(null));
            return new SnapshotProto.SnapshotList(all);
        });
    }

    /** Deferred thin merges whose volumes were let go may start now. */
    @Override
    public void released() {
        startDeferredMerges();
    }

    @Override
    public void started() {
        startDeferredMerges();
    }

    @Override
    public DaemonState recovered(DaemonState loaded, DaemonState recovered) {
        return recoveredState(loaded, recovered);
    }

    private ThinState thin() {
        return ctx.state().thin();
    }

    /** A pool or a thin volume made by these verbs. */
    boolean manages(String name) {
        return thin().pool(name) != null || thin().volume(name) != null;
    }

    boolean isVolume(String name) {
        return thin().volume(name) != null;
    }

    /**
     * The kernel's rule of thumb (Documentation/admin-guide/device-mapper/thin-provisioning.rst):
     * 48 bytes per data block, at least 2 MiB; rounded up to 4 KiB and capped at what a pool can use.
     */
    static long defaultMetadataBytes(long dataBytes, long blockBytes) {
        long bytes = Math.max(MIN_METADATA_BYTES, 48 * (dataBytes / blockBytes));
        return Math.min(MAX_METADATA_BYTES, (bytes + 4095) / 4096 * 4096);
    }

    // ------------------------------------------------------------------ pool create

    private ThinProto.Pool poolCreate(ThinProto.PoolCreate r) {
        return ctx.withIntent(() -> poolCreateLocked(r), r.name());
    }

    private ThinProto.Pool poolCreateLocked(ThinProto.PoolCreate r) {
        String name = r.name();
        long sizeBytes = r.sizeBytes();
        long metadataBytesArg = r.metadataSizeBytes();
        long blockBytes = r.blockSizeBytes();
        String dataArg = r.dataFile();
        String metaArg = r.metadataFile();
        Names.check("pool name", name);
        checkNameFree(name, true);
        if (blockBytes < DEFAULT_BLOCK_BYTES || blockBytes > (1L << 30) || blockBytes % DEFAULT_BLOCK_BYTES != 0) {
            throw new DaemonException(ErrorKind.USAGE, "--block-size: " + blockBytes
                    + " (expected: a multiple of 64 KiB from 64K to 1G, as dm-thin requires)");
        }
        if (sizeBytes < blockBytes) {
            throw new DaemonException(ErrorKind.USAGE, "--size: " + sizeBytes + " (expected: at least one block of "
                    + blockBytes + " bytes)");
        }
        long blockSectors = blockBytes / 512;
        long dataSectors = sizeBytes / blockBytes * blockSectors;
        long dataBytes = dataSectors * 512;
        Path imagesDir = ctx.config().stateDir().imagesDir();
        Path meta = metaArg == null ? imagesDir.resolve(name + "_tmeta.img") : Path.of(metaArg);
        Path data = dataArg == null ? imagesDir.resolve(name + "_tdata.img") : Path.of(dataArg);
        Names.checkTableWord("metadata file path", meta.toString());
        Names.checkTableWord("data file path", data.toString());
        if (meta.toAbsolutePath().normalize().equals(data.toAbsolutePath().normalize())) {
            throw new DaemonException(ErrorKind.USAGE, "--metadata: " + meta + " (expected: a file other than the data file)");
        }
        boolean managed = metaArg == null && dataArg == null;
        long metaBytes;
        boolean createMeta = !Files.exists(meta);
        boolean createData = !Files.exists(data);
        if (!createMeta) {
            if (metaArg == null) {
                throw leftover(meta);
            }
            if (metadataBytesArg > 0) {
                throw new DaemonException(ErrorKind.USAGE, "--metadata-size: given with an existing metadata file " + meta
                        + " (expected: one or the other)", "the file's size is the metadata size; leave out --metadata-size");
            }
            checkZeroMetadata(meta);
            metaBytes = fileSize(meta);
        } else {
            metaBytes = metadataBytesArg > 0 ? metadataBytesArg : defaultMetadataBytes(dataBytes, blockBytes);
        }
        if (metaBytes < MIN_METADATA_BYTES || metaBytes > MAX_METADATA_BYTES || metaBytes % 4096 != 0) {
            throw new DaemonException(ErrorKind.USAGE, "--metadata-size: " + metaBytes + " (expected: a multiple of 4 KiB from 2M to "
                    + MAX_METADATA_BYTES + " bytes)");
        }
        if (!createData) {
            if (dataArg == null) {
                throw leftover(data);
            }
            long have = fileSize(data);
            if (have < dataBytes) {
                throw new DaemonException(ErrorKind.USAGE, "--data: " + data + " has " + have + " bytes (expected: at least --size, "
                        + dataBytes + " bytes)", "give a smaller --size, or a new path (cairn creates it)");
            }
        }
        String table = "0 " + dataSectors + " thin-pool file:" + meta + " file:" + data + " " + blockSectors + " 0\n";
        ThinState.Pool rec = new ThinState.Pool(name, meta.toString(), data.toString(), managed, blockSectors, 1, 0, List.of());
        DaemonState state = ctx.state();
        DaemonState after = state.withDevice(new DaemonState.Device(name, table, null, false, false, List.of()))
                .withThin(state.thin().withPool(rec));
        List<String> created = new ArrayList<>();
        if (createMeta) {
            created.add(meta.toString());
        }
        if (createData) {
            created.add(data.toString());
        }
        long metaSize = metaBytes;
        Transaction tx = Transaction.begin(ctx.stateStore(), ctx.hooks(), POOL_CREATE, name, after, created, List.of());
        try {
            if (createMeta) {
                tx.step("create-metadata", () -> Images.createSparse(meta, metaSize), null);
            }
            if (createData) {
                tx.step("create-data", () -> Images.createSparse(data, dataBytes), null);
            }
            tx.step("create-pool", () -> ctx.registry().create(name, table), () -> ctx.removeQuietly(name));
            DaemonState.Device live = ctx.recordOf(name, false, null);
            tx.commit(st -> st.withDevice(live).withThin(st.thin().withPool(rec)));
        } catch (Exception | Error e) {
            tx.rollback();
            throw failure("pool create", name, e);
        }
        LOG.info("pool {} created: {} data blocks of {} sectors, {} bytes of metadata", name, dataSectors / blockSectors,
                blockSectors, metaBytes);
        return describePool(ctx.state().thin().pool(name));
    }

    private static DaemonException leftover(Path p) {
        return new DaemonException(ErrorKind.EXISTS, "image " + p + " already exists",
                "a leftover of an earlier pool: remove it (rm " + p + "), or name files with --data and --metadata");
    }

    private static long fileSize(Path p) {
        try {
            return Files.size(p);
        } catch (IOException e) {
            throw new DaemonException(ErrorKind.FAILED, p + ": " + e.getMessage());
        }
    }

    /** A new pool needs a metadata device whose superblock is all zeros (dm-thin formats it then). */
    private static void checkZeroMetadata(Path meta) {
        byte[] first = new byte[4096];
        int n;
        try (InputStream in = Files.newInputStream(meta)) {
            n = in.readNBytes(first, 0, first.length);
        } catch (IOException e) {
            throw new DaemonException(ErrorKind.FAILED, "--metadata: " + meta + ": " + e.getMessage());
        }
        for (int i = 0; i < n; i++) {
            if (first[i] != 0) {
                throw new DaemonException(ErrorKind.USAGE, "--metadata: " + meta + " (expected: a new or all-zero file; "
                        + "its first block is not zero, it may hold another pool's metadata)",
                        "pick a new path (cairn creates it), or zero it if it holds nothing you need");
            }
        }
    }

    // ------------------------------------------------------------------ thin create

    private ThinProto.Volume thinCreate(ThinProto.ThinCreate r) {
        return ctx.withIntent(() -> thinCreateLocked(r), r.pool(), r.name(), r.origin());
    }

    private ThinProto.Volume thinCreateLocked(ThinProto.ThinCreate r) {
        String poolName = r.pool();
        String name = r.name();
        long sizeBytes = r.sizeBytes();
        String external = r.origin();
        boolean noExport = r.noExport();
        Names.check("thin volume name", name);
        checkNameFree(name, noExport);
        ThinState.Pool pool = readyPool(poolName);
        if (sizeBytes <= 0) {
            throw new DaemonException(ErrorKind.USAGE, "--virtual-size: " + sizeBytes + " (expected: a size > 0, e.g. 10G)");
        }
        long sectors = (sizeBytes + 511) / 512;
        if (external != null) {
            checkExternalOrigin(external, poolName, name);
        }
        long id = pool.nextDeviceId();
        long tid = pool.transactionId();
        String table = "0 " + sectors + " thin " + poolName + " " + id + (external == null ? "" : " " + external) + "\n";
        ThinState.Volume vol = new ThinState.Volume(name, poolName, id, sectors, null, external, false);
        ThinState.Pool poolAfter = pool.withNextDeviceId(id + 1).withTransactionId(tid + 1);
        DaemonState.Export exportRec = noExport ? null : new DaemonState.Export(name, name, false, "cairn thin volume " + name);
        List<String> deps = external == null ? List.of(poolName) : List.of(poolName, external);
        DaemonState state = ctx.state();
        DaemonState after = state.withDevice(new DaemonState.Device(name, table, null, false, false, deps))
                .withThin(state.thin().withVolume(vol).withPool(poolAfter));
        if (exportRec != null) {
            after = after.withExport(exportRec);
        }
        Transaction tx = Transaction.begin(ctx.stateStore(), ctx.hooks(), THIN_CREATE, name, after, List.of(), List.of());
        try {
            tx.step("create-thin", () -> message(poolName, "create_thin", id), () -> deleteQuietly(poolName, id));
            tx.step("create-device", () -> ctx.registry().create(name, table), () -> ctx.removeQuietly(name));
            if (exportRec != null) {
                tx.step("add-export", () -> ctx.addExportLive(exportRec), () -> ctx.exports().remove(name));
            }
            tx.pointOfNoReturn();
            tx.step("set-transaction-id", () -> message(poolName, "set_transaction_id", tid, tid + 1), null);
            DaemonState.Device live = ctx.recordOf(name, false, null);
            tx.commit(st -> {
                DaemonState next = st.withDevice(live).withThin(st.thin().withVolume(vol).withPool(poolAfter));
                return exportRec == null ? next : next.withExport(exportRec);
            });
        } catch (Exception | Error e) {
            if (tx.isForward()) {
                throw new DaemonException(ErrorKind.STATE, "thin create " + name + " was done but could not be recorded: "
                        + e.getMessage(), "the next start of the daemon completes it", e);
            }
            tx.rollback();
            throw failure("thin create", name, e);
        }
        LOG.info("thin volume {} created in pool {} (device id {}, {} sectors{})", name, poolName, id, sectors,
                external == null ? "" : ", external origin " + external);
        return describeVolume(ctx.state().thin().volume(name));
    }

    private void checkExternalOrigin(String external, String poolName, String name) {
        if (ctx.registry().find(external).isEmpty()) {
            throw new DaemonException(ErrorKind.NOT_FOUND, "--origin: " + external + " (expected: an existing device)",
                    "cairn ls lists the devices");
        }
        if (external.equals(poolName) || external.equals(name)) {
            throw new DaemonException(ErrorKind.USAGE, "--origin: " + external + " (expected: a device other than the pool and the volume)");
        }
        ThinState.Volume v = thin().volume(external);
        if (v != null && v.pool().equals(poolName)) {
            throw new DaemonException(ErrorKind.USAGE, "--origin: " + external + " is a thin volume of the same pool "
                    + "(expected: a device outside pool " + poolName + ")", "take a thin snapshot instead: cairn snapshot create "
                    + external + " " + name);
        }
        DaemonState.Device rec = ctx.state().device(external);
        if (rec != null && rec.hidden()) {
            throw new DaemonException(ErrorKind.USAGE, "--origin: " + external + " (expected: a device that is not cairn's hidden snapshot device)");
        }
    }

    // ------------------------------------------------------------------ snapshot create

    /** {@code snapshot create ORIGIN NAME} when ORIGIN is a thin volume: a thin snapshot, as {@code lvcreate -s}. */
    private SnapshotProto.Snapshot snapshotCreate(SnapshotProto.Create r) {
        String origin = r.origin();
        ThinState.Volume o = thin().volume(origin);
        String pool = o == null ? null : o.pool();
        return ctx.withIntent(() -> snapshotCreateLocked(r), origin, pool, r.name());
    }

    private SnapshotProto.Snapshot snapshotCreateLocked(SnapshotProto.Create r) {
        String origin = r.origin();
        String name = r.name();
        boolean noExport = r.noExport();
        for (String unused : List.of("cow", "sizeBytes")) {
            boolean given = unused.equals("cow") ? r.cow() != null : r.sizeBytes() != null && r.sizeBytes() != 0;
            if (given) {
                throw new DaemonException(ErrorKind.USAGE, "--" + (unused.equals("cow") ? "cow" : "size") + ": given for a thin "
                        + "snapshot (expected: none; " + origin + " is a thin volume, its snapshot shares the pool)",
                        "leave it out: cairn snapshot create " + origin + " " + name);
            }
        }
        if (r.transientStore()) {
            throw new DaemonException(ErrorKind.USAGE, "--transient: given for a thin snapshot (expected: none; a thin "
                    + "snapshot lives in the pool's metadata)", "leave it out: cairn snapshot create " + origin + " " + name);
        }
        ThinState.Volume o = thin().volume(origin);
        if (o == null) {
            throw new DaemonException(ErrorKind.NOT_FOUND, "origin: " + origin + " (expected: a thin volume)", "cairn ls lists them");
        }
        Names.check("snapshot name", name);
        checkNameFree(name, noExport);
        ThinState.Pool pool = readyPool(o.pool());
        MappedDevice originDev = ctx.device(origin);
        if (originDev.state() == DeviceState.SUSPENDED) {
            throw new DaemonException(ErrorKind.BUSY, "origin " + origin + " is suspended",
                    "resume it first (cairn resume " + origin + "); a snapshot must be taken of a live device");
        }
        long id = pool.nextDeviceId();
        long tid = pool.transactionId();
        String poolName = pool.name();
        String table = "0 " + o.sectors() + " thin " + poolName + " " + id
                + (o.externalOrigin() == null ? "" : " " + o.externalOrigin()) + "\n";
        ThinState.Volume vol = new ThinState.Volume(name, poolName, id, o.sectors(), origin, o.externalOrigin(), false);
        ThinState.Pool poolAfter = pool.withNextDeviceId(id + 1).withTransactionId(tid + 1);
        DaemonState.Export exportRec = noExport ? null
                : new DaemonState.Export(name, name, false, "cairn thin snapshot " + name + " of " + origin);
        List<String> deps = o.externalOrigin() == null ? List.of(poolName) : List.of(poolName, o.externalOrigin());
        DaemonState state = ctx.state();
        DaemonState after = state.withDevice(new DaemonState.Device(name, table, null, false, false, deps))
                .withThin(state.thin().withVolume(vol).withPool(poolAfter));
        if (exportRec != null) {
            after = after.withExport(exportRec);
        }
        Transaction tx = Transaction.begin(ctx.stateStore(), ctx.hooks(), SNAPSHOT_CREATE, name, after, List.of(), List.of());
        try {
            // Linux requires the origin's thin device suspended (its I/O drained and committed) for create_snap.
            tx.step("suspend-origin", () -> ctx.suspendDevice(originDev, SuspendMode.FLUSH, null),
                    () -> resumeIfSuspended(origin));
            tx.step("create-snap", () -> message(poolName, "create_snap", id, o.deviceId()), () -> deleteQuietly(poolName, id));
            tx.step("resume-origin", () -> ctx.registry().resume(origin), null);
            tx.step("create-device", () -> ctx.registry().create(name, table), () -> ctx.removeQuietly(name));
            if (exportRec != null) {
                tx.step("add-export", () -> ctx.addExportLive(exportRec), () -> ctx.exports().remove(name));
            }
            tx.pointOfNoReturn();
            tx.step("set-transaction-id", () -> message(poolName, "set_transaction_id", tid, tid + 1), null);
            DaemonState.Device live = ctx.recordOf(name, false, null);
            tx.commit(st -> {
                DaemonState next = st.withDevice(live).withThin(st.thin().withVolume(vol).withPool(poolAfter));
                return exportRec == null ? next : next.withExport(exportRec);
            });
        } catch (Exception | Error e) {
            if (tx.isForward()) {
                throw new DaemonException(ErrorKind.STATE, "snapshot create " + name + " was done but could not be recorded: "
                        + e.getMessage(), "the next start of the daemon completes it", e);
            }
            tx.rollback();
            throw failure("snapshot create", name, e);
        }
        LOG.info("thin snapshot {} of {} created (pool {}, device id {})", name, origin, poolName, id);
        return describeSnapshot(ctx.state().thin().volume(name));
    }

    // ------------------------------------------------------------------ merge

    /** {@code snapshot merge NAME} of a thin snapshot: the volumes are swapped, as {@code lvconvert --merge} does. */
    private SnapshotProto.Snapshot merge(SnapshotProto.Merge r) {
        String name = r.name();
        ThinState.Volume s = thin().volume(name);
        return ctx.withIntent(() -> mergeLocked(r), name, s == null ? null : s.origin(), s == null ? null : s.pool());
    }

    private SnapshotProto.Snapshot mergeLocked(SnapshotProto.Merge r) {
        String name = r.name();
        boolean force = r.force();
        boolean defer = r.defer();
        if (force && defer) {
            throw new DaemonException(ErrorKind.USAGE, "--force and --defer (expected: at most one of them)",
                    "--defer waits until nothing has the origin open; --force merges now anyway");
        }
        ThinState.Volume s = checkMergeable(name);
        List<String> open = ctx.openUsers(s.origin(), name);
        if (!open.isEmpty() && !force) {
            if (defer) {
                if (!s.mergeDeferred()) {
                    ctx.update(st -> st.withThin(st.thin().withVolume(s.withMergeDeferred(true))));
                    LOG.info("merge of {} into {} deferred until they are no longer open ({})", name, s.origin(), String.join(", ", open));
                }
                return describeSnapshot(thin().volume(name));
            }
            throw new DaemonException(ErrorKind.BUSY, "origin " + s.origin() + " or snapshot " + name + " is open: "
                    + String.join(", ", open) + " (a merge changes the origin's data under them)",
                    "unmount and disconnect them first; or let it start by itself once they are gone: cairn snapshot merge --defer "
                            + name + "; or merge anyway (they will see data change under them): cairn snapshot merge --force " + name);
        }
        return startMerge(s, force);
    }

    private ThinState.Volume checkMergeable(String name) {
        ThinState.Volume s = thin().volume(name);
        if (s == null) {
            throw new DaemonException(ErrorKind.NOT_FOUND, "snapshot: " + name + " (expected: an existing snapshot)",
                    "cairn snapshot ls lists the snapshots");
        }
        if (s.origin() == null || thin().volume(s.origin()) == null) {
            throw new DaemonException(ErrorKind.USAGE, "thin volume " + name + " is not a snapshot of an existing thin volume",
                    "only a thin snapshot whose origin still exists can be merged");
        }
        readyPool(s.pool());
        for (String dev : List.of(name, s.origin())) {
            if (ctx.device(dev).state() == DeviceState.SUSPENDED) {
                throw new DaemonException(ErrorKind.BUSY, "device " + dev + " is suspended", "resume it first: cairn resume " + dev);
            }
        }
        MappedDevice snapDev = ctx.device(name);
        if (!snapDev.info().holders().isEmpty()) {
            throw new DaemonException(ErrorKind.BUSY, "snapshot " + name + " is used by " + String.join(", ", snapDev.info().holders()),
                    "remove those devices first (cairn ls --tree)");
        }
        return s;
    }

    private SnapshotProto.Snapshot startMerge(ThinState.Volume s, boolean force) {
        String name = s.name();
        String originName = s.origin();
        ThinState state0 = thin();
        ThinState.Volume o = state0.volume(originName);
        ThinState.Pool pool = state0.pool(s.pool());
        String poolName = pool.name();
        long tid = pool.transactionId();
        long oldId = o.deviceId();
        String snapTable = ctx.device(name).status(StatusType.TABLE).text();
        String mergedTable = "0 " + s.sectors() + " thin " + poolName + " " + s.deviceId()
                + (s.externalOrigin() == null ? "" : " " + s.externalOrigin()) + "\n";
        DaemonState state = ctx.state();
        List<DaemonState.Export> exportRecs = ctx.exports().of(name).stream().map(state::export).toList();
        ThinState thinAfter = mergedThin(state0, s, pool.withTransactionId(tid + 1).withPendingDeletes(List.of(oldId)));
        DaemonState.Device originRec = state.device(originName);
        DaemonState after = state.withoutDevice(name).withThin(thinAfter);
        if (originRec != null) {
            after = after.withDevice(new DaemonState.Device(originName, mergedTable, null, false, originRec.hidden(), originRec.deps()));
        }
        boolean[] deleted = {false};
        Transaction tx = Transaction.begin(ctx.stateStore(), ctx.hooks(), MERGE, name, after, List.of(), List.of());
        try {
            for (DaemonState.Export e : exportRecs) {
                tx.step("remove-export", () -> ctx.exports().remove(e.name()), () -> ctx.addExportLive(e));
            }
            tx.step("suspend-origin", () -> ctx.suspendDevice(ctx.device(originName), SuspendMode.FLUSH, null),
                    () -> resumeIfSuspended(originName));
            tx.step("remove-snapshot", () -> ctx.registry().remove(name, force), () -> recreate(name, snapTable));
            tx.step("load-origin", () -> ctx.registry().load(originName, mergedTable), () -> clearQuietly(originName));
            // From the resume on, writes to the origin land in the snapshot's device id: forward only.
            tx.pointOfNoReturn();
            tx.step("resume-origin", () -> ctx.registry().resume(originName), null);
            tx.step("delete-old", () -> {
                message(poolName, "delete", oldId);
                deleted[0] = true;
            }, null);
            tx.step("set-transaction-id", () -> message(poolName, "set_transaction_id", tid, tid + 1), null);
            DaemonState.Device live = ctx.recordOf(originName);
            ThinState.Pool poolDone = pool.withTransactionId(tid + 1).withPendingDeletes(deleted[0] ? List.of() : List.of(oldId));
            tx.commit(st -> st.withoutDevice(name).withDevice(live).withThin(mergedThin(st.thin(), s, poolDone)));
        } catch (Exception | Error e) {
            if (tx.isForward()) {
                throw new DaemonException(ErrorKind.STATE, "snapshot merge " + name + " was done but could not be recorded: "
                        + e.getMessage(), "the next start of the daemon completes it", e);
            }
            tx.rollback();
            throw failure("snapshot merge", name, e);
        }
        LOG.info("thin snapshot {} merged into {} (device id {} now backs {}; id {} deleted)", name, originName, s.deviceId(),
                originName, oldId);
        return new SnapshotProto.Snapshot(name, originName, null, true, 0, false, false, null, null, null, null, null, null, null,
                null, null, true, null, null, true);
    }

    /** The thin state once {@code s} is merged: its origin takes its id and size, snapshots of {@code s} become the origin's. */
    private static ThinState mergedThin(ThinState t, ThinState.Volume s, ThinState.Pool pool) {
        ThinState.Volume o = t.volume(s.origin());
        ThinState next = t.withoutVolume(s.name()).withPool(pool);
        next = next.withVolume(new ThinState.Volume(o.name(), o.pool(), s.deviceId(), s.sectors(), o.origin(), s.externalOrigin(), false));
        for (ThinState.Volume v : t.volumes()) {
            if (s.name().equals(v.origin())) {
                next = next.withVolume(v.withOrigin(o.name()));
            }
        }
        return next;
    }

    /** Starts every deferred thin merge that nothing holds back any more, on a virtual thread. */
    void startDeferredMerges() {
        if (thin().volumes().stream().noneMatch(ThinState.Volume::mergeDeferred)) {
            return;
        }
        Thread.ofVirtual().name("cairn-deferred-thin-merge").start(() -> {
            for (ThinState.Volume found : thin().volumes()) {
                if (!found.mergeDeferred()) {
                    continue;
                }
                try {
                    ctx.withIntent(() -> {
                        ThinState.Volume s = thin().volume(found.name());
                        if (s == null || !s.mergeDeferred() || s.origin() == null
                                || !ctx.openUsers(s.origin(), s.name()).isEmpty()) {
                            return null;
                        }
                        startMerge(checkMergeable(s.name()), false);
                        LOG.info("deferred merge of {} into {} done: nothing has them open any more", s.name(), s.origin());
                        return null;
                    }, found.name(), found.origin(), found.pool());
                } catch (DaemonException e) {
                    LOG.error("deferred merge of {} could not run: {}; it stays deferred (cairn snapshot rm {} drops it)",
                            found.name(), e.getMessage(), found.name());
                }
            }
        });
    }

    // ------------------------------------------------------------------ remove

    /** {@code remove NAME} (or {@code snapshot rm NAME}) of a thin volume or a pool. */
    private DeviceProto.Removed remove(String name, boolean force) {
        ThinState.Volume v = thin().volume(name);
        if (v != null) {
            return ctx.withIntent(() -> removeVolumeLocked(name, force), name, v.pool());
        }
        return ctx.withIntent(() -> removePoolLocked(name, force), name);
    }

    private DeviceProto.Removed removeVolumeLocked(String name, boolean force) {
        ThinState.Volume v = thin().volume(name);
        if (v == null) {
            throw new DaemonException(ErrorKind.NOT_FOUND, "thin volume: " + name + " (expected: an existing one)", "cairn ls lists them");
        }
        ThinState.Pool pool = readyPool(v.pool());
        MappedDevice md = ctx.device(name);
        if (!md.info().holders().isEmpty()) {
            throw new DaemonException(ErrorKind.BUSY, "thin volume " + name + " is in use by " + String.join(", ", md.info().holders()),
                    "remove those devices first (cairn ls --tree shows the stack)");
        }
        if (!force) {
            List<String> open = ctx.openUsers(name, null);
            if (!open.isEmpty()) {
                throw new DaemonException(ErrorKind.BUSY, "thin volume " + name + " is open: " + String.join(", ", open),
                        "disconnect them first, or remove it anyway (their connections fail): cairn remove --force " + name);
            }
        }
        String poolName = pool.name();
        long tid = pool.transactionId();
        String table = md.status(StatusType.TABLE).text();
        DaemonState state = ctx.state();
        List<DaemonState.Export> exportRecs = ctx.exports().of(name).stream().map(state::export).toList();
        DaemonState after = state.withoutDevice(name)
                .withThin(removedThin(state.thin(), name, pool.withTransactionId(tid + 1).withPendingDeletes(List.of(v.deviceId()))));
        boolean[] deleted = {false};
        Transaction tx = Transaction.begin(ctx.stateStore(), ctx.hooks(), REMOVE, name, after, List.of(), List.of());
        try {
            for (DaemonState.Export e : exportRecs) {
                tx.step("remove-export", () -> ctx.exports().remove(e.name()), () -> ctx.addExportLive(e));
            }
            tx.step("remove-device", () -> ctx.registry().remove(name, force), () -> recreate(name, table));
            // The data goes with the delete message: from here on the verb completes.
            tx.pointOfNoReturn();
            tx.step("delete", () -> {
                message(poolName, "delete", v.deviceId());
                deleted[0] = true;
            }, null);
            tx.step("set-transaction-id", () -> message(poolName, "set_transaction_id", tid, tid + 1), null);
            ThinState.Pool poolDone = pool.withTransactionId(tid + 1).withPendingDeletes(deleted[0] ? List.of() : List.of(v.deviceId()));
            tx.commit(st -> st.withoutDevice(name).withThin(removedThin(st.thin(), name, poolDone)));
        } catch (Exception | Error e) {
            if (tx.isForward()) {
                throw new DaemonException(ErrorKind.STATE, "remove " + name + " was done but could not be recorded: " + e.getMessage(),
                        "the next start of the daemon completes it", e);
            }
            tx.rollback();
            throw failure("remove", name, e);
        }
        ctx.released();
        LOG.info("thin volume {} removed from pool {} (device id {} deleted)", name, poolName, v.deviceId());
        return new DeviceProto.Removed(name, exportRecs.stream().map(DaemonState.Export::name).toList());
    }

    private static ThinState removedThin(ThinState t, String name, ThinState.Pool pool) {
        ThinState next = t.withoutVolume(name).withPool(pool);
        for (ThinState.Volume v : t.volumes()) {
            if (name.equals(v.origin())) {
                // As lvs: a snapshot whose origin is gone has none (and nothing to merge into).
                next = next.withVolume(v.withOrigin(null).withMergeDeferred(false));
            }
        }
        return next;
    }

    private DeviceProto.Removed removePoolLocked(String name, boolean force) {
        ThinState.Pool pool = thin().pool(name);
        if (pool == null) {
            throw new DaemonException(ErrorKind.NOT_FOUND, "pool: " + name + " (expected: an existing pool)", "cairn ls lists them");
        }
        List<String> vols = thin().volumesOf(name).stream().map(ThinState.Volume::name).toList();
        if (!vols.isEmpty()) {
            throw new DaemonException(ErrorKind.BUSY, "pool " + name + " has thin volumes: " + String.join(", ", vols),
                    "remove them first (cairn remove " + vols.get(0) + "), as lvremove of a pool with volumes asks");
        }
        MappedDevice md = ctx.device(name);
        if (!md.info().holders().isEmpty()) {
            throw new DaemonException(ErrorKind.BUSY, "pool " + name + " is in use by " + String.join(", ", md.info().holders()),
                    "remove those devices first (cairn ls --tree shows the stack)");
        }
        if (!force) {
            List<String> open = ctx.openUsers(name, null);
            if (!open.isEmpty()) {
                throw new DaemonException(ErrorKind.BUSY, "pool " + name + " is open: " + String.join(", ", open),
                        "disconnect them first, or remove it anyway: cairn remove --force " + name);
            }
        }
        String table = md.status(StatusType.TABLE).text();
        DaemonState state = ctx.state();
        List<DaemonState.Export> exportRecs = ctx.exports().of(name).stream().map(state::export).toList();
        DaemonState after = state.withoutDevice(name).withThin(state.thin().withoutPool(name));
        Transaction tx = Transaction.begin(ctx.stateStore(), ctx.hooks(), POOL_REMOVE, name, after, List.of(),
                pool.filesManaged() ? List.of(pool.metadataFile(), pool.dataFile()) : List.of());
        try {
            for (DaemonState.Export e : exportRecs) {
                tx.step("remove-export", () -> ctx.exports().remove(e.name()), () -> ctx.addExportLive(e));
            }
            tx.step("remove-pool", () -> ctx.registry().remove(name, force), () -> recreate(name, table));
            tx.commit(st -> st.withoutDevice(name).withThin(st.thin().withoutPool(name)));
        } catch (Exception | Error e) {
            tx.rollback();
            throw failure("remove", name, e);
        }
        LOG.info("pool {} removed{}", name, pool.filesManaged() ? " with its files" : " (its files were kept)");
        return new DeviceProto.Removed(name, null, pool.filesManaged());
    }

    // ------------------------------------------------------------------ restart

    /**
     * The state a restart goes on with, after {@link Transaction#recover} made {@code recovered} of
     * {@code loaded}: when a verb was rolled back, device ids it may already have created in a pool
     * are added to that pool's {@code pendingDeletes}.
     */
    static DaemonState recoveredState(DaemonState loaded, DaemonState recovered) {
        DaemonState.Intent in = loaded.intent();
        if (in == null) {
            return recovered;
        }
        ThinState t = recovered.thin();
        for (ThinState.Pool p : t.pools()) {
            Set<Long> ids = new LinkedHashSet<>(in.after().thin().deviceIds(p.name()));
            ids.addAll(loaded.thin().deviceIds(p.name()));
            ids.removeAll(t.deviceIds(p.name()));
            if (!ids.isEmpty()) {
                Set<Long> pending = new LinkedHashSet<>(p.pendingDeletes());
                pending.addAll(ids);
                t = t.withPool(p.withPendingDeletes(List.copyOf(pending)));
            }
        }
        return recovered.withThin(t);
    }

    /**
     * Called at start right after device {@code name} was rebuilt (before the devices on it): for a pool,
     * deletes the ids a verb left behind and completes its transaction id. Returns problems for the banner.
     */
    @Override
    public List<String> restored(String name) {
        ThinState.Pool p = thin().pool(name);
        if (p == null) {
            return List.of();
        }
        List<String> problems = new ArrayList<>();
        List<Long> left = new ArrayList<>();
        try {
            for (long id : p.pendingDeletes()) {
                try {
                    message(name, "delete", id);
                    LOG.warn("pool {}: deleted device id {}, left by an interrupted verb", name, id);
                } catch (DmException e) {
                    if (errno(e) != ENODATA) {
                        left.add(id);
                        problems.add("pool " + name + ": device id " + id + " should be deleted but: " + e.getMessage());
                    }
                }
            }
            long live = liveTransactionId(name);
            if (live == p.transactionId() - 1 && left.isEmpty()) {
                message(name, "set_transaction_id", live, p.transactionId());
                LOG.warn("pool {}: transaction id set to {} (the verb that changed it was interrupted)", name, p.transactionId());
            } else if (live != p.transactionId()) {
                problems.add("pool " + name + ": its metadata has transaction id " + live + " but the state file expects "
                        + p.transactionId() + "; its volumes may not match (thin_dump its metadata to compare)");
            }
        } catch (DmException | RuntimeException e) {
            problems.add("pool " + name + ": could not be reconciled with the state file: " + e.getMessage());
            left = p.pendingDeletes();
        }
        if (!left.equals(p.pendingDeletes())) {
            List<Long> remaining = List.copyOf(left);
            ctx.update(st -> st.withThin(st.thin().withPool(st.thin().pool(name).withPendingDeletes(remaining))));
        }
        problems.forEach(LOG::error);
        return problems;
    }

    // ------------------------------------------------------------------ listing

    /** Adds pool and thin volume columns (Data%, Meta%, as lvs) to the devices of an {@code ls} reply. */
    private DeviceProto.LsReply decorateLs(DeviceProto.LsReply reply) {
        ThinState t = thin();
        List<DeviceProto.LsDevice> devices = new ArrayList<>();
        for (DeviceProto.LsDevice d : reply.devices()) {
            ThinState.Pool p = t.pool(d.name());
            ThinState.Volume v = t.volume(d.name());
            if (p != null) {
                devices.add(d.withPool(poolUsage(d.name())));
            } else if (v != null) {
                devices.add(d.withThin(v.pool(), v.origin(), volumeDataPercent(d.name())));
            } else {
                devices.add(d);
            }
        }
        return new DeviceProto.LsReply(devices, reply.tree(), reply.treeText());
    }

    /** The thin snapshots as {@code snapshot ls} lists them ({@code only}: one name, or null for all). */
    private List<SnapshotProto.Snapshot> snapshotEntries(String only) {
        List<SnapshotProto.Snapshot> out = new ArrayList<>();
        for (ThinState.Volume v : thin().volumes()) {
            if (v.origin() != null && (only == null || only.equals(v.name()))) {
                out.add(describeSnapshot(v));
            }
        }
        return out;
    }

    private SnapshotProto.Snapshot describeSnapshot(ThinState.Volume v) {
        ThinState.Pool p = thin().pool(v.pool());
        String info = infoStatus(v.name());
        String state;
        List<String> openBy = null;
        if (v.mergeDeferred()) {
            state = "merge-deferred";
            openBy = v.origin() == null ? List.of() : ctx.openUsers(v.origin(), v.name());
        } else {
            state = info.isEmpty() || info.startsWith("Fail") ? (info.isEmpty() ? "unknown" : "fail") : "active";
        }
        return new SnapshotProto.Snapshot(v.name(), v.origin(), null, true, p == null ? 0 : p.blockSectors(), false,
                v.mergeDeferred(), info, null, null, null, volumeDataPercent(v.name()), null, null, state, openBy, true, v.pool(),
                v.deviceId(), null);
    }

    private ThinProto.Volume describeVolume(ThinState.Volume v) {
        return new ThinProto.Volume(v.name(), v.pool(), v.deviceId(), v.sectors(), v.externalOrigin(), ctx.exports().of(v.name()));
    }

    private ThinProto.Pool describePool(ThinState.Pool p) {
        ThinProto.PoolUsage u = poolUsage(p.name());
        return new ThinProto.Pool(p.name(), p.metadataFile(), p.dataFile(), p.blockSectors(), u.transactionId(),
                u.usedMetadataBlocks(), u.totalMetadataBlocks(), u.usedDataBlocks(), u.totalDataBlocks(), u.dataPercent(),
                u.metaPercent(), u.mode());
    }

    /** Data% and Meta% of a pool from its status line (null when it has none, e.g. in fail mode). */
    private ThinProto.PoolUsage poolUsage(String pool) {
        String[] w = infoStatus(pool).trim().split("\\s+");
        if (w.length >= 3 && w[1].contains("/") && w[2].contains("/")) {
            long[] meta = fraction(w[1]);
            long[] data = fraction(w[2]);
            return new ThinProto.PoolUsage(Long.parseLong(w[0]), meta[0], meta[1], data[0], data[1], percent(data[0], data[1]),
                    percent(meta[0], meta[1]), w.length > 4 ? w[4] : "");
        }
        return new ThinProto.PoolUsage(null, null, null, null, null, null, null, w.length > 0 ? w[0] : "");
    }

    private Double volumeDataPercent(String name) {
        String[] w = infoStatus(name).trim().split("\\s+");
        MappedDevice md = ctx.registry().find(name).orElse(null);
        if (md == null || w.length < 1 || !w[0].matches("[0-9]+") || md.capacitySectors() == 0) {
            return null;
        }
        return percent(Long.parseLong(w[0]), md.capacitySectors());
    }

    private static long[] fraction(String s) {
        int slash = s.indexOf('/');
        return new long[] {Long.parseLong(s.substring(0, slash)), Long.parseLong(s.substring(slash + 1))};
    }

    private static double percent(long used, long total) {
        return total == 0 ? 0.0 : Math.round(used * 10000.0 / total) / 100.0;
    }

    private String infoStatus(String device) {
        return ctx.registry().find(device).map(md -> {
            List<StatusLine> lines = md.status(StatusType.INFO).lines();
            return lines.isEmpty() ? "" : lines.get(0).params();
        }).orElse("");
    }

    // ------------------------------------------------------------------ guards

    /** Refuses {@code load} of a pool or thin volume: its table is the state file's and the pool's business. */
    @Override
    public void checkNotManaged(String device, String verb) {
        ThinState t = thin();
        if (t.pool(device) != null) {
            throw new DaemonException(ErrorKind.BUSY, "device " + device + " is a thin pool managed by cairn (" + verb
                    + " would change what its state records)", "use cairn pool, thin and snapshot verbs on it; "
                    + "to grow it, see docs/targets/thin-pool.md");
        }
        if (t.volume(device) != null) {
            throw new DaemonException(ErrorKind.BUSY, "device " + device + " is a thin volume managed by cairn (" + verb
                    + " would change what its state records)", "remove it with cairn remove " + device);
        }
    }

    /**
     * Refuses pool messages that change which devices a cairn-managed pool has or its transaction id
     * (the state file's allocator and transaction id would no longer match); the metadata snapshot
     * messages ({@code thin_dump -m} on a live pool) pass.
     */
    private void checkMessage(String name, List<String> words) {
        if (thin().pool(name) != null && !words.isEmpty()) {
            String cmd = words.get(0).toLowerCase(java.util.Locale.ROOT);
            if (List.of("create_thin", "create_snap", "delete", "set_transaction_id").contains(cmd)) {
                throw new DaemonException(ErrorKind.BUSY, "message: " + cmd + " to pool " + name
                        + " (expected: none that changes a pool cairn manages; its device ids and transaction id are in the state file)",
                        "use cairn thin create, cairn snapshot create and cairn remove; reserve_metadata_snap and "
                                + "release_metadata_snap are allowed");
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    private void checkNameFree(String name, boolean noExport) {
        DaemonState state = ctx.state();
        if (ctx.registry().find(name).isPresent() || state.device(name) != null || manages(name) || state.snapshot(name) != null) {
            throw new DaemonException(ErrorKind.EXISTS, "name: " + name + " (expected: a name not in use)",
                    "pick another name (cairn ls lists the names in use)");
        }
        if (!noExport && state.export(name) != null) {
            throw new DaemonException(ErrorKind.EXISTS, "export: " + name + " (expected: a name not in use)",
                    "pick another name, or add --no-export");
        }
    }

    /** The pool, checked to be live, writable and in step with the state file. */
    private ThinState.Pool readyPool(String name) {
        ThinState.Pool p = thin().pool(name);
        if (p == null) {
            throw new DaemonException(ErrorKind.NOT_FOUND, "pool: " + name + " (expected: a pool made by cairn pool create)",
                    "cairn ls lists the pools; make one with: cairn pool create " + name + " --size SIZE");
        }
        MappedDevice md = ctx.device(name);
        if (md.state() == DeviceState.SUSPENDED) {
            throw new DaemonException(ErrorKind.BUSY, "pool " + name + " is suspended", "resume it first: cairn resume " + name);
        }
        String[] w = infoStatus(name).trim().split("\\s+");
        if (w.length < 5 || !w[0].matches("[0-9]+")) {
            throw new DaemonException(ErrorKind.FAILED, "pool " + name + " is not usable: status " + String.join(" ", w),
                    "the daemon log says why; thin_check its metadata file " + p.metadataFile() + " after stopping the daemon");
        }
        if (!w[4].equals("rw")) {
            throw new DaemonException(ErrorKind.FAILED, "pool " + name + " is " + w[4] + " (expected: rw)",
                    w[4].equals("out_of_data_space") ? "grow its data (reload with a longer table) or free space by removing volumes"
                            : "its metadata is read-only: see cairn status " + name + " and docs/targets/thin-pool.md");
        }
        long live = Long.parseLong(w[0]);
        if (live != p.transactionId() || !p.pendingDeletes().isEmpty()) {
            throw new DaemonException(ErrorKind.STATE, "pool " + name + ": transaction id " + live + " in its metadata, "
                    + p.transactionId() + " in the state file" + (p.pendingDeletes().isEmpty() ? "" : " and device ids "
                    + p.pendingDeletes() + " still to delete"), "restart the daemon: its start reconciles them (or says why not)");
        }
        return p;
    }

    private long liveTransactionId(String pool) {
        String[] w = infoStatus(pool).trim().split("\\s+");
        if (w.length < 1 || !w[0].matches("[0-9]+")) {
            throw new IllegalStateException("status " + String.join(" ", w));
        }
        return Long.parseLong(w[0]);
    }

    private void message(String pool, String verb, long... ids) throws DmException {
        String[] words = new String[ids.length + 1];
        words[0] = verb;
        for (int i = 0; i < ids.length; i++) {
            words[i + 1] = Long.toString(ids[i]);
        }
        ctx.registry().message(pool, 0, words);
    }

    private void deleteQuietly(String pool, long id) {
        try {
            message(pool, "delete", id);
        } catch (DmException | RuntimeException e) {
            LOG.error("rollback: could not delete device id {} from pool {}: {} (the next start retries)", id, pool, e.getMessage());
        }
    }

    private static int errno(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof ThinRequestException r) {
                return r.errno();
            }
        }
        return -1;
    }

    private void resumeIfSuspended(String device) {
        ctx.registry().find(device).ifPresent(md -> {
            if (md.state() == DeviceState.SUSPENDED) {
                try {
                    ctx.registry().resume(device);
                } catch (DmException | RuntimeException e) {
                    LOG.error("rollback: could not resume {}: {}", device, e.getMessage());
                }
            }
        });
    }

    private void clearQuietly(String device) {
        try {
            ctx.registry().clear(device);
        } catch (DmException | RuntimeException e) {
            LOG.error("rollback: could not clear the loaded table of {}: {}", device, e.getMessage());
        }
    }

    private void recreate(String name, String table) {
        try {
            ctx.registry().create(name, table);
        } catch (DmException e) {
            LOG.error("rollback: could not recreate device {}: {}", name, e.getMessage());
        }
    }

    /** Turns a failed step into the error the client gets; the transaction has already been undone. */
    private static DaemonException failure(String verb, String name, Throwable e) {
        return switch (e) {
            case DaemonException d -> d;
            case DmException d -> DmErrors.of(verb, name, d);
            case IOException io -> new DaemonException(ErrorKind.FAILED, verb + " " + name + ": " + io.getMessage(),
                    "nothing was changed", io);
            case RuntimeException r -> r instanceof IllegalArgumentException || r instanceof IllegalStateException
                    ? new DaemonException(ErrorKind.FAILED, verb + " " + name + ": " + r.getMessage(), "nothing was changed", r)
                    : new DaemonException(ErrorKind.INTERNAL, verb + " " + name + " failed and was undone: " + r,
                    "this is a bug in cairn; the daemon log has the details", r);
            case Error err -> throw err;
            default -> new DaemonException(ErrorKind.FAILED, verb + " " + name + ": " + e, "nothing was changed", e);
        };
    }
}
