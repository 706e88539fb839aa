package dev.cairn.daemon;

import dev.cairn.block.Submitter;
import dev.cairn.block.SubmitterConfig;
import dev.cairn.dm.DeviceRegistry;
import dev.cairn.dm.DmException;
import dev.cairn.dm.RegistryOptions;
import dev.cairn.dm.TargetType;
import dev.cairn.dm.TargetTypes;
import dev.cairn.nbd.server.NbdServer;
import dev.cairn.nbd.server.ServerTls;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;
import dev.cairn.daemon.proto.Reply;
import dev.cairn.daemon.proto.Request;
import dev.cairn.daemon.proto.Verb;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import dev.cairn.metrics.MetricsSources;

/**
 * The {@code cairn serve} daemon: owns one state directory (exclusively, through {@link DaemonLock}),
 * keeps its devices ({@link DeviceRegistry}), NBD exports ({@link Exports}) and snapshots, serves
 * the control socket, and writes {@code state.json} after every change. This class is the life cycle
 * (start, restore, stop) and a {@link VerbRegistry} of handlers: the verbs live in one class per area
 * ({@link DeviceVerbs}, {@link ExportVerbs}, {@link Snapshots}, {@link DaemonVerbs}), each made from a
 * {@link DaemonContext} (the registry, the state, the name locks, the exports, the hooks) by one line
 * of {@link #AREAS}; requests and replies are the records of {@code dev.cairn.daemon.proto}.
 *
 * <h2>Implementation notes</h2>
 * <b>Locks.</b> No lock is daemon-wide while a verb waits on I/O. A verb that changes devices holds
 * the {@link NameLocks names} it works on (a suspend waiting for I/O held below holds only its own
 * device's name, so the resume of the device below, or {@code ls}, runs meanwhile); read-only verbs
 * take no lock. Changes to the state go through {@link DaemonContext#update}, a read-modify-write of the state
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
 * <p><b>Size.</b> About 600 lines, over the 500-line guide: the life cycle (a start that undoes itself
 * on failure, the first start, the restore, the banner, a bounded stop) and the {@link DaemonContext}
 * that the areas see, which is a view of this class's fields. The verbs are in the areas, the device
 * tree's restore and flush in {@link DeviceTreeLifecycle}.
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

    /**
     * The verb areas, each made from the daemon's {@link DaemonContext}. A new area (thin volumes, remote
     * devices) is one more line here; its handlers, life-cycle calls and managed-device checks follow.
     */
    private static final List<Function<DaemonContext, VerbArea>> AREAS = List.of(
            DaemonVerbs::new,
            DeviceVerbs::new,
            ExportVerbs::new,
            Snapshots::new,
            ThinVolumes::new);

    private final Config config;
    private final DaemonLock lock;
    private final StateFile stateFile;
    private final ReentrantLock stateLock = new ReentrantLock();
    private final Events events = new Events();
    private final NameLocks names = new NameLocks();
    /** One multi-step verb at a time: the state file has one intent slot ({@link DaemonContext#withIntent}). */
    private final ReentrantLock intentLock = new ReentrantLock();
    /** The cancellations of the requests running now, so {@link #stop()} can cancel them. */
    private final Set<Cancel> running = ConcurrentHashMap.newKeySet();
    /** How long stop() gives the control requests and the NBD clients to finish (each). */
    static final Duration STOP_DRAIN = Duration.ofSeconds(10);
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final List<String> restoreProblems = new ArrayList<>();
    private final List<String> recovered = new ArrayList<>();
    private final DaemonHooks hooks;
    private final VerbRegistry verbs = new VerbRegistry();
    /** Filled once at the start, before anything can call into an area. */
    private final List<VerbArea> areas = new ArrayList<>();
    private final Context context = new Context();
    private volatile DaemonState state;
    private Submitter submitter;
    private DeviceRegistry registry;
    private NbdServer nbd;
    private Exports exports;
    private ControlServer control;
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
            d.nbd = d.buildNbd();
            d.exports = new Exports(d.nbd, config);
            for (Function<DaemonContext, VerbArea> area : AREAS) {
                VerbArea a = area.apply(d.context);
                a.register(d.verbs);
                d.areas.add(a);
            }
            if (first) {
                d.firstStart();
            } else {
                d.restore();
            }
            d.startNbd();
            d.control = ControlServer.start(dir.controlSocket(), d::handle);
            d.areas.forEach(VerbArea::started);
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

    /** Export names of {@code device}. */
    List<String> exportsOf(String device) {
        return exports.of(device);
    }

    /** NBD clients connected to the export {@code export}. */
    int nbdClients(String export) {
        return nbd.connectionCount(export);
    }

    /** The NBD TCP port actually bound, or -1. */
    public int nbdPort() {
        return nbd == null ? -1 : nbd.tcpPort();
    }

    /** What the verb areas see of the daemon. */
    private final class Context implements DaemonContext {
        @Override
        public Config config() {
            return config;
        }

        @Override
        public DeviceRegistry registry() {
            return registry;
        }

        @Override
        public DaemonState state() {
            return state;
        }

        @Override
        public void update(UnaryOperator<DaemonState> change) {
            try {
                stateStore().update(change);
            } catch (IOException e) {
                throw new DaemonException(ErrorKind.STATE, "the change is live but the state file " + stateFile.path()
                        + " could not be written: " + e.getMessage(),
                        "it will not survive a restart; free space or fix permissions, then repeat the change", e);
            }
        }

        @Override
        public Transaction.StateStore stateStore() {
            return new Transaction.StateStore() {
                @Override
                public DaemonState current() {
                    return state;
                }

                @Override
                public void update(UnaryOperator<DaemonState> change) throws IOException {
                    stateLock.lock();
                    try {
                        DaemonState next = change.apply(state);
                        stateFile.save(next);
                        state = next;
                    } finally {
                        stateLock.unlock();
                    }
                    events.signal();
                }
            };
        }

        @Override
        public <T> T withNames(Supplier<T> action, String... deviceNames) {
            try (NameLocks.Held held = names.lock(deviceNames)) {
                if (stopping) {
                    throw new DaemonException(ErrorKind.FAILED, "the daemon is shutting down", "start it again with: bin/cairn serve");
                }
                return action.get();
            }
        }

        @Override
        public <T> T withIntent(Supplier<T> action, String... deviceNames) {
            intentLock.lock();
            try {
                return withNames(action, deviceNames);
            } finally {
                intentLock.unlock();
            }
        }

        @Override
        public DaemonHooks hooks() {
            return hooks;
        }

        @Override
        public Exports exports() {
            return exports;
        }

        @Override
        public Events events() {
            return events;
        }

        @Override
        public void checkNotManaged(String device, String verb) {
            for (VerbArea a : areas) {
                a.checkNotManaged(device, verb);
            }
        }

        @Override
        public void released() {
            if (!stopping) {
                for (VerbArea a : areas) {
                    a.released();
                }
            }
        }

        @Override
        public MetricsSources metricsSources() {
            return Daemon.this.metricsSources();
        }
    }

    // ------------------------------------------------------------------ start

    private NbdServer buildNbd() {
        NbdServer.Builder b = NbdServer.builder().submitter(submitter).allowPlaintextRemote(config.allowPlaintextRemote())
                .drainTimeout(STOP_DRAIN).handshakeLimit(config.nbdHandshakeLimit()).onConnectionClosed(export -> {
                    if (export != null) {
                        context.released();
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
            DaemonState next = state.withDevice(context.recordOf(VOL0, false, null));
            DaemonState.Export e = new DaemonState.Export(VOL0, VOL0, false, "cairn device " + VOL0);
            context.addExportLive(e);
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
        DaemonState loaded = state;
        String what = Transaction.recover(state, r -> {
            DaemonState next = r;
            for (VerbArea a : areas) {
                next = a.recovered(loaded, next);
            }
            recoveredState[0] = next;
        });
        if (what != null) {
            LOG.warn("{} (the daemon stopped in the middle of it)", what);
            recovered.add(what);
        }
        DaemonState cleaned = Snapshots.dropTransient(recoveredState[0], restoreProblems);
        if (!cleaned.equals(state)) {
            state = cleaned;
            stateFile.save(state);
        }
        DeviceTreeLifecycle.restore(registry, state, restoreProblems, device -> {
            List<String> problems = new ArrayList<>();
            for (VerbArea a : areas) {
                problems.addAll(a.restored(device));
            }
            return problems;
        });
        for (DaemonState.Export e : state.exports()) {
            try {
                context.addExportLive(e);
            } catch (DaemonException ex) {
                LOG.error("export {} could not be restored: {}", e.name(), ex.getMessage());
                restoreProblems.add("export " + e.name() + ": " + ex.getMessage());
            }
        }
        LOG.info("restored {} devices, {} exports, {} snapshots from {}", state.devices().size(), exports.names().size(),
                state.snapshots().size(), stateFile.path());
    }

    private void printBanner(boolean first) {
        PrintStream out = config.banner();
        if (out == null) {
            return;
        }
        StateDir dir = config.stateDir();
        out.println("cairn " + Version.current() + " serving state directory " + dir.root());
        String example = exports.isEmpty() ? null : exports.contains(VOL0) ? VOL0 : exports.names().getFirst();
        if (nbd.tcpPort() > 0) {
            out.println("  NBD (TCP):  " + exports.tcpUri(""));
        }
        if (config.nbdUnix()) {
            out.println("  NBD (Unix): " + exports.unixUri(""));
        }
        out.println("  control socket: " + dir.controlSocket());
        if (first && state.device(VOL0) != null) {
            out.println("  first start: created " + VOL0 + " (1 GiB, sparse file " + dir.imagesDir().resolve(VOL0 + ".img") + ")");
        }
        List<String> names = exports.names();
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
            exports.uris().examples(example).forEach(c -> out.println("  " + c));
            out.println("  bin/cairn snapshot create " + example + " snap1" + stateFlag);
        }
        out.println("  bin/cairn ls --tree" + stateFlag);
        out.println("  bin/cairn --help");
        out.flush();
    }

    // ------------------------------------------------------------------ dispatch

    /** Executes one control request off the wire that nothing cancels. */
    public Object handle(String verb, Map<String, Object> args) {
        return handle(verb, args, new Cancel());
    }

    /** Executes one control request off the wire (the {@link ControlServer.Handler}); {@code cancel} makes its waits give up. */
    public Reply handle(String verb, Map<String, Object> args, Cancel cancel) {
        return running(cancel, () -> verbs.dispatch(verb, args));
    }

    /** Executes one typed request in this process, as the control socket would. */
    public <Q extends Request, R extends Reply> R call(Verb<Q, R> verb, Q request) {
        return call(verb, request, new Cancel());
    }

    /** {@link #call(Verb, Request)} that {@code cancel} makes give up. */
    public <Q extends Request, R extends Reply> R call(Verb<Q, R> verb, Q request, Cancel cancel) {
        return running(cancel, () -> verbs.call(verb, request));
    }

    private <T> T running(Cancel cancel, Supplier<T> request) {
        if (stopping) {
            throw new DaemonException(ErrorKind.FAILED, "the daemon is shutting down", "start it again with: bin/cairn serve");
        }
        running.add(cancel);
        try {
            if (stopping) {
                cancel.cancel("the daemon is shutting down");
            }
            return ScopedValue.where(Cancel.CURRENT, cancel).call(request::get);
        } finally {
            running.remove(cancel);
        }
    }

    /** The objects statistics are read from ({@code cairn stats}, {@code serve --metrics}); valid once started. */
    public MetricsSources metricsSources() {
        return new MetricsSources(registry, nbd, submitter);
    }

    /** The names of the verbs this daemon serves. */
    public List<String> verbNames() {
        return verbs.names();
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
        DeviceTreeLifecycle.abortSuspends(registry);
        teardown();
        try {
            lock.close();
        } catch (IOException e) {
            LOG.warn("releasing {}: {}", lock.path(), e.toString());
        }
        LOG.info("stopped");
        stopped.countDown();
    }

    private void teardown() {
        if (control != null) {
            control.close(STOP_DRAIN);
        }
        areas.forEach(VerbArea::stopping);
        DeviceTreeLifecycle.abortSuspends(registry);
        if (nbd != null) {
            nbd.close();
        }
        if (exports != null) {
            exports.closeAll();
        }
        if (registry != null) {
            DeviceTreeLifecycle.flushAll(registry, STOP_DRAIN);
            DeviceTreeLifecycle.failHeldIo(registry);
            registry.close();
        }
        if (submitter != null) {
            submitter.close();
        }
    }

    @Override
    public void close() {
        stop();
    }
}
