package dev.cairn.daemon;

import java.io.IOException;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Phaser;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves the {@link Protocol control protocol} on a Unix domain socket (mode 0600). Each connection
 * has a virtual thread that reads its requests; each request runs on a virtual thread of its own
 * while the connection's thread goes on reading, so a client that goes away (Ctrl-C) is noticed at
 * once and its request {@link Cancel cancelled}. Requests of one connection run one after another
 * and are answered in order.
 *
 * <p><b>Bounds</b> ({@link Limits}): at most {@code maxConnections} connections (one more is told so
 * in an error line and closed), lines of at most {@code maxLineBytes}, and at most
 * {@code memoryBudgetBytes} of unfinished lines for all connections together, released as lines
 * complete and connections close ({@link ControlLineReader}). An accept that fails (EMFILE when the
 * process is out of file descriptors) is retried after a pause, with at most one log line every
 * 10 seconds, instead of ending the accept loop.
 *
 * <p>{@link #close()} stops accepting, closes idle connections, and waits (bounded) for requests
 * already being handled, so a SIGTERM during a {@code create} either lets it finish or never
 * starts it.
 *
 * <p>Thread safety: {@link #close()} may be called from any thread.
 */
public final class ControlServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ControlServer.class);
    static final Duration ACCEPT_BACKOFF = Duration.ofMillis(100);
    static final Duration ACCEPT_LOG_INTERVAL = Duration.ofSeconds(10);

    /** Executes one request. Throws {@link DaemonException} for errors to report to the client. */
    @FunctionalInterface
    public interface Handler {
        Object handle(String verb, Map<String, Object> args, Cancel cancel);
    }

    /**
     * The server's bounds.
     *
     * @param maxConnections    control connections open at once
     * @param maxLineBytes      longest request line
     * @param memoryBudgetBytes unfinished request lines held for all connections together
     */
    public record Limits(int maxConnections, int maxLineBytes, long memoryBudgetBytes) {
        public static final Limits DEFAULT = new Limits(128, Protocol.MAX_LINE_BYTES, 16L << 20);

        public Limits {
            if (maxConnections < 1 || maxLineBytes < 1024 || memoryBudgetBytes < maxLineBytes) {
                throw new IllegalArgumentException("limits: " + maxConnections + " connections, " + maxLineBytes
                        + " bytes a line, " + memoryBudgetBytes + " bytes in all (expected: >= 1, >= 1024, >= the line limit)");
            }
        }
    }

    private final Path socketPath;
    private final ServerSocketChannel server;
    private final Handler handler;
    private final Limits limits;
    private final AtomicLong memoryBudget;
    private final Set<SocketChannel> connections = ConcurrentHashMap.newKeySet();
    // One party per request in progress; close() waits for the phase to advance.
    private final Phaser inFlight = new Phaser(1);
    private final Thread acceptor;
    private final AtomicLong acceptFailures = new AtomicLong();
    private long lastAcceptLog; // acceptor thread only
    private volatile boolean closing;

    private ControlServer(Path socketPath, ServerSocketChannel server, Handler handler, Limits limits) {
        this.socketPath = socketPath;
        this.server = server;
        this.handler = handler;
        this.limits = limits;
        this.memoryBudget = new AtomicLong(limits.memoryBudgetBytes());
        this.acceptor = Thread.ofVirtual().name("cairn-control-accept").unstarted(this::acceptLoop);
    }

    public static ControlServer start(Path socketPath, Handler handler) throws IOException {
        return start(socketPath, handler, Limits.DEFAULT);
    }

    /**
     * Binds {@code socketPath} (removing a stale socket file first: the caller holds the state
     * directory's lock, so no live daemon owns it) and starts accepting.
     */
    public static ControlServer start(Path socketPath, Handler handler, Limits limits) throws IOException {
        // sun_path holds 108 bytes including the terminating NUL.
        if (socketPath.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 107) {
            throw new DaemonException(ErrorKind.USAGE, "control socket path: " + socketPath
                    + " (expected: at most 107 bytes, the Unix socket limit)", "use a shorter --state-dir");
        }
        Files.deleteIfExists(socketPath);
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            server.bind(UnixDomainSocketAddress.of(socketPath));
            Files.setPosixFilePermissions(socketPath, PosixFilePermissions.fromString("rw-------"));
        } catch (IOException | RuntimeException e) {
            server.close();
            throw e;
        }
        ControlServer cs = new ControlServer(socketPath, server, handler, limits);
        cs.acceptor.start();
        return cs;
    }

    public Path socketPath() {
        return socketPath;
    }

    /** Open control connections. */
    public int connectionCount() {
        return connections.size();
    }

    /** Bytes of the memory budget in use now (0 when no connection holds an unfinished line). */
    public long memoryInUseBytes() {
        return limits.memoryBudgetBytes() - memoryBudget.get();
    }

    /** Accepts that failed since the last log line about them. */
    long acceptFailures() {
        return acceptFailures.get();
    }

    private void acceptLoop() {
        while (!closing) {
            SocketChannel ch;
            try {
                ch = server.accept();
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException e) {
                if (closing) {
                    return;
                }
                acceptFailed(e);
                continue;
            }
            if (connections.size() >= limits.maxConnections()) {
                Thread.ofVirtual().name("cairn-control-refuse").start(() -> refuse(ch));
                continue;
            }
            connections.add(ch);
            Thread.ofVirtual().name("cairn-control").start(() -> serve(ch));
        }
    }

    /** EMFILE and the like: the listener is still good; pause, count, log at most once per interval. */
    private void acceptFailed(IOException e) {
        long n = acceptFailures.incrementAndGet();
        long now = System.nanoTime();
        if (lastAcceptLog == 0 || now - lastAcceptLog >= ACCEPT_LOG_INTERVAL.toNanos()) {
            lastAcceptLog = now;
            acceptFailures.set(0);
            LOG.warn("control socket accept failed: {} ({} failure{} since the last report; retrying every {} ms)", e.toString(), n,
                    n == 1 ? "" : "s", ACCEPT_BACKOFF.toMillis());
        }
        try {
            Thread.sleep(ACCEPT_BACKOFF);
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
        }
    }

    private void refuse(SocketChannel ch) {
        try (ch) {
            tryWrite(Channels.newOutputStream(ch), Protocol.error(new DaemonException(ErrorKind.BUSY,
                    "the daemon has " + limits.maxConnections() + " control connections open (its limit)",
                    "retry when other cairn commands have finished")));
        } catch (IOException e) {
            LOG.debug("closing a refused control connection: {}", e.toString());
        }
    }

    private void serve(SocketChannel ch) {
        ControlLineReader reader = new ControlLineReader(Channels.newInputStream(ch), limits.maxLineBytes(), memoryBudget);
        OutputStream out = Channels.newOutputStream(ch);
        try (ch; reader) {
            String line = readOrError(reader, out);
            while (line != null && !closing) {
                Cancel cancel = new Cancel();
                String request = line;
                Thread worker = Thread.ofVirtual().name("cairn-control-request").start(() -> runRequest(request, cancel, out, ch));
                // While it runs, the next read ends when the client goes away (or brings its next request).
                line = readOrError(reader, out);
                if (line == null) {
                    cancel.cancel("its client went away");
                }
                joinUninterruptibly(worker);
            }
        } catch (IOException e) {
            LOG.debug("control connection close failed: {}", e.toString());
        } finally {
            connections.remove(ch);
        }
    }

    /** The next line; null at the end, after an I/O error, or after a bound was broken (the client is told). */
    private String readOrError(ControlLineReader reader, OutputStream out) {
        try {
            return reader.readLine();
        } catch (ControlLineReader.LimitException e) {
            LOG.info("control connection dropped: {}", e.getMessage());
            tryWrite(out, Protocol.error(new DaemonException(ErrorKind.USAGE, e.getMessage())));
            return null;
        } catch (IOException e) {
            if (!closing) {
                LOG.debug("control connection dropped: {}", e.toString());
            }
            return null;
        }
    }

    private void runRequest(String line, Cancel cancel, OutputStream out, SocketChannel ch) {
        if (inFlight.register() < 0) {
            return; // terminated: closing
        }
        // The request counts as in flight until its answer is written: close() must not drop the
        // connection between the two.
        try {
            Map<String, Object> response;
            if (closing) {
                response = Protocol.error(new DaemonException(ErrorKind.FAILED, "the daemon is shutting down",
                        "start it again with: bin/cairn serve"));
            } else {
                response = handleLine(line, cancel);
            }
            if (!tryWrite(out, response)) {
                try {
                    ch.close();
                } catch (IOException e) {
                    LOG.debug("closing a control connection: {}", e.toString());
                }
            }
        } finally {
            inFlight.arriveAndDeregister();
        }
    }

    private static void joinUninterruptibly(Thread t) {
        boolean interrupted = false;
        while (true) {
            try {
                t.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private Map<String, Object> handleLine(String line, Cancel cancel) {
        Map<String, Object> request;
        try {
            request = JsonCodec.parseObject(line);
        } catch (JsonCodec.ParseException e) {
            return Protocol.error(new DaemonException(ErrorKind.USAGE, "malformed request: " + e.getMessage()));
        }
        if (!(request.get("verb") instanceof String verb)) {
            return Protocol.error(new DaemonException(ErrorKind.USAGE, "malformed request: no \"verb\" string"));
        }
        try {
            Protocol.checkVersion(request.get("v"));
        } catch (DaemonException e) {
            return Protocol.error(e);
        }
        Object args = request.get("args");
        if (args != null && !(args instanceof Map<?, ?>)) {
            return Protocol.error(new DaemonException(ErrorKind.USAGE, "malformed request: \"args\" is not an object"));
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> argMap = (Map<String, Object>) args;
        long start = System.nanoTime();
        try {
            Object result = handler.handle(verb, argMap == null ? Map.of() : argMap, cancel);
            LOG.debug("{} ok in {} us", verb, (System.nanoTime() - start) / 1000);
            return Protocol.ok(result);
        } catch (DaemonException e) {
            LOG.info("{} failed: {}", verb, e.getMessage());
            return Protocol.error(e);
        } catch (RuntimeException | Error e) {
            LOG.error("{} failed with an internal error", verb, e);
            return Protocol.error(new DaemonException(ErrorKind.INTERNAL, "internal error in " + verb + ": " + e,
                    "this is a bug in cairn; the daemon log has the stack trace"));
        }
    }

    private static boolean tryWrite(OutputStream out, Map<String, Object> message) {
        try {
            Protocol.writeLine(out, message);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Stops accepting, waits up to {@code drain} for requests in progress, then drops every connection. */
    public void close(Duration drain) {
        closing = true;
        try {
            server.close();
        } catch (IOException e) {
            LOG.debug("closing the control socket: {}", e.toString());
        }
        int phase = inFlight.arrive();
        try {
            inFlight.awaitAdvanceInterruptibly(phase, drain.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (TimeoutException e) {
            LOG.warn("control requests still running after {}; closing their connections", drain);
        }
        for (SocketChannel ch : connections) {
            try {
                ch.close();
            } catch (IOException e) {
                LOG.debug("closing a control connection: {}", e.toString());
            }
        }
        try {
            Files.deleteIfExists(socketPath);
        } catch (IOException e) {
            LOG.debug("removing {}: {}", socketPath, e.toString());
        }
    }

    @Override
    public void close() {
        close(Duration.ofSeconds(30));
    }
}
