package dev.cairn.daemon;

import java.io.IOException;
import java.io.InputStream;
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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves the {@link Protocol control protocol} on a Unix domain socket (mode 0600). Each connection
 * runs on its own virtual thread; requests are handed to the {@link Handler}, which serializes
 * what needs serializing.
 *
 * <p>{@link #close()} stops accepting, closes idle connections, and waits (bounded) for requests
 * already being handled, so a SIGTERM during a {@code create} either lets it finish or never
 * starts it.
 *
 * <p>Thread safety: {@link #close()} may be called from any thread.
 */
public final class ControlServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ControlServer.class);

    /** Executes one request. Throws {@link DaemonException} for errors to report to the client. */
    @FunctionalInterface
    public interface Handler {
        Object handle(String verb, Protocol.Args args);
    }

    private final Path socketPath;
    private final ServerSocketChannel server;
    private final Handler handler;
    private final Set<SocketChannel> connections = ConcurrentHashMap.newKeySet();
    // One party per request in progress; close() waits for the phase to advance.
    private final Phaser inFlight = new Phaser(1);
    private final Thread acceptor;
    private volatile boolean closing;

    private ControlServer(Path socketPath, ServerSocketChannel server, Handler handler) {
        this.socketPath = socketPath;
        this.server = server;
        this.handler = handler;
        this.acceptor = Thread.ofVirtual().name("cairn-control-accept").unstarted(this::acceptLoop);
    }

    /**
     * Binds {@code socketPath} (removing a stale socket file first: the caller holds the state
     * directory's lock, so no live daemon owns it) and starts accepting.
     */
    public static ControlServer start(Path socketPath, Handler handler) throws IOException {
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
        ControlServer cs = new ControlServer(socketPath, server, handler);
        cs.acceptor.start();
        return cs;
    }

    public Path socketPath() {
        return socketPath;
    }

    private void acceptLoop() {
        while (!closing) {
            SocketChannel ch;
            try {
                ch = server.accept();
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException e) {
                if (!closing) {
                    LOG.warn("control socket accept failed: {}", e.toString());
                }
                return;
            }
            connections.add(ch);
            Thread.ofVirtual().name("cairn-control").start(() -> serve(ch));
        }
    }

    private void serve(SocketChannel ch) {
        try (ch) {
            InputStream in = Channels.newInputStream(ch);
            OutputStream out = Channels.newOutputStream(ch);
            while (!closing) {
                String line;
                try {
                    line = Protocol.readLine(in);
                } catch (IOException e) {
                    if (!closing) {
                        LOG.debug("control connection dropped: {}", e.toString());
                        tryWrite(out, Protocol.error(new DaemonException(ErrorKind.USAGE, e.getMessage())));
                    }
                    return;
                }
                if (line == null) {
                    return;
                }
                Map<String, Object> response;
                if (inFlight.register() < 0) {
                    return; // terminated: closing
                }
                // The request counts as in flight until its answer is written: close() must not drop the
                // connection between the two.
                try {
                    if (closing) {
                        response = Protocol.error(new DaemonException(ErrorKind.FAILED, "the daemon is shutting down",
                                "start it again with: bin/cairn serve"));
                    } else {
                        response = handleLine(line);
                    }
                    if (!tryWrite(out, response)) {
                        return;
                    }
                } finally {
                    inFlight.arriveAndDeregister();
                }
            }
        } catch (IOException e) {
            LOG.debug("control connection close failed: {}", e.toString());
        } finally {
            connections.remove(ch);
        }
    }

    private Map<String, Object> handleLine(String line) {
        Map<String, Object> request;
        try {
            request = Json.parseObject(line);
        } catch (Json.ParseException e) {
            return Protocol.error(new DaemonException(ErrorKind.USAGE, "malformed request: " + e.getMessage()));
        }
        if (!(request.get("verb") instanceof String verb)) {
            return Protocol.error(new DaemonException(ErrorKind.USAGE, "malformed request: no \"verb\" string"));
        }
        Object args = request.get("args");
        if (args != null && !(args instanceof Map<?, ?>)) {
            return Protocol.error(new DaemonException(ErrorKind.USAGE, "malformed request: \"args\" is not an object"));
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> argMap = (Map<String, Object>) args;
        long start = System.nanoTime();
        try {
            Object result = handler.handle(verb, new Protocol.Args(argMap));
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
