package dev.cairn.daemon;

import java.io.IOException;
import java.io.PrintStream;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code cairn serve} daemon: owns one state directory (exclusively, through {@link DaemonLock}),
 * keeps its devices, exports and snapshots, serves the control socket, and writes
 * {@code state.json} after every change.
 *
 * <h2>Implementation notes</h2>
 * <b>One operation at a time.</b> Control requests that change or read the device set run under
 * {@link #opLock}, so a verb sees and leaves a consistent state and the state file always follows the
 * last completed change. Data I/O (NBD) never takes this lock.
 *
 * <p><b>Start order.</b> Lock, state file, devices (dependency order), NBD listeners, control socket,
 * banner: a client that can reach the control socket finds every device already there.
 *
 * <p><b>Stop order</b> (SIGTERM, SIGINT or {@link #stop()}): control socket closed (requests running
 * finish), NBD server closed (it drains in-flight requests), devices torn down top-down (stores flush
 * on close), lock released. The state file is not rewritten on stop: it already holds the last change.
 *
 * <p>Thread safety: {@link #handle} may be called from any thread; {@link #stop()} is idempotent.
 */
public final class Daemon implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Daemon.class);

    /**
     * How to run.
     *
     * @param stateDir   the state directory
     * @param listenHost NBD TCP address (loopback unless the user says otherwise)
     * @param nbdPort    NBD TCP port; 0 picks a free one; -1 disables TCP
     * @param nbdUnix    also serve NBD on {@code STATE_DIR/nbd.sock}
     * @param banner     where the start banner goes (stdout), or null for none
     */
    public record Config(StateDir stateDir, String listenHost, int nbdPort, boolean nbdUnix, PrintStream banner) {
        public static final int DEFAULT_NBD_PORT = 10809;
    }

    private final Config config;
    private final DaemonLock lock;
    private final StateFile stateFile;
    private final ReentrantLock opLock = new ReentrantLock();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private volatile DaemonState state;
    private ControlServer control;
    private boolean stopping;

    private Daemon(Config config, DaemonLock lock, StateFile stateFile, DaemonState state) {
        this.config = config;
        this.lock = lock;
        this.stateFile = stateFile;
        this.state = state;
    }

    /** Starts a daemon; on any failure everything started so far is undone and the lock released. */
    public static Daemon start(Config config) throws IOException {
        StateDir dir = config.stateDir();
        dir.create();
        DaemonLock lock = DaemonLock.acquire(dir);
        Daemon d = null;
        try {
            StateFile file = new StateFile(dir.stateFile());
            DaemonState loaded = file.load();
            boolean first = loaded == null;
            d = new Daemon(config, lock, file, first ? DaemonState.empty() : loaded);
            d.restore(first);
            d.control = ControlServer.start(dir.controlSocket(), d::handle);
            LOG.info("cairn daemon started on state directory {} (pid {})", dir.root(), ProcessHandle.current().pid());
            d.printBanner(first);
            return d;
        } catch (IOException | RuntimeException | Error e) {
            if (d != null) {
                d.teardown();
            }
            lock.close();
            throw e;
        }
    }

    public Config config() {
        return config;
    }

    public DaemonState state() {
        return state;
    }

    private void restore(boolean first) throws IOException {
        if (first) {
            stateFile.save(state);
        }
    }

    private void printBanner(boolean first) {
        PrintStream out = config.banner();
        if (out == null) {
            return;
        }
        out.println("cairn " + Version.current() + " serving state directory " + config.stateDir().root());
        out.println("  control socket: " + config.stateDir().controlSocket());
        out.flush();
    }

    /** Executes one control request (the {@link ControlServer.Handler}). */
    public Object handle(String verb, Protocol.Args args) {
        opLock.lock();
        try {
            if (stopping) {
                throw new DaemonException(ErrorKind.FAILED, "the daemon is shutting down", "start it again with: bin/cairn serve");
            }
            return switch (verb) {
                case "ping" -> Map.of("pid", ProcessHandle.current().pid());
                case "version" -> versionInfo();
                default -> throw new DaemonException(ErrorKind.USAGE, "verb: " + verb + " (expected: a verb this daemon knows)",
                        "the CLI and the daemon may be different versions: restart the daemon with this cairn");
            };
        } finally {
            opLock.unlock();
        }
    }

    private Map<String, Object> versionInfo() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("version", Version.current());
        m.put("protocol", (long) Protocol.VERSION);
        m.put("stateFormat", (long) DaemonState.VERSION);
        m.put("pid", ProcessHandle.current().pid());
        return m;
    }

    /** Persists {@code next} and makes it the current state (called under {@link #opLock}). */
    void commit(DaemonState next) {
        try {
            stateFile.save(next);
        } catch (IOException e) {
            throw new DaemonException(ErrorKind.STATE, "cannot write state file " + stateFile.path() + ": " + e.getMessage(),
                    "the change is live but will not survive a restart; free space or fix permissions, then retry", e);
        }
        state = next;
    }

    /** Blocks until {@link #stop()} has finished. */
    public void awaitStop() throws InterruptedException {
        stopped.await();
    }

    /** Graceful stop; see the class notes. Idempotent; safe from a signal handler thread. */
    public void stop() {
        opLock.lock();
        try {
            if (stopping) {
                return;
            }
            stopping = true;
        } finally {
            opLock.unlock();
        }
        LOG.info("stopping: closing the control socket, draining I/O, flushing stores");
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
            control.close(Duration.ofSeconds(30));
        }
    }

    @Override
    public void close() {
        stop();
    }
}
