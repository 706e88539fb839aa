package dev.cairn.daemon;

import dev.cairn.block.QueueLimits;
import dev.cairn.block.Submitter;
import dev.cairn.block.SubmitterConfig;
import dev.cairn.dm.DeviceDeps;
import dev.cairn.dm.DeviceInfo;
import dev.cairn.dm.DeviceRegistry;
import dev.cairn.dm.DeviceState;
import dev.cairn.dm.DeviceStatus;
import dev.cairn.dm.DeviceTree;
import dev.cairn.dm.DmException;
import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.OpenHandle;
import dev.cairn.dm.RegistryOptions;
import dev.cairn.dm.TargetType;
import dev.cairn.dm.TargetTypes;
import dev.cairn.dm.StatusLine;
import dev.cairn.dm.StatusType;
import dev.cairn.dm.SuspendMode;
import dev.cairn.nbd.server.NbdExport;
import dev.cairn.nbd.server.NbdServer;
import dev.cairn.nbd.server.ServerTls;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import dev.cairn.metrics.MetricsSources;
import dev.cairn.metrics.StatsReport;

/**
 * The {@code cairn serve} daemon: owns one state directory (exclusively, through {@link DaemonLock}),
 * keeps its devices ({@link DeviceRegistry}), NBD exports ({@link NbdServer}) and snapshots, serves
 * the control socket, and writes {@code state.json} after every change.
 *
 * <h2>Implementation notes</h2>
 * <b>Locks.</b> No lock is daemon-wide while a verb waits on I/O. A verb that changes devices holds
 * the {@link NameLocks names} it works on (a suspend waiting for I/O held below holds only its own
 * device's name, so the resume of the device below, or {@code ls}, runs meanwhile); read-only verbs
 * take no lock. Changes to the state go through {@link #update}, a read-modify-write of the state
 * and its file under {@link #stateLock}, which is held for no device I/O. Snapshot verbs also hold
 * the snapshot lock (one snapshot transaction at a time, see {@link Snapshots}). Data I/O (NBD)
 * never takes any of these. A verb changes the live objects first and commits the state file after;
 * if the state write fails the client is told that the change is live but not persisted.
 *
 * <p><b>Cancelling.</b> Each request has a {@link Cancel}; a client that goes away cancels its
 * request, and {@link #stop()} cancels them all. A suspend waiting for I/O gives up when cancelled,
 * or after the request's {@code timeoutSeconds}, and leaves the device as it was.
 *
 * <p><b>State is kept incrementally.</b> Each verb rewrites only the records it touched, from the
 * registry's canonical TABLE status (which round-trips through the target constructors). A device
 * that could not be restored (a missing file) keeps its saved table in the state file, so nothing
 * is lost until the user fixes or removes it.
 *
 * <p><b>Start order.</b> Lock, state file, submitter and registry, NBD server built (not listening),
 * devices restored in dependency order, exports added, NBD listening, control socket, banner: a client
 * that reaches either socket finds every device already there.
 *
 * <p><b>Stop order</b> (SIGTERM, SIGINT or {@link #stop()}): control socket closed (running requests
 * finish), NBD closed (it answers what is in flight), every device suspended top-down with a flush
 * (held I/O drained, stores fdatasync'ed), registry closed, lock released.
 *
 * <p><b>Size.</b> This class is over the 500-line guide: it holds the lifecycle and the device and
 * export verbs together. Issue 17's typed protocol splits the verbs into one handler class per area
 * (devices, exports, snapshots, images) with a narrow context; that split has not been done yet.
 *
 * <p>Thread safety: {@link #handle} may be called from any thread; {@link #stop()} is idempotent.
 */
public final class Daemon implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Daemon.class);
    static final long VOL0_BYTES = 1L << 30;
    static final String VOL0 = "vol0";

    /**
     * How to run.
     *
     * @param stateDir   the state directory
     * @param listenHost NBD TCP address (loopback unless the user says otherwise)
     * @param nbdPort    NBD TCP port; 0 picks a free one; -1 disables TCP
     * @param nbdUnix    also serve NBD on {@code STATE_DIR/nbd.sock}
     * @param banner     where the start banner goes (stdout), or null for none
     * @param nbdTls     NBD STARTTLS credentials and mode, or null for TLS off (the caller keeps it to reload)
     * @param allowPlaintextRemote serve NBD without required TLS on an address beyond loopback
     */
    public record Config(StateDir stateDir, String listenHost, int nbdPort, boolean nbdUnix, PrintStream banner,
            ServerTls nbdTls, boolean allowPlaintextRemote, Duration nbdHandshakeLimit) {
        public static final int DEFAULT_NBD_PORT = 10809;

        public Config {
            Objects.requireNonNull(nbdHandshakeLimit, "nbdHandshakeLimit");
            if (nbdHandshakeLimit.isNegative()) {
                throw new IllegalArgumentException("nbdHandshakeLimit: " + nbdHandshakeLimit + " (expected: >= 0)");
            }
        }

        public Config(StateDir stateDir, String listenHost, int nbdPort, boolean nbdUnix, PrintStream banner,
                ServerTls nbdTls, boolean allowPlaintextRemote) {
            this(stateDir, listenHost, nbdPort, nbdUnix, banner, nbdTls, allowPlaintextRemote,
                    NbdServer.DEFAULT_HANDSHAKE_LIMIT);
        }

        public Config(StateDir stateDir, String listenHost, int nbdPort, boolean nbdUnix, PrintStream banner) {
            this(stateDir, listenHost, nbdPort, nbdUnix, banner, null, false);
        }
    }

    /** A live export: its record, the NBD export and the open handle that counts it as a user of the device. */
    private record Exported(DaemonState.Export record, NbdExport export, OpenHandle handle) {}

    private final Config config;
    private final DaemonLock lock;
    private final StateFile stateFile;
    private final ReentrantLock stateLock = new ReentrantLock();
    /** Notified after every change of the state (and on cancellation), for {@code wait}. */
    private final Object events = new Object();
    private final NameLocks names = new NameLocks();
    /** The cancellations of the requests running now, so {@link #stop()} can cancel them. */
    private final Set<Cancel> running = ConcurrentHashMap.newKeySet();
    /** How long stop() gives the control requests and the NBD clients to finish (each). */
    static final Duration STOP_DRAIN = Duration.ofSeconds(10);
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final Map<String, Exported> exports = new ConcurrentHashMap<>();
    private final List<String> restoreProblems = new ArrayList<>();
    private final List<String> recovered = new ArrayList<>();
    private final DaemonHooks hooks;
    private volatile DaemonState state;
    private Submitter submitter;
    private DeviceRegistry registry;
    private NbdServer nbd;
    private ControlServer control;
    private Snapshots snapshots;
    private ThinVolumes thinVolumes;
    private volatile boolean stopping;
    /** The first start made vol0's image (a failed start removes it again). */
    private boolean createdVol0;
    private final java.util.concurrent.atomic.AtomicBoolean stopStarted = new java.util.concurrent.atomic.AtomicBoolean();

    private Daemon(Config config, DaemonLock lock, StateFile stateFile, DaemonState state, DaemonHooks hooks) {
        this.config = config;
        this.hooks = hooks;
        this.lock = lock;
        this.stateFile = stateFile;
        this.state = state;
    }

    /** Starts a daemon; on any failure everything started so far is undone and the lock released. */
    public static Daemon start(Config config) throws IOException {
        return start(config, DaemonHooks.NONE);
    }

    /** {@link #start(Config)} with test hooks. */
    public static Daemon start(Config config, DaemonHooks hooks) throws IOException {
        StateDir dir = config.stateDir();
        boolean rootExisted = Files.exists(dir.root());
        boolean imagesExisted = Files.exists(dir.imagesDir());
        boolean lockExisted = Files.exists(dir.lockFile());
        dir.create();
        DaemonLock lock = DaemonLock.acquire(dir);
        Daemon d = null;
        boolean first = false;
        try {
            StateFile file = new StateFile(dir.stateFile());
            DaemonState loaded = file.load();
            first = loaded == null;
            d = new Daemon(config, lock, file, first ? DaemonState.empty() : loaded, hooks);
            d.submitter = Submitter.create(SubmitterConfig.defaults().withName("cairn"));
            d.registry = new DeviceRegistry(d.submitter, RegistryOptions.defaults().withTargetTypes(
                    TargetTypes.load(TargetType.class.getClassLoader())));
            d.snapshots = new Snapshots(d);
            d.thinVolumes = new ThinVolumes(d, d.snapshots);
            d.nbd = d.buildNbd();
            if (first) {
                d.firstStart();
            } else {
                d.restore();
            }
            d.startNbd();
            d.control = ControlServer.start(dir.controlSocket(), d::handle);
            d.snapshots.resumeMerges();
            LOG.info("cairn daemon started on state directory {} (pid {})", dir.root(), ProcessHandle.current().pid());
            d.printBanner(first);
            return d;
        } catch (IOException | RuntimeException | Error e) {
            if (d != null) {
                d.teardown();
            }
            lock.close();
            if (first) {
                // A failed first start leaves nothing behind, so the next one is a first start again.
                undoFirstStart(dir, d != null && d.createdVol0, !rootExisted, !imagesExisted, !lockExisted);
            }
            throw e;
        }
    }

    private static void undoFirstStart(StateDir dir, boolean vol0, boolean root, boolean images, boolean lockFile) {
        List<Path> paths = new ArrayList<>(List.of(dir.stateFile()));
        if (vol0) {
            paths.add(dir.imagesDir().resolve(VOL0 + ".img"));
        }
        if (lockFile) {
            paths.add(dir.lockFile());
        }
        if (images) {
            paths.add(dir.imagesDir());
        }
        if (root) {
            paths.add(dir.controlSocket());
            paths.add(dir.nbdSocket());
            paths.add(dir.root());
        }
        for (Path p : paths) {
            try {
                Files.deleteIfExists(p);
            } catch (IOException ex) {
                LOG.warn("could not remove {} after the failed first start: {}", p, ex.toString());
            }
        }
    }

    public Config config() {
        return config;
    }

    public DaemonState state() {
        return state;
    }

    DeviceRegistry registry() {
        return registry;
    }

    Submitter submitter() {
        return submitter;
    }

    DaemonHooks hooks() {
        return hooks;
    }

    ThinVolumes thinVolumes() {
        return thinVolumes;
    }

    /** Runs {@code action} holding the locks of {@code deviceNames} (nulls ignored). */
    <T> T withNames(java.util.function.Supplier<T> action, String... deviceNames) {
        try (NameLocks.Held held = names.lock(deviceNames)) {
            if (stopping) {
                throw new DaemonException(ErrorKind.FAILED, "the daemon is shutting down", "start it again with: bin/cairn serve");
            }
            return action.get();
        }
    }

    NameLocks nameLocks() {
        return names;
    }

    /** The state as a {@link Transaction} reads and writes it. */
    Transaction.StateStore stateStore() {
        return new Transaction.StateStore() {
            @Override
            public DaemonState current() {
                return state;
            }

            @Override
            public void update(java.util.function.UnaryOperator<DaemonState> change) throws IOException {
                stateLock.lock();
                try {
                    DaemonState next = change.apply(state);
                    stateFile.save(next);
                    state = next;
                } finally {
                    stateLock.unlock();
                }
                synchronized (events) {
                    events.notifyAll();
                }
            }
        };
    }

    /** NBD clients connected to the export {@code export}. */
    int nbdClients(String export) {
        return nbd.connectionCount(export);
    }

    /** The NBD TCP port actually bound, or -1. */
    public int nbdPort() {
        return nbd == null ? -1 : nbd.tcpPort();
    }

    // ------------------------------------------------------------------ start

    private NbdServer buildNbd() {
        NbdServer.Builder b = NbdServer.builder().submitter(submitter).allowPlaintextRemote(config.allowPlaintextRemote())
                .drainTimeout(STOP_DRAIN).handshakeLimit(config.nbdHandshakeLimit()).onConnectionClosed(export -> {
                    if (export != null && snapshots != null) {
                        snapshots.startDeferredMerges();
                    }
                });
        if (config.nbdTls() != null) {
            b.tls(config.nbdTls());
        }
        if (config.nbdPort() >= 0) {
            try {
                java.net.InetAddress.getAllByName(config.listenHost());
            } catch (java.net.UnknownHostException e) {
                throw new DaemonException(ErrorKind.USAGE, "--listen: " + config.listenHost()
                        + " (expected: a host name or address of this machine; " + e + ")",
                        "use 127.0.0.1 (the default), 0.0.0.0 for every address, or one of this machine's addresses", e);
            }
            b.tcp(config.listenHost(), config.nbdPort());
        }
        if (config.nbdUnix()) {
            b.unix(config.stateDir().nbdSocket());
        }
        try {
            return b.build();
        } catch (IllegalStateException e) { // plaintext beyond loopback (the CLI refuses it before this)
            throw new DaemonException(ErrorKind.USAGE, e.getMessage(),
                    "require TLS (--tls require with --tls-certificates DIR or --tls-psk FILE), listen on 127.0.0.1,"
                            + " or add --allow-plaintext-remote on a network you trust", e);
        }
    }

    private void startNbd() {
        try {
            nbd.start();
        } catch (UncheckedIOException e) {
            throw new DaemonException(ErrorKind.FAILED, e.getMessage(),
                    "another NBD server (another cairn, nbdkit, qemu-nbd) may be using port " + config.nbdPort()
                            + "; pick another with --nbd-port PORT (0 picks a free one)", e);
        } catch (IllegalArgumentException | SecurityException e) { // UnresolvedAddressException is one
            throw new DaemonException(ErrorKind.USAGE, "--listen: " + config.listenHost()
                    + " (expected: a host name or address of this machine; " + e + ")",
                    "use 127.0.0.1 (the default), 0.0.0.0 for every address, or one of this machine's addresses", e);
        }
    }

    /** First start: one 1 GiB sparse file-backed device, exported, so a client can connect at once. */
    private void firstStart() throws IOException {
        Path image = config.stateDir().imagesDir().resolve(VOL0 + ".img");
        try {
            // The image's path goes into vol0's table, whose words are separated by whitespace.
            Names.checkTableWord("the state directory's image path", image.toString());
        } catch (DaemonException e) {
            LOG.error("not creating the first device {}: {}", VOL0, e.getMessage());
            restoreProblems.add(VOL0 + ": not created: " + e.getMessage() + "; use a state directory (CAIRN_HOME, "
                    + "--state-dir) without spaces to get it, or create devices on images elsewhere");
            stateFile.save(state);
            return;
        }
        if (!Files.exists(image)) {
            Images.createSparse(image, VOL0_BYTES);
            createdVol0 = true;
        }
        String table = "0 " + (VOL0_BYTES / 512) + " linear file:" + image + " 0\n";
        try {
            registry.create(VOL0, table);
            DaemonState next = state.withDevice(recordOf(VOL0, false, null));
            DaemonState.Export e = new DaemonState.Export(VOL0, VOL0, false, "cairn device " + VOL0);
            addExportLive(e);
            next = next.withExport(e);
            state = next;
        } catch (DmException | RuntimeException e) {
            LOG.error("could not create the first device {} ({}); starting with no devices", VOL0, e.getMessage());
            restoreProblems.add(VOL0 + ": not created: " + e.getMessage());
        }
        stateFile.save(state);
    }

    private void restore() throws IOException {
        DaemonState[] recoveredState = {state};
        String what = Transaction.recover(state, r -> recoveredState[0] = ThinVolumes.recovered(state, r));
        if (what != null) {
            LOG.warn("{} (the daemon stopped in the middle of it)", what);
            recovered.add(what);
        }
        DaemonState cleaned = Snapshots.dropTransient(recoveredState[0], restoreProblems);
        if (!cleaned.equals(state)) {
            state = cleaned;
            stateFile.save(state);
        }
        for (DaemonState.Device dev : state.inDependencyOrder()) {
            try {
                registry.create(dev.name(), dev.table());
            } catch (DmException | RuntimeException e) {
                String why = e.getMessage();
                LOG.error("device {} could not be restored: {}", dev.name(), why);
                restoreProblems.add(dev.name() + ": " + why);
                try {
                    // Keep the name (and the saved table in the state file) so the user can fix it with load/resume.
                    registry.create(dev.name());
                } catch (DmException ignored) {
                    // the name itself is taken or invalid: nothing more to do
                }
                continue;
            }
            restoreProblems.addAll(thinVolumes.restored(dev.name()));
            if (dev.inactive() != null) {
                try {
                    registry.load(dev.name(), dev.inactive());
                } catch (DmException | RuntimeException e) {
                    LOG.error("the loaded (inactive) table of {} could not be restored: {}", dev.name(), e.getMessage());
                    restoreProblems.add(dev.name() + " (inactive table): " + e.getMessage());
                }
            }
        }
        // Suspend after every table is built (a table may read its devices while it is built), top-down.
        List<DaemonState.Device> order = state.inDependencyOrder();
        for (int i = order.size() - 1; i >= 0; i--) {
            DaemonState.Device dev = order.get(i);
            if (dev.suspended()) {
                try {
                    registry.suspend(dev.name(), SuspendMode.FLUSH);
                } catch (DmException | RuntimeException e) {
                    restoreProblems.add(dev.name() + " (suspend): " + e.getMessage());
                }
            }
        }
        for (DaemonState.Export e : state.exports()) {
            try {
                addExportLive(e);
            } catch (DaemonException ex) {
                LOG.error("export {} could not be restored: {}", e.name(), ex.getMessage());
                restoreProblems.add("export " + e.name() + ": " + ex.getMessage());
            }
        }
        LOG.info("restored {} devices, {} exports, {} snapshots from {}", state.devices().size(), exports.size(),
                state.snapshots().size(), stateFile.path());
    }

    private void printBanner(boolean first) {
        PrintStream out = config.banner();
        if (out == null) {
            return;
        }
        StateDir dir = config.stateDir();
        out.println("cairn " + Version.current() + " serving state directory " + dir.root());
        String example = exports.isEmpty() ? null : exports.containsKey(VOL0) ? VOL0 : exports.keySet().iterator().next();
        if (nbd.tcpPort() > 0) {
            out.println("  NBD (TCP):  " + tcpUri(""));
        }
        if (config.nbdUnix()) {
            out.println("  NBD (Unix): " + unixUri(""));
        }
        out.println("  control socket: " + dir.controlSocket());
        if (first && state.device(VOL0) != null) {
            out.println("  first start: created " + VOL0 + " (1 GiB, sparse file " + dir.imagesDir().resolve(VOL0 + ".img") + ")");
        }
        List<String> names = exports.keySet().stream().sorted().toList();
        out.println("  exports: " + (names.isEmpty() ? "(none)" : String.join(", ", names)));
        for (String r : recovered) {
            out.println("  recovered: " + r);
        }
        for (String p : restoreProblems) {
            out.println("  PROBLEM: " + p);
        }
        String stateFlag = dir.equals(StateDir.resolve(null)) ? "" : " --state-dir " + dir.root();
        out.println("Next:");
        if (example != null) {
            nbdUris().examples(example).forEach(c -> out.println("  " + c));
            out.println("  bin/cairn snapshot create " + example + " snap1" + stateFlag);
        }
        out.println("  bin/cairn ls --tree" + stateFlag);
        out.println("  bin/cairn --help");
        out.flush();
    }

    String tcpUri(String export) {
        return nbdUris().tcp(export);
    }

    String unixUri(String export) {
        return nbdUris().unix(export);
    }

    private NbdUris nbdUris() {
        return new NbdUris(config.listenHost(), nbd.tcpPort(), config.stateDir().nbdSocket(), config.nbdTls());
    }

    // ------------------------------------------------------------------ dispatch

    /** Executes one control request that nothing cancels. */
    public Object handle(String verb, Protocol.Args args) {
        return handle(verb, args, new Cancel());
    }

    /** Executes one control request (the {@link ControlServer.Handler}); {@code cancel} makes its waits give up. */
    public Object handle(String verb, Protocol.Args args, Cancel cancel) {
        if (stopping) {
            throw new DaemonException(ErrorKind.FAILED, "the daemon is shutting down", "start it again with: bin/cairn serve");
        }
        running.add(cancel);
        try {
            if (stopping) {
                cancel.cancel("the daemon is shutting down");
            }
            return ScopedValue.where(Cancel.CURRENT, cancel).call(() -> dispatch(verb, args));
        } finally {
            running.remove(cancel);
        }
    }

    private Object dispatch(String verb, Protocol.Args args) {
        return switch (verb) {
            case "ping" -> Map.of("pid", ProcessHandle.current().pid());
            case "version" -> versionInfo();
            case "create" -> withNames(() -> create(args), args.string("name"));
            case "load", "reload" -> withNames(() -> load(args), args.string("name"));
            case "clear" -> withNames(() -> clear(args), args.string("name"));
            case "suspend" -> withNames(() -> suspend(args), args.string("name"));
            case "resume" -> withNames(() -> resume(args), args.string("name"));
            case "remove" -> thinVolumes.manages(args.string("name")) ? thinVolumes.remove(args)
                    : withNames(() -> remove(args), args.string("name"));
            case "table" -> statusOf(args, StatusType.TABLE);
            case "status" -> statusOf(args, StatusType.INFO);
            case "info" -> info(args);
            case "deps" -> deps(args);
            case "ls" -> thinVolumes.decorateLs(ls(args));
            case "message" -> withNames(() -> message(thinVolumes.checkMessage(args)), args.string("name"));
            case "targets" -> targets();
            case "wait" -> waitForEvent(args);
            case "export-ls" -> exportList();
            case "export-add" -> withNames(() -> exportAdd(args), args.string("device"));
            case "export-rm" -> exportRemove(args);
            case "snapshot-create" -> snapshots.create(args);
            case "snapshot-ls" -> snapshots.list(args);
            case "snapshot-merge" -> snapshots.merge(args);
            case "snapshot-rm" -> snapshots.remove(args);
            case "stats" -> stats(args);
            case "tls-reload" -> TlsReload.reload(config.nbdTls());
            case "pool-create" -> thinVolumes.poolCreate(args);
            case "thin-create" -> thinVolumes.thinCreate(args);
            default -> throw new DaemonException(ErrorKind.USAGE, "verb: " + verb + " (expected: a verb this daemon knows)",
                    "the CLI and the daemon may be different versions: restart the daemon with this cairn");
        };
    }

    /**
     * Suspends {@code md}, giving up (leaving it as it was) when the current request is cancelled or
     * {@code timeout} (null: none) passes.
     */
    void suspendDevice(MappedDevice md, SuspendMode mode, Duration timeout) throws DmException {
        try (Cancel.Registration r = Cancel.current().onCancel(md::abortSuspend)) {
            md.suspend(mode, timeout);
        }
    }

    private Map<String, Object> versionInfo() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("version", Version.current());
        m.put("protocol", (long) Protocol.VERSION);
        m.put("stateFormat", (long) DaemonState.VERSION);
        m.put("pid", ProcessHandle.current().pid());
        m.put("stateDir", config.stateDir().root().toString());
        m.put("nbdTcp", nbd.tcpPort() > 0 ? tcpUri("") : null);
        m.put("nbdUnix", config.nbdUnix() ? unixUri("") : null);
        return m;
    }

    // ------------------------------------------------------------------ device verbs

    private Object create(Protocol.Args args) {
        String name = args.string("name");
        String table = args.string("table");
        boolean noExport = args.bool("noExport");
        Names.check("device name", name);
        checkNotExportName(name, noExport);
        try {
            registry.create(name, table);
        } catch (DmException e) {
            throw DmErrors.of("create", name, e);
        }
        DaemonState.Device rec = recordOf(name, false, null);
        DaemonState.Export e = noExport ? null : new DaemonState.Export(name, name, false, "cairn device " + name);
        if (e != null) {
            try {
                addExportLive(e);
            } catch (DaemonException ex) {
                removeQuietly(name);
                throw ex;
            }
        }
        update(s -> e == null ? s.withDevice(rec) : s.withDevice(rec).withExport(e));
        return deviceSummary(name);
    }

    private void checkNotExportName(String name, boolean noExport) {
        if (registry.find(name).isPresent()) {
            throw new DaemonException(ErrorKind.EXISTS, "device: " + name + " (expected: a name not in use; the device exists)",
                    "pick another name, or remove the old device first: cairn remove " + name);
        }
        if (!noExport && exports.containsKey(name)) {
            throw new DaemonException(ErrorKind.EXISTS, "export: " + name + " (expected: a name not in use; an export of device "
                    + exports.get(name).record().device() + " has it)",
                    "create it with --no-export, or rename that export (cairn export rm " + name + "; cairn export add DEVICE --as OTHER)");
        }
    }

    private Object load(Protocol.Args args) {
        String name = args.string("name");
        String table = args.string("table");
        snapshots.checkNotManaged(name, "load");
        try {
            registry.load(name, table);
        } catch (DmException e) {
            throw DmErrors.of("load", name, e);
        }
        update(s -> s.withDevice(recordOf(name)));
        return deviceSummary(name);
    }

    private Object clear(Protocol.Args args) {
        String name = args.string("name");
        try {
            registry.clear(name);
        } catch (DmException e) {
            throw DmErrors.of("clear", name, e);
        }
        update(s -> s.withDevice(recordOf(name)));
        return deviceSummary(name);
    }

    private Object suspend(Protocol.Args args) {
        String name = args.string("name");
        long timeoutSeconds = args.number("timeoutSeconds", 0);
        if (timeoutSeconds < 0) {
            throw new DaemonException(ErrorKind.USAGE, "timeout: " + timeoutSeconds + " (expected: seconds > 0, or 0 for none)");
        }
        try {
            suspendDevice(device(name), args.bool("noflush") ? SuspendMode.NOFLUSH : SuspendMode.FLUSH,
                    timeoutSeconds == 0 ? null : Duration.ofSeconds(timeoutSeconds));
        } catch (dev.cairn.dm.SuspendAbortedException e) {
            String why = Cancel.current().reason();
            throw new DaemonException(ErrorKind.FAILED, e.getMessage() + (why == null ? "" : ": " + why),
                    "I/O is held below " + name + " (cairn ls --tree, cairn info shows suspended devices); resume what is "
                            + "suspended under it, then suspend again");
        } catch (DmException e) {
            throw DmErrors.of("suspend", name, e);
        }
        update(s -> s.withDevice(recordOf(name)));
        return deviceSummary(name);
    }

    private Object resume(Protocol.Args args) {
        String name = args.string("name");
        try {
            registry.resume(name);
        } catch (DmException e) {
            throw DmErrors.of("resume", name, e);
        }
        update(s -> s.withDevice(recordOf(name)));
        return deviceSummary(name);
    }

    private Object remove(Protocol.Args args) {
        String name = args.string("name");
        boolean force = args.bool("force");
        MappedDevice md = device(name);
        snapshots.checkNotManaged(name, "remove");
        if (!force) {
            List<String> holders = md.info().holders();
            if (!holders.isEmpty()) {
                throw new DaemonException(ErrorKind.BUSY, "device " + name + " is in use by " + String.join(", ", holders),
                        "remove " + (holders.size() == 1 ? holders.get(0) : "those devices") + " first (cairn ls --tree shows "
                                + "the stack), or force it: cairn remove --force " + name);
            }
        }
        // The daemon's own exports go with the device, but NBD clients connected to them are users, like an
        // open count for dmsetup: without --force the device stays, and nothing is changed.
        List<Exported> dropped = exports.values().stream().filter(x -> x.record().device().equals(name)).toList();
        if (!force) {
            List<String> busy = new ArrayList<>();
            for (Exported x : dropped) {
                int clients = nbd.connectionCount(x.record().name());
                if (clients > 0) {
                    busy.add(x.record().name() + " (" + clients + (clients == 1 ? " client)" : " clients)"));
                }
            }
            if (!busy.isEmpty()) {
                throw new DaemonException(ErrorKind.BUSY, "device " + name + " is open: NBD clients are connected to export "
                        + String.join(", ", busy), "disconnect them first, or force it (their connections are closed): "
                        + "cairn remove --force " + name);
            }
        }
        for (Exported x : dropped) {
            removeExportLive(x.record().name());
        }
        try {
            registry.remove(name, force);
        } catch (DmException e) {
            for (Exported x : dropped) {
                try {
                    addExportLive(x.record());
                } catch (DaemonException again) {
                    LOG.warn("could not put export {} back: {}", x.record().name(), again.getMessage());
                }
            }
            throw DmErrors.of("remove", name, e);
        }
        update(s -> s.withoutDevice(name));
        snapshots.startDeferredMerges(); // a device stacked on an origin may have been what held its merge back
        return Map.of("removed", name, "exportsRemoved", dropped.stream().map(x -> x.record().name()).toList());
    }

    private Object statusOf(Protocol.Args args, StatusType type) {
        boolean inactive = args.bool("inactive");
        List<Object> out = new ArrayList<>();
        for (String name : namesArg(args)) {
            MappedDevice md = device(name);
            DeviceStatus s = inactive ? md.inactiveStatus(type) : md.status(type);
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", name);
            List<Object> lines = new ArrayList<>();
            for (StatusLine l : s.lines()) {
                Map<String, Object> lm = new LinkedHashMap<>();
                lm.put("start", l.startSector());
                lm.put("length", l.lengthSectors());
                lm.put("target", l.targetName());
                lm.put("params", l.params());
                lm.put("text", l.toString());
                lines.add(lm);
            }
            m.put("lines", lines);
            DaemonState.Device rec = state.device(name);
            if (type == StatusType.TABLE && !inactive && s.lines().isEmpty() && rec != null && !rec.table().isEmpty()) {
                // Not restored (say its image was moved): the table it had is kept, and shown as not live.
                m.put("savedTable", rec.table());
            }
            out.add(m);
        }
        return Map.of("devices", out);
    }

    private Object info(Protocol.Args args) {
        List<Object> out = new ArrayList<>();
        for (String name : namesArg(args)) {
            MappedDevice md = device(name);
            Map<String, Object> m = infoJson(md.info());
            if (m.get("liveTable") == Boolean.TRUE) {
                m.put("limits", limitsJson(md.limits()));
            }
            out.add(m);
        }
        return Map.of("devices", out);
    }

    /** The live table's stacked queue limits, as Linux shows them under /sys/block/NAME/queue. */
    private static Map<String, Object> limitsJson(QueueLimits l) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("logicalBlockBytes", (long) l.logicalBlockBytes());
        m.put("physicalBlockBytes", (long) l.physicalBlockBytes());
        m.put("optimalIoBytes", (long) l.optimalIoBytes());
        m.put("maxSectors", l.maxSectors());
        m.put("discardGranularityBytes", (long) l.discardGranularityBytes());
        m.put("maxDiscardSectors", l.maxDiscardSectors());
        m.put("maxWriteZeroesSectors", l.maxWriteZeroesSectors());
        m.put("writeCache", l.writeCache());
        m.put("fua", l.fua());
        return m;
    }

    private Map<String, Object> infoJson(DeviceInfo i) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", i.name());
        m.put("state", i.state().name());
        m.put("readOnly", i.readOnly());
        m.put("liveTable", i.liveTable());
        m.put("inactiveTable", i.inactiveTable());
        m.put("openCount", (long) i.openCount());
        m.put("holders", new ArrayList<Object>(i.holders()));
        m.put("eventNumber", i.eventNumber());
        m.put("sectors", i.capacitySectors());
        m.put("targets", (long) i.targetCount());
        m.put("heldBios", (long) i.heldBios());
        DaemonState.Device rec = state.device(i.name());
        m.put("hidden", rec != null && rec.hidden());
        m.put("exports", exports.values().stream().filter(x -> x.record().device().equals(i.name()))
                .map(x -> (Object) x.record().name()).sorted().toList());
        return m;
    }

    private Object deps(Protocol.Args args) {
        List<Object> out = new ArrayList<>();
        for (String name : namesArg(args)) {
            DeviceDeps d = device(name).deps();
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", name);
            m.put("live", new ArrayList<Object>(d.live()));
            m.put("inactive", new ArrayList<Object>(d.inactive()));
            out.add(m);
        }
        return Map.of("devices", out);
    }

    private Object ls(Protocol.Args args) {
        List<Object> devs = new ArrayList<>();
        for (String name : registry.names()) {
            MappedDevice md = registry.find(name).orElse(null);
            if (md == null) {
                continue;
            }
            DeviceInfo i = md.info();
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", name);
            m.put("sectors", i.capacitySectors());
            m.put("state", i.state().name());
            DaemonState.Device rec = state.device(name);
            m.put("hidden", rec != null && rec.hidden());
            devs.add(m);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("devices", devs);
        if (args.bool("tree")) {
            m.put("tree", registry.tree().stream().map(Daemon::treeJson).toList());
            m.put("treeText", registry.tree().stream().map(DeviceTree::render).reduce("", String::concat));
        }
        return m;
    }

    private static Object treeJson(DeviceTree t) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", t.name());
        m.put("kind", t.kind().name().toLowerCase(java.util.Locale.ROOT));
        m.put("children", t.children().stream().map(Daemon::treeJson).toList());
        return m;
    }

    private Object message(Protocol.Args args) {
        String name = args.string("name");
        long sector = args.number("sector", -1);
        List<String> words = args.strings("message");
        try {
            String reply = registry.message(name, sector, words.toArray(String[]::new));
            // A message may change a target's state that its TABLE status shows: keep the file in step.
            update(s -> s.withDevice(recordOf(name)));
            return Map.of("reply", reply);
        } catch (DmException e) {
            throw DmErrors.of("message", name, e);
        }
    }

    /**
     * dmsetup {@code wait}: returns once the device's event number is above {@code eventNumber} (default:
     * the current one). Woken by every change of the state (a table going live through the daemon always
     * is one); events a target raises on its own are seen within a second. Gives up when its client goes
     * away, after {@code timeoutSeconds}, or when the device is removed. Holds no lock while it waits.
     */
    private Object waitForEvent(Protocol.Args args) {
        String name = args.string("name");
        MappedDevice md = device(name);
        long since = args.number("eventNumber", md.eventNumber());
        long timeoutSeconds = args.number("timeoutSeconds", 0);
        long deadline = timeoutSeconds > 0 ? System.nanoTime() + Duration.ofSeconds(timeoutSeconds).toNanos() : Long.MAX_VALUE;
        Cancel cancel = Cancel.current();
        try (Cancel.Registration r = cancel.onCancel(() -> {
            synchronized (events) {
                events.notifyAll();
            }
        })) {
            synchronized (events) {
                while (md.eventNumber() <= since) {
                    if (cancel.reason() != null) {
                        throw new DaemonException(ErrorKind.FAILED, "wait " + name + ": cancelled: " + cancel.reason());
                    }
                    if (md.isRemoved()) {
                        throw new DaemonException(ErrorKind.NOT_FOUND, "wait " + name + ": the device was removed");
                    }
                    long left = deadline - System.nanoTime();
                    if (left <= 0) {
                        throw new DaemonException(ErrorKind.FAILED, "wait " + name + ": no event after " + timeoutSeconds
                                + " s (event number still " + md.eventNumber() + ")");
                    }
                    events.wait(Math.max(1, Math.min(1000, left / 1_000_000)));
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new DaemonException(ErrorKind.FAILED, "wait " + name + ": interrupted");
        }
        return Map.of("name", name, "eventNumber", md.eventNumber());
    }

    private Object targets() {
        List<Object> out = new ArrayList<>();
        for (String t : registry.targetTypes().names()) {
            out.add(Map.of("name", t, "version", registry.targetTypes().find(t).orElseThrow().version().toString()));
        }
        return Map.of("targets", out);
    }

    // ------------------------------------------------------------------ exports

    private Object exportList() {
        List<Object> out = new ArrayList<>();
        for (Exported x : exports.values().stream().sorted((a, b) -> a.record().name().compareTo(b.record().name())).toList()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", x.record().name());
            m.put("device", x.record().device());
            m.put("readOnly", x.export().readOnly());
            m.put("description", x.record().description());
            m.put("sizeBytes", x.export().device().capacitySectors() * 512);
            m.put("tcpUri", nbd.tcpPort() > 0 ? tcpUri(x.record().name()) : null);
            m.put("unixUri", config.nbdUnix() ? unixUri(x.record().name()) : null);
            out.add(m);
        }
        return Map.of("exports", out);
    }

    private Object exportAdd(Protocol.Args args) {
        String device = args.string("device");
        String as = args.optString("as");
        String name = as == null ? device : as;
        Names.check("export name", name);
        DaemonState.Device rec = state.device(device);
        if (rec != null && rec.hidden()) {
            String origin = state.snapshots().stream().filter(s -> s.real().equals(device)).map(DaemonState.Snapshot::origin)
                    .findFirst().orElse(null);
            throw new DaemonException(ErrorKind.USAGE, "device: " + device + " (expected: a device that is not cairn's hidden "
                    + "snapshot device; its data changes under the snapshots" + (origin == null ? "" : " of " + origin) + ")",
                    origin == null ? "export the origin or a snapshot instead"
                            : "export the origin (cairn export add " + origin + " --as NAME) or a snapshot of it; "
                            + "for a read-only view of the origin's current data use --read-only on the origin");
        }
        if (exports.containsKey(name)) {
            throw new DaemonException(ErrorKind.EXISTS, "export: " + name + " (expected: a name not in use)",
                    "pick another with --as NAME, or remove it first: cairn export rm " + name);
        }
        String description = args.optString("description");
        DaemonState.Export e = new DaemonState.Export(name, device, args.bool("readOnly"),
                description == null ? "cairn device " + device : description);
        addExportLive(e);
        update(s -> s.withExport(e));
        return exportList();
    }

    private Object exportRemove(Protocol.Args args) {
        String name = args.string("name");
        if (!exports.containsKey(name)) {
            throw new DaemonException(ErrorKind.NOT_FOUND, "export: " + name + " (expected: an existing export)",
                    "cairn export ls lists the exports");
        }
        removeExportLive(name);
        update(s -> s.withoutExport(name));
        return Map.of("removed", name);
    }

    void addExportLive(DaemonState.Export e) {
        MappedDevice md = device(e.device());
        OpenHandle handle;
        try {
            handle = md.open();
        } catch (DmException ex) {
            throw DmErrors.of("export", e.device(), ex);
        }
        NbdExport export;
        try {
            export = NbdExport.of(e.name(), md).readOnly(e.readOnly()).description(e.description());
            nbd.addExport(export);
        } catch (IllegalArgumentException ex) {
            handle.close();
            throw new DaemonException(ErrorKind.USAGE, ex.getMessage());
        }
        exports.put(e.name(), new Exported(e, export, handle));
    }

    void removeExportLive(String name) {
        Exported x = exports.remove(name);
        if (x != null) {
            nbd.removeExport(name);
            x.handle().close();
        }
    }

    /** Export names of {@code device}. */
    List<String> exportsOf(String device) {
        return exports.values().stream().filter(x -> x.record().device().equals(device)).map(x -> x.record().name())
                .sorted().toList();
    }

    // ------------------------------------------------------------------ helpers

    MappedDevice device(String name) {
        try {
            return registry.device(name);
        } catch (DmException e) {
            throw DmErrors.of("find", name, e);
        }
    }

    /** The objects statistics are read from ({@code cairn stats}, {@code serve --metrics}); valid once started. */
    public MetricsSources metricsSources() {
        return new MetricsSources(registry, nbd, submitter);
    }

    private Object stats(Protocol.Args args) {
        String name = args.optString("name");
        if (name != null) {
            device(name);
        }
        return StatsReport.collect(metricsSources(), name).toMap();
    }

    private List<String> namesArg(Protocol.Args args) {
        String name = args.optString("name");
        if (name != null) {
            device(name);
            return List.of(name);
        }
        return registry.names();
    }

    private Map<String, Object> deviceSummary(String name) {
        MappedDevice md = device(name);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", name);
        m.put("sectors", md.capacitySectors());
        m.put("state", md.state().name());
        m.put("exports", new ArrayList<Object>(exportsOf(name)));
        return m;
    }

    /** The record of {@code name} from the registry, keeping its hidden flag. */
    DaemonState.Device recordOf(String name) {
        DaemonState.Device old = state.device(name);
        return recordOf(name, old != null && old.hidden(), old);
    }

    DaemonState.Device recordOf(String name, boolean hidden, DaemonState.Device old) {
        MappedDevice md = device(name);
        String live = md.status(StatusType.TABLE).text();
        if (live.isEmpty() && old != null) {
            live = old.table(); // not restored (or cleared): keep what was saved so nothing is lost
        }
        DeviceStatus inactiveStatus = md.inactiveStatus(StatusType.TABLE);
        String inactive = inactiveStatus.lines().isEmpty() ? null : inactiveStatus.text();
        DeviceDeps deps = md.deps();
        Set<String> names = new LinkedHashSet<>();
        for (String ref : deps.live()) {
            if (registry.find(ref).isPresent()) {
                names.add(ref);
            }
        }
        for (String ref : deps.inactive()) {
            if (registry.find(ref).isPresent()) {
                names.add(ref);
            }
        }
        return new DaemonState.Device(name, live, inactive, md.state() == DeviceState.SUSPENDED, hidden, List.copyOf(names));
    }

    void removeQuietly(String name) {
        try {
            registry.remove(name, true);
        } catch (DmException | RuntimeException e) {
            LOG.warn("rollback: removing {} failed: {}", name, e.getMessage());
        }
    }

    /**
     * Applies {@code change} to the state and persists it, as one read-modify-write under the state lock
     * (so concurrent verbs never lose each other's changes). {@code change} must not wait on I/O.
     */
    void update(java.util.function.UnaryOperator<DaemonState> change) {
        try {
            stateStore().update(change);
        } catch (IOException e) {
            throw new DaemonException(ErrorKind.STATE, "the change is live but the state file " + stateFile.path()
                    + " could not be written: " + e.getMessage(),
                    "it will not survive a restart; free space or fix permissions, then repeat the change", e);
        }
    }

    // ------------------------------------------------------------------ stop

    /** Blocks until {@link #stop()} has finished. */
    public void awaitStop() throws InterruptedException {
        stopped.await();
    }

    /**
     * Graceful stop; see the class notes. Idempotent; safe from a signal handler thread. Bounded
     * whatever waits: requests are cancelled and waiting suspends aborted first, then the control
     * requests and the NBD clients get {@link #STOP_DRAIN} each, the flush of every device as long,
     * and I/O held by devices the user left suspended is failed (it could never complete).
     */
    public void stop() {
        if (!stopStarted.compareAndSet(false, true)) {
            return;
        }
        stopping = true;
        LOG.info("stopping: cancelling waiting requests, closing the control socket, draining NBD I/O, flushing stores");
        for (Cancel c : running) {
            c.cancel("the daemon is stopping");
        }
        abortSuspends();
        teardown();
        try {
            lock.close();
        } catch (IOException e) {
            LOG.warn("releasing {}: {}", lock.path(), e.toString());
        }
        LOG.info("stopped");
        stopped.countDown();
    }

    private void abortSuspends() {
        if (registry == null) {
            return;
        }
        for (String name : registry.names()) {
            registry.find(name).ifPresent(md -> {
                if (md.abortSuspend()) {
                    LOG.warn("stopping: the suspend of {} that was waiting for I/O was cancelled", name);
                }
            });
        }
    }

    private void teardown() {
        if (control != null) {
            control.close(STOP_DRAIN);
        }
        if (snapshots != null) {
            snapshots.stopMonitors();
        }
        abortSuspends();
        if (nbd != null) {
            nbd.close();
        }
        for (String name : List.copyOf(exports.keySet())) {
            Exported x = exports.remove(name);
            x.handle().close();
        }
        if (registry != null) {
            flushAll();
            failHeldIo();
            registry.close();
        }
        if (submitter != null) {
            submitter.close();
        }
    }

    /**
     * Devices the user left suspended hold I/O that nothing will resume now; removing them (forced,
     * bottom-up; the state file keeps them, suspended) fails that I/O, so the devices stacked on them
     * can drain and close. Without this a write held below kept the daemon from stopping.
     */
    private void failHeldIo() {
        for (String name : registry.dependencyOrder()) {
            MappedDevice md = registry.find(name).orElse(null);
            if (md != null && md.state() == DeviceState.SUSPENDED && md.info().heldBios() > 0) {
                LOG.warn("stopping: {} is suspended with {} I/O requests held; they fail", name, md.info().heldBios());
                try {
                    registry.remove(name, true);
                } catch (DmException | RuntimeException e) {
                    LOG.warn("stopping: removing {}: {}", name, e.getMessage());
                }
            }
        }
    }

    /**
     * Suspends every device top-down with a flush, so everything acknowledged is on stable storage.
     * A device that sits on a device the user left suspended is skipped: its flush would be held
     * forever (its data is flushed by nothing, as with dmsetup). The whole flush gets
     * {@link #STOP_DRAIN}; a device still draining then is left as it is.
     */
    private void flushAll() {
        long deadline = System.nanoTime() + STOP_DRAIN.toNanos();
        List<String> order = registry.dependencyOrder();
        Set<String> blocked = new java.util.HashSet<>();
        for (String name : order) {
            try {
                MappedDevice md = registry.device(name);
                DeviceDeps deps = md.deps();
                if (md.state() == DeviceState.SUSPENDED || deps.live().stream().anyMatch(blocked::contains)) {
                    blocked.add(name);
                }
            } catch (DmException e) {
                blocked.add(name);
            }
        }
        for (int i = order.size() - 1; i >= 0; i--) {
            String name = order.get(i);
            if (blocked.contains(name)) {
                LOG.warn("not flushing {} at stop: it is suspended or sits on a suspended device", name);
                continue;
            }
            try {
                MappedDevice md = registry.device(name);
                if (md.info().liveTable()) {
                    long left = Math.max(deadline - System.nanoTime(), Duration.ofMillis(100).toNanos());
                    md.suspend(SuspendMode.FLUSH, Duration.ofNanos(left));
                }
            } catch (DmException | RuntimeException e) {
                LOG.warn("flushing {} at stop failed: {}", name, e.getMessage());
            }
        }
    }

    @Override
    public void close() {
        stop();
    }
}
