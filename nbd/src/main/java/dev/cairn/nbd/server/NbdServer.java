package dev.cairn.nbd.server;

import dev.cairn.block.Submitter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.System.Logger.Level;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An NBD server: fixed newstyle handshake, structured replies, {@code base:allocation} block status,
 * multi-conn, STARTTLS ({@link ServerTls}: X.509 or pre-shared keys, off/on/require), over TCP and Unix
 * sockets, serving any number of {@link NbdExport}s. A TCP listener beyond loopback needs TLS required or
 * {@link Builder#allowPlaintextRemote}.
 *
 * <pre>{@code
 * try (NbdServer server = NbdServer.builder().submitter(submitter)
 *         .tcp("127.0.0.1", 10809).unix(Path.of("/run/cairn/nbd.sock")).build()) {
 *     server.addExport(NbdExport.of("disk0", device).description("scratch"));
 *     server.start();
 *     ...
 * }
 * }</pre>
 *
 * <h2>Implementation notes</h2>
 * Every connection runs on two virtual threads (a reader that validates and submits, a writer that sends
 * replies, except at queue depth 1 where the reader answers a request that completed on its own thread;
 * see {@link Connection}). Exports can be added and removed while serving; removing one stops its
 * connections from reading, answers what they have in flight, then closes them. {@link #close()} does the
 * same for every connection, waits up to the drain timeout, then closes what is left.
 *
 * <p>Thread safety: all public methods may be called from any thread. Exports live in a concurrent map;
 * lifecycle transitions are guarded by atomic flags.
 */
public final class NbdServer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("dev.cairn.nbd.server");
    public static final int DEFAULT_PORT = 10809;
    /** The largest READ/WRITE payload offered (the spec's recommended 32 MiB). */
    public static final int MAX_PAYLOAD_BYTES = BufferPool.MAX_BYTES;
    /**
     * How much copied read data a connection queues for its writer before its reader holds back the next READ.
     * The data of a READ is copied into a buffer by the store and out of it by the socket; when the reader
     * runs far ahead of the socket (a pipelining client, cached data), the buffers are cold by the time they
     * are sent, and both copies pay for it: over loopback TCP, nbdcopy cost about a third more CPU with 64 MiB
     * queued than with 1-2 MiB (docs/benchmarks/harness.md, "Large reads over TCP"). Reads the device is slow
     * to answer never fill the queue, so this does not limit how many reads wait for a disk.
     */
    public static final long DEFAULT_MAX_QUEUED_READ_BYTES = 2L << 20;
    /**
     * The default server-wide budget for memory held on behalf of clients (payload and reply buffers). With
     * the per-connection bounds (64 MiB in flight, one {@link RequestHandlers#WRITE_PIECE_BYTES} piece of a payload
     * still arriving) it keeps a server with many misbehaving clients within a stated size: see docs/nbd.md.
     */
    public static final long DEFAULT_MAX_CLIENT_MEMORY_BYTES = 512L << 20;
    /**
     * Idle buffers kept warm for reuse by default. Beyond this, buffers that come back give their pages to
     * the kernel at once; 64 MiB holds 256 nbdcopy-sized (256 KiB) buffers, four connections' worth.
     */
    public static final long DEFAULT_BUFFER_POOL_BYTES = 64L << 20;
    /** The default {@link Builder#handshakeLimit}: qemu-nbd's {@code --handshake-limit} default. */
    public static final Duration DEFAULT_HANDSHAKE_LIMIT = Duration.ofSeconds(10);

    private final Submitter submitter;
    private final String tcpHost;
    private final int tcpPortRequested;
    private final Path unixPath;
    private final long maxInFlightBytes;
    private final int maxInFlightRequests;
    private final long maxQueuedReadBytes;
    private final int maxConnections;
    private final String defaultExport;
    private final Duration drainTimeout;
    private final Duration handshakeLimit;
    private final AtomicLong handshakesTimedOut = new AtomicLong();
    private final int maxPayloadBytes;
    private final BufferPool bufferPool;
    private final AtomicLong memoryRefusals = new AtomicLong();
    private final AtomicLong allocationFailures = new AtomicLong();
    /** Null when TLS is off. */
    private final ServerTls tls;
    private final java.util.function.Consumer<String> onConnectionClosed;
    /** When the last accept failure was logged (nanoTime), for the rate limit; 0: never. */
    private final AtomicLong lastAcceptLogNanos = new AtomicLong();
    private final AtomicLong acceptFailures = new AtomicLong();

    private final Map<String, NbdExport> exports = new ConcurrentHashMap<>();
    private final Map<Connection, Thread> connections = new ConcurrentHashMap<>();
    private final AtomicLong connectionIds = new AtomicLong();
    private final AtomicLong internalErrors = new AtomicLong();
    private final AtomicBoolean started = new AtomicBoolean();
    private final AtomicBoolean closed = new AtomicBoolean();
    private final List<Thread> acceptors = new ArrayList<>();
    private volatile ServerSocketChannel tcpChannel;
    private volatile ServerSocketChannel unixChannel;

    private NbdServer(Builder b) {
        this.submitter = Objects.requireNonNull(b.submitter, "submitter");
        this.tcpHost = b.tcpHost;
        this.tcpPortRequested = b.tcpPort;
        this.unixPath = b.unixPath;
        this.maxInFlightBytes = b.maxInFlightBytes;
        this.maxInFlightRequests = b.maxInFlightRequests;
        this.maxQueuedReadBytes = b.maxQueuedReadBytes;
        this.maxConnections = b.maxConnections;
        this.defaultExport = b.defaultExport;
        this.drainTimeout = b.drainTimeout;
        this.handshakeLimit = b.handshakeLimit;
        this.maxPayloadBytes = (int) Math.min(MAX_PAYLOAD_BYTES, Long.highestOneBit(maxInFlightBytes));
        this.bufferPool = new BufferPool(b.bufferPoolBytes, b.maxClientMemoryBytes, b.allocator);
        this.tls = b.tls == null || b.tls.mode() == TlsMode.OFF ? null : b.tls;
        this.onConnectionClosed = b.onConnectionClosed;
    }

    public static Builder builder() {
        return new Builder();
    }

    // ------------------------------------------------------------------ exports

    /** Adds an export; allowed while serving. */
    public NbdServer addExport(NbdExport export) {
        Objects.requireNonNull(export, "export");
        if (exports.putIfAbsent(export.name(), export) != null) {
            throw new IllegalArgumentException("export: '" + export.name() + "' (expected: a name not in use)");
        }
        return this;
    }

    /**
     * Removes an export: new clients no longer see it; its open connections stop reading, answer what they
     * have in flight and close. Returns false when there was no such export.
     */
    public boolean removeExport(String name) {
        NbdExport removed = exports.remove(name);
        if (removed == null) {
            return false;
        }
        for (Connection c : connections.keySet()) {
            if (c.export() == removed) {
                c.stopReading();
            }
        }
        return true;
    }

    /** The exports, sorted by name. */
    public List<NbdExport> exports() {
        List<NbdExport> list = new ArrayList<>(exports.values());
        list.sort(Comparator.comparing(NbdExport::name));
        return List.copyOf(list);
    }

    /** The export a client's name selects: an exact match, else for "" the default export; null if none. */
    NbdExport findExport(String name) {
        NbdExport e = exports.get(name);
        if (e != null || !name.isEmpty()) {
            return e;
        }
        if (defaultExport != null) {
            return exports.get(defaultExport);
        }
        if (exports.size() == 1) {
            for (NbdExport only : exports.values()) {
                return only;
            }
        }
        return null;
    }

    /** True while {@code export} (this very object) is still exported. */
    boolean isExported(NbdExport export) {
        return exports.get(export.name()) == export;
    }

    List<String> exportNames() {
        return exports().stream().map(NbdExport::name).toList();
    }

    // ------------------------------------------------------------------ lifecycle

    /** Binds the listeners and starts accepting. */
    public NbdServer start() {
        if (closed.get()) {
            throw new IllegalStateException("server is closed");
        }
        if (!started.compareAndSet(false, true)) {
            throw new IllegalStateException("server already started");
        }
        try {
            if (tcpHost != null) {
                ServerSocketChannel ch = ServerSocketChannel.open(StandardProtocolFamily.INET);
                ch.setOption(java.net.StandardSocketOptions.SO_REUSEADDR, true);
                ch.bind(new InetSocketAddress(tcpHost, tcpPortRequested), 128);
                tcpChannel = ch;
                acceptors.add(Thread.ofVirtual().name("nbd-accept-tcp").start(() -> acceptLoop(ch)));
            }
            if (unixPath != null) {
                removeStaleSocket(unixPath);
                ServerSocketChannel ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
                ch.bind(UnixDomainSocketAddress.of(unixPath), 128);
                unixChannel = ch;
                acceptors.add(Thread.ofVirtual().name("nbd-accept-unix").start(() -> acceptLoop(ch)));
            }
        } catch (IOException e) {
            close();
            throw new UncheckedIOException("cannot listen on " + describeListeners() + ": " + e.getMessage(), e);
        }
        LOG.log(Level.INFO, () -> "NBD server listening on " + describeListeners());
        return this;
    }

    /** A socket file left by a previous run is removed; any other kind of file is left alone (bind then fails). */
    private static void removeStaleSocket(Path path) throws IOException {
        if (Files.exists(path, LinkOption.NOFOLLOW_LINKS)
                && Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).isOther()) {
            Files.delete(path);
        }
    }

    private String describeListeners() {
        List<String> out = new ArrayList<>();
        if (tcpHost != null) {
            out.add("tcp " + tcpHost + ":" + (tcpChannel == null ? tcpPortRequested : tcpPort()));
        }
        if (unixPath != null) {
            out.add("unix " + unixPath);
        }
        return out.isEmpty() ? "(no listener)" : String.join(", ", out);
    }

    private void acceptLoop(ServerSocketChannel listener) {
        while (!closed.get()) {
            SocketChannel ch;
            try {
                ch = listener.accept();
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException e) {
                if (closed.get()) {
                    return;
                }
                acceptFailed(e);
                continue;
            }
            try {
                connect(new SocketTransport(ch));
            } catch (IOException e) {
                try {
                    ch.close();
                } catch (IOException ignored) {
                    // the client is gone anyway
                }
            }
        }
    }

    /**
     * An accept that failed (EMFILE, ENFILE, ENOBUFS...) is retried after a pause, since the listener
     * stays good and the cause usually passes (connections close); the failure is logged at most once
     * every {@link #ACCEPT_LOG_INTERVAL} with the count since the last line, so a storm cannot fill the
     * log. The pause ({@link #ACCEPT_BACKOFF}) stops the loop from spinning while the cause lasts.
     */
    private void acceptFailed(IOException e) {
        long n = acceptFailures.incrementAndGet();
        long now = System.nanoTime();
        long last = lastAcceptLogNanos.get();
        if ((last == 0 || now - last >= ACCEPT_LOG_INTERVAL.toNanos()) && lastAcceptLogNanos.compareAndSet(last, now)) {
            acceptFailures.set(0);
            LOG.log(Level.WARNING, () -> "accept failed: " + e + " (" + n + " failure" + (n == 1 ? "" : "s")
                    + " since the last report; retrying every " + ACCEPT_BACKOFF.toMillis() + " ms)");
        }
        try {
            Thread.sleep(ACCEPT_BACKOFF);
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
        }
    }

    /** Pause after a failed accept. */
    static final Duration ACCEPT_BACKOFF = Duration.ofMillis(100);
    /** At most one log line per this interval about failed accepts. */
    static final Duration ACCEPT_LOG_INTERVAL = Duration.ofSeconds(10);

    /** Serves one connection on {@code transport} (sockets, and in-memory channels in tests). */
    void connect(NbdTransport transport) {
        if (closed.get() || connections.size() >= maxConnections) {
            LOG.log(Level.WARNING, () -> "refusing " + transport.peer() + ": "
                    + (closed.get() ? "server closed" : "connection limit " + maxConnections + " reached"));
            transport.close();
            return;
        }
        Connection c = new Connection(this, tls == null ? transport : new StartTlsTransport(transport, tls),
                connectionIds.incrementAndGet());
        Thread t = c.connectionThread();
        connections.put(c, t);
        t.start();
    }

    /** A request was refused ENOMEM: the server-wide memory budget was spent. */
    void memoryRefused() {
        memoryRefusals.incrementAndGet();
    }

    /** The JVM refused direct memory the budget allowed; the connection it was for closes. */
    void allocationFailed() {
        allocationFailures.incrementAndGet();
    }

    /**
     * The memory this server holds on behalf of its clients, now and at its peak, against its budget
     * ({@link Builder#maxClientMemoryBytes}); for monitoring and tests.
     */
    public ClientMemory clientMemory() {
        return new ClientMemory(bufferPool.maxHeldBytes(), bufferPool.heldBytes(), bufferPool.peakHeldBytes(),
                bufferPool.retainedBytes(), bufferPool.returnedBytes(), memoryRefusals.get(), allocationFailures.get());
    }

    /**
     * A snapshot of the client memory gauges.
     *
     * @param budgetBytes        the most that may be held at once
     * @param heldBytes          I/O buffers out now (payloads being read, data being written or sent)
     * @param peakHeldBytes      the most held at once since the server started
     * @param retainedBytes      idle buffers kept warm for reuse (not held for any client)
     * @param returnedBytes      bytes whose pages were given back to the kernel as their buffers came back
     * @param refusedRequests    requests answered ENOMEM because the budget was spent
     * @param allocationFailures connections closed because the JVM refused memory the budget allowed
     */
    public record ClientMemory(long budgetBytes, long heldBytes, long peakHeldBytes, long retainedBytes,
            long returnedBytes, long refusedRequests, long allocationFailures) {}

    /** A client did not finish its handshake within {@link Builder#handshakeLimit}; its connection is closed. */
    void handshakeTimedOut() {
        handshakesTimedOut.incrementAndGet();
    }

    /** Connections dropped because their handshake was not done within {@link Builder#handshakeLimit}. */
    public long handshakesTimedOut() {
        return handshakesTimedOut.get();
    }

    /** A connection ended with a bug of ours (an unexpected exception), not a client's fault. */
    void internalError() {
        internalErrors.incrementAndGet();
    }

    /** Connections that ended with an unexpected exception (0 in a healthy server; for tests and monitoring). */
    long internalErrors() {
        return internalErrors.get();
    }

    void connectionClosed(Connection c) {
        connections.remove(c);
        if (onConnectionClosed != null) {
            NbdExport e = c.export();
            try {
                onConnectionClosed.accept(e == null ? null : e.name());
            } catch (RuntimeException ex) {
                LOG.log(Level.WARNING, () -> "connection-closed listener failed: " + ex);
            }
        }
    }

    /** Actual TCP port (useful with port 0); -1 without a TCP listener or before {@link #start()}. */
    public int tcpPort() {
        ServerSocketChannel ch = tcpChannel;
        if (ch == null) {
            return -1;
        }
        try {
            return ((InetSocketAddress) ch.getLocalAddress()).getPort();
        } catch (IOException e) {
            return -1;
        }
    }

    /** Off, on or require. */
    public TlsMode tlsMode() {
        return tls == null ? TlsMode.OFF : tls.mode();
    }

    /** The Unix socket path, or null. */
    public Path unixSocket() {
        return unixPath;
    }

    /** Open client connections (handshake or transmission). */
    public int connectionCount() {
        return connections.size();
    }

    /** Figures of the open connections (handshake or transmission), in no particular order. */
    public List<ConnectionStats> connectionStats() {
        return connections.keySet().stream().map(Connection::stats).toList();
    }

    /**
     * Open connections serving the export named {@code exportName}: those past the handshake, including
     * ones still answering their last requests after the export was removed (they still use its device).
     * A caller that must not pull a device from under clients checks this is 0 after
     * {@link #removeExport}; connections still negotiating are not counted (they can no longer pick a
     * removed export).
     */
    public int connectionCount(String exportName) {
        Objects.requireNonNull(exportName, "exportName");
        int n = 0;
        for (Connection c : connections.keySet()) {
            NbdExport e = c.export();
            if (e != null && e.name().equals(exportName)) {
                n++;
            }
        }
        return n;
    }

    /**
     * Stops accepting, lets every connection answer what it has in flight (up to the drain timeout), closes
     * the rest and removes the Unix socket file. Does not close the submitter. Idempotent.
     */
    @Override
    public void close() {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        closeQuietly(tcpChannel);
        closeQuietly(unixChannel);
        for (Thread t : acceptors) {
            joinQuietly(t, Duration.ofSeconds(5));
        }
        for (Connection c : connections.keySet()) {
            c.stopReading();
        }
        long deadline = System.nanoTime() + drainTimeout.toNanos();
        for (Map.Entry<Connection, Thread> e : connections.entrySet()) {
            long left = Math.max(0, deadline - System.nanoTime());
            if (!joinQuietly(e.getValue(), Duration.ofNanos(left))) {
                LOG.log(Level.WARNING, () -> e.getKey() + ": still has " + e.getKey().inFlight()
                        + " requests in flight after " + drainTimeout + "; closing it");
                e.getKey().forceClose();
            }
        }
        for (Thread t : connections.values()) {
            joinQuietly(t, Duration.ofSeconds(1));
        }
        // Idle buffers go; any still held by a connection that did not end stay valid until released.
        bufferPool.close();
        if (unixPath != null && unixChannel != null) {
            try {
                Files.deleteIfExists(unixPath);
            } catch (IOException e) {
                LOG.log(Level.DEBUG, () -> "cannot remove " + unixPath + ": " + e);
            }
        }
    }

    private static void closeQuietly(ServerSocketChannel ch) {
        if (ch != null) {
            try {
                ch.close();
            } catch (IOException e) {
                // closing a listener cannot usefully fail
            }
        }
    }

    private static boolean joinQuietly(Thread t, Duration timeout) {
        try {
            return t.join(timeout);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    // ------------------------------------------------------------------ for connections

    Submitter submitter() {
        return submitter;
    }

    BufferPool bufferPool() {
        return bufferPool;
    }

    int maxInFlightRequests() {
        return maxInFlightRequests;
    }

    long maxInFlightBytes() {
        return maxInFlightBytes;
    }

    /** The time a client has to finish its handshake; {@link Duration#ZERO}: no limit. */
    Duration handshakeLimit() {
        return handshakeLimit;
    }

    long maxQueuedReadBytes() {
        return maxQueuedReadBytes;
    }

    int maxPayloadBytes() {
        return maxPayloadBytes;
    }

    @Override
    public String toString() {
        return "NbdServer[" + describeListeners() + ", " + exports.size() + " exports, " + connections.size()
                + " connections]";
    }

    /** True when every address {@code host} names is a loopback address (an unknown name is not). */
    public static boolean isLoopback(String host) {
        try {
            java.net.InetAddress[] all = java.net.InetAddress.getAllByName(host);
            for (java.net.InetAddress a : all) {
                if (!a.isLoopbackAddress()) {
                    return false;
                }
            }
            return all.length > 0;
        } catch (java.net.UnknownHostException e) {
            return false;
        }
    }

    /** Configuration of an {@link NbdServer}. Without any listener, TCP 127.0.0.1:10809 is used. */
    public static final class Builder {
        private Submitter submitter;
        private String tcpHost;
        private int tcpPort;
        private Path unixPath;
        private boolean noListeners;
        private long maxInFlightBytes = 64L << 20;
        private int maxInFlightRequests = 256;
        private long maxQueuedReadBytes = DEFAULT_MAX_QUEUED_READ_BYTES;
        private int maxConnections = 1024;
        private String defaultExport;
        private Duration drainTimeout = Duration.ofSeconds(30);
        private Duration handshakeLimit = DEFAULT_HANDSHAKE_LIMIT;
        private long bufferPoolBytes = DEFAULT_BUFFER_POOL_BYTES;
        private long maxClientMemoryBytes = DEFAULT_MAX_CLIENT_MEMORY_BYTES;
        private BufferPool.Allocator allocator = java.nio.ByteBuffer::allocateDirect;
        private ServerTls tls;
        private boolean allowPlaintextRemote;
        private java.util.function.Consumer<String> onConnectionClosed;

        private Builder() {}

        /**
         * Called on the connection's thread after a connection has closed, with the name of the export it
         * served (null if it closed before choosing one); {@link NbdServer#connectionCount(String)} no
         * longer counts it. It must not block.
         */
        public Builder onConnectionClosed(java.util.function.Consumer<String> listener) {
            this.onConnectionClosed = Objects.requireNonNull(listener, "listener");
            return this;
        }

        /** The engine every request is submitted through (not owned: the server never closes it). */
        public Builder submitter(Submitter value) {
            this.submitter = Objects.requireNonNull(value, "submitter");
            return this;
        }

        /** Listen on TCP {@code host:port}; port 0 picks a free port (see {@link NbdServer#tcpPort()}). */
        public Builder tcp(String host, int port) {
            if (port < 0 || port > 65535) {
                throw new IllegalArgumentException("port: " + port + " (expected: 0..65535)");
            }
            this.tcpHost = Objects.requireNonNull(host, "host");
            this.tcpPort = port;
            return this;
        }

        /** Listen on a Unix domain socket at {@code path} (a stale socket file there is replaced). */
        public Builder unix(Path path) {
            this.unixPath = Objects.requireNonNull(path, "path");
            return this;
        }

        /** No listener at all (connections come only through the package's in-memory hook; for tests). */
        Builder noListeners() {
            this.noListeners = true;
            return this;
        }

        /**
         * Payload bytes a connection may have between reading a request and writing its reply (default 64 MiB,
         * at least 1 MiB). The advertised maximum payload is the largest power of two not above it, capped at
         * 32 MiB.
         */
        public Builder maxInFlightBytesPerConnection(long value) {
            if (value < (1 << 20)) {
                throw new IllegalArgumentException("maxInFlightBytesPerConnection: " + value + " (expected: >= 1048576)");
            }
            this.maxInFlightBytes = value;
            return this;
        }

        /** Requests a connection may have in flight (default 256). */
        public Builder maxInFlightRequestsPerConnection(int value) {
            if (value < 1) {
                throw new IllegalArgumentException("maxInFlightRequestsPerConnection: " + value + " (expected: >= 1)");
            }
            this.maxInFlightRequests = value;
            return this;
        }

        /**
         * Read data a connection may have copied into memory and queued for its reply writer before its reader
         * waits to start another READ (default 2 MiB; at least 64 KiB; {@link Long#MAX_VALUE}: no limit). Data
         * sent by reference (sendfile, a memory store's pages) does not count. See
         * {@link #DEFAULT_MAX_QUEUED_READ_BYTES}.
         */
        public Builder maxQueuedReadBytesPerConnection(long value) {
            if (value < (64 << 10)) {
                throw new IllegalArgumentException("maxQueuedReadBytesPerConnection: " + value + " (expected: >= 65536)");
            }
            this.maxQueuedReadBytes = value;
            return this;
        }

        /** Open connections allowed at once (default 1024); more are closed at accept. */
        public Builder maxConnections(int value) {
            if (value < 1) {
                throw new IllegalArgumentException("maxConnections: " + value + " (expected: >= 1)");
            }
            this.maxConnections = value;
            return this;
        }

        /** The export an empty name selects (default: an export named "", else the only export). */
        public Builder defaultExport(String name) {
            this.defaultExport = Objects.requireNonNull(name, "name");
            return this;
        }

        /** How long {@link NbdServer#close()} waits for in-flight requests (default 30 s). */
        public Builder drainTimeout(Duration value) {
            if (value.isNegative()) {
                throw new IllegalArgumentException("drainTimeout: " + value + " (expected: >= 0)");
            }
            this.drainTimeout = value;
            return this;
        }

        /**
         * The time a client has from accept to the end of option negotiation, TLS handshake included, as
         * qemu-nbd's {@code --handshake-limit} (default {@link #DEFAULT_HANDSHAKE_LIMIT}, qemu-nbd's;
         * {@link Duration#ZERO}: no limit). A client still negotiating then is dropped, freeing its slot
         * ({@link #maxConnections}); {@link NbdServer#handshakesTimedOut()} counts them.
         */
        public Builder handshakeLimit(Duration value) {
            if (value.isNegative()) {
                throw new IllegalArgumentException("handshakeLimit: " + value + " (expected: >= 0; 0: no limit)");
            }
            this.handshakeLimit = value;
            return this;
        }

        /**
         * The server-wide budget for I/O buffers held on behalf of clients, all connections together
         * (default {@link #DEFAULT_MAX_CLIENT_MEMORY_BYTES}; at least 32 MiB, the largest payload). A request
         * that finds it spent, with nothing else of its connection in flight, is answered ENOMEM; see
         * docs/nbd.md, "Bounds".
         */
        public Builder maxClientMemoryBytes(long value) {
            if (value < BufferPool.MAX_BYTES) {
                throw new IllegalArgumentException("maxClientMemoryBytes: " + value + " (expected: >= "
                        + BufferPool.MAX_BYTES + ")");
            }
            this.maxClientMemoryBytes = value;
            return this;
        }

        /** Where I/O buffers' memory comes from (a hook: tests make it fail as a JVM out of direct memory does). */
        Builder allocator(BufferPool.Allocator value) {
            this.allocator = Objects.requireNonNull(value, "allocator");
            return this;
        }

        /** Idle I/O buffer memory kept warm for reuse across all connections (default 64 MiB). */
        public Builder bufferPoolBytes(long value) {
            if (value < 0) {
                throw new IllegalArgumentException("bufferPoolBytes: " + value + " (expected: >= 0)");
            }
            this.bufferPoolBytes = value;
            return this;
        }

        /**
         * STARTTLS with these credentials and mode (default: TLS off). Every listener gets the same mode.
         * Not owned: the caller keeps it to {@link ServerTls#reload} certificates.
         */
        public Builder tls(ServerTls value) {
            this.tls = Objects.requireNonNull(value, "tls");
            return this;
        }

        /**
         * Allows a TCP listener on an address other than loopback without {@link TlsMode#REQUIRE}. Without it
         * {@link #build} refuses such a server: anyone who can reach the port could read and overwrite the
         * exports, and a plaintext session can be read or changed on the way.
         */
        public Builder allowPlaintextRemote(boolean value) {
            this.allowPlaintextRemote = value;
            return this;
        }

        public NbdServer build() {
            if (submitter == null) {
                throw new IllegalStateException("submitter: null (expected: a Submitter; call submitter(...))");
            }
            if (tcpHost == null && unixPath == null && !noListeners) {
                tcpHost = "127.0.0.1";
                tcpPort = DEFAULT_PORT;
            }
            if (tcpHost != null && !allowPlaintextRemote && (tls == null || tls.mode() != TlsMode.REQUIRE)
                    && !isLoopback(tcpHost)) {
                throw new IllegalStateException("tcp host: " + tcpHost + " (expected: a loopback address, or TLS"
                        + " required, or allowPlaintextRemote(true)): plaintext NBD beyond this machine lets anyone"
                        + " who can reach the port read and overwrite the exports");
            }
            return new NbdServer(this);
        }
    }
}
