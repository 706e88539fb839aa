package dev.cairn.nbd.client;

import static dev.cairn.nbd.protocol.NbdConstants.*;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.Extents;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.Sectors;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * A remote NBD export as a {@link BlockDevice} (the {@code nbd:} leaf).
 *
 * <p><b>Operations.</b> READ, WRITE, FLUSH, TRIM (DISCARD) and WRITE_ZEROES go out as the commands of the
 * same name when the server offers them (the queue limits say which); FUA is the command flag when the
 * server offers it, else a FLUSH after the write; PREFLUSH is a FLUSH before it. WRITE_ZEROES carries
 * NO_HOLE for {@link BioFlags#NOUNMAP} and FAST_ZERO when asked (NOTSUPP at once if the server cannot).
 * Extents come from NBD_CMD_BLOCK_STATUS on {@code base:allocation} when it was negotiated.
 *
 * <p><b>Connections.</b> One at first; up to {@link NbdClientConfig#connections()} when the server
 * advertises multi-conn (then a FLUSH on any connection covers writes completed on all, which is what
 * the flag promises). Requests are spread round-robin over live connections.
 *
 * <p><b>Failures.</b> A connection that fails (the server died, the network broke, or a request got no
 * reply within the I/O timeout, which drops the connection on purpose) fails every request in flight on
 * it with IOERR: the client does not resend them, because it cannot know whether a write reached the
 * server's disk or whether data acknowledged before the last flush survived a server restart. The
 * device then reconnects in the background with exponential backoff; bios submitted while no
 * connection is up wait for one, and fail with IOERR after the I/O timeout (never, with timeout 0).
 * A reconnect that finds a different size or different capabilities is refused (the export changed).
 *
 * <p>Thread safety: {@link #submitBio} and {@link #queryExtents} may be called from any thread. The
 * connection list is copy-on-write; the queue of waiting requests and the reconnect state are guarded by
 * {@code this}.
 */
public final class NbdClientDevice implements BlockDevice, AutoCloseable {
    private static final Logger LOG = Logger.getLogger(NbdClientDevice.class.getName());
    /** Largest TRIM/WRITE_ZEROES length sent at once (the request length is a u32). */
    private static final long MAX_RANGE_BYTES = 1L << 30;

    private final NbdUri uri;
    private final NbdClientConfig config;
    private final String name;
    private final NegotiatedExport export;
    private final QueueLimits limits;
    private final int wantedConnections;
    private final ScheduledExecutorService timer;
    private final ClientHooks hooks;
    private final CopyOnWriteArrayList<ClientConnection> live = new CopyOnWriteArrayList<>();
    private final AtomicInteger roundRobin = new AtomicInteger();
    private final AtomicInteger connectionSerial = new AtomicInteger();
    private final AtomicLong reconnects = new AtomicLong();
    private final AtomicLong droppedConnections = new AtomicLong();

    // ---- guarded by this
    private final ArrayDeque<Waiting> waiting = new ArrayDeque<>();
    private boolean reconnecting;
    private long backoffMillis;
    private boolean closed;

    private record Waiting(ClientRequest request, long sinceNanos) {}

    /**
     * Counters for tests and status: connections up, reconnects done, connections dropped, requests waiting
     * for a connection, requests sent or queued on a connection and not answered yet.
     */
    public record Stats(int liveConnections, long reconnects, long droppedConnections, int waitingRequests,
            int inFlightRequests) {}

    private NbdClientDevice(NbdUri uri, ClientConnection first, ScheduledExecutorService timer, ClientHooks hooks) {
        this.uri = uri;
        this.hooks = hooks;
        this.config = uri.config();
        this.name = uri.uri();
        this.export = first.export;
        this.timer = timer;
        this.wantedConnections = export.has(TF_CAN_MULTI_CONN) ? config.connections() : 1;
        this.limits = limitsOf(export);
        this.backoffMillis = config.reconnectMin().toMillis();
        live.add(first);
    }

    /**
     * Connects to {@code uri} (its first connection, then the others in the background when multi-conn
     * is allowed). Fails with the server's or the network's reason.
     */
    public static NbdClientDevice open(NbdUri uri) throws IOException {
        return open(uri, ClientHooks.NONE);
    }

    static NbdClientDevice open(NbdUri uri, ClientHooks hooks) throws IOException {
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r ->
                Thread.ofPlatform().daemon().name("nbd-client-timer " + uri.endpoint()).unstarted(r));
        NbdClientDevice[] self = new NbdClientDevice[1];
        ClientConnection first;
        try {
            first = ClientConnection.open(uri, uri.endpoint() + "#0", uri.config(), timer,
                    (c, why) -> {
                        NbdClientDevice d = self[0];
                        if (d != null) {
                            d.connectionDied(c, why);
                        }
                    });
        } catch (IOException | RuntimeException e) {
            timer.shutdownNow();
            throw e;
        }
        NbdClientDevice dev = new NbdClientDevice(uri, first, timer, hooks);
        self[0] = dev;
        if (first.isDead()) {
            dev.connectionDied(first, first.deathReason());
        }
        long tickMillis = tickMillis(uri.config());
        timer.scheduleWithFixedDelay(dev::checkTimeouts, tickMillis, tickMillis, TimeUnit.MILLISECONDS);
        dev.fillConnections();
        return dev;
    }

    private static long tickMillis(NbdClientConfig config) {
        long io = config.ioTimeout().toMillis();
        return io == 0 ? 1000 : Math.max(10, Math.min(1000, io / 4));
    }

    static QueueLimits limitsOf(NegotiatedExport e) {
        int logical = Math.max(512, e.minimumBlockBytes());
        int physical = Math.min(65536, Math.max(logical, e.preferredBlockBytes()));
        long maxBytes = Integer.toUnsignedLong(e.maximumBlockBytes());
        long maxSectors = Math.max(logical, maxBytes - maxBytes % logical) >>> Sectors.SECTOR_SHIFT;
        long rangeSectors = (MAX_RANGE_BYTES - MAX_RANGE_BYTES % logical) >>> Sectors.SECTOR_SHIFT;
        boolean flush = e.has(TF_SEND_FLUSH);
        // A preferred size above the physical block is the remote's optimal I/O (as qemu's NBD client
        // takes it for opt_transfer): a Cairn server sends an RBD image's object size there.
        int preferred = e.preferredBlockBytes();
        int optimalIoBytes = preferred > physical && preferred % physical == 0 ? preferred : 0;
        return new QueueLimits(logical, physical, maxSectors,
                e.has(TF_SEND_TRIM) ? physical : 0, e.has(TF_SEND_TRIM) ? rangeSectors : 0,
                e.has(TF_SEND_WRITE_ZEROES) ? rangeSectors : 0,
                flush, flush && e.has(TF_SEND_FUA), e.has(TF_READ_ONLY), optimalIoBytes);
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public long capacitySectors() {
        return export.sizeBytes() >>> Sectors.SECTOR_SHIFT;
    }

    @Override
    public QueueLimits limits() {
        return limits;
    }

    public NbdUri uri() {
        return uri;
    }

    /** Transmission flags the server sent, as NBD names (for status and tests). */
    public String serverFlags() {
        return export.toString();
    }

    public Stats stats() {
        int inFlight = 0;
        for (ClientConnection c : live) {
            inFlight += c.outstanding();
        }
        synchronized (this) {
            return new Stats(live.size(), reconnects.get(), droppedConnections.get(), waiting.size(), inFlight);
        }
    }

    // ---------------------------------------------------------------- I/O

    @Override
    public void submitBio(Bio bio) {
        BioOp op = bio.op();
        long offsetBytes = Sectors.toBytes(bio.sector());
        switch (op) {
            case READ -> send(new ClientRequest(CMD_READ, 0, offsetBytes, bio.sizeBytes(), bio, 0, bio::complete, false));
            case FLUSH -> send(flushRequest(bio::complete));
            case WRITE, DISCARD, WRITE_ZEROES -> writeLike(bio, op, offsetBytes);
        }
    }

    private ClientRequest flushRequest(Consumer<BioStatus> done) {
        return new ClientRequest(CMD_FLUSH, 0, 0, 0, null, 0, done, false);
    }

    /** PREFLUSH, then the command (with FUA if native), then a FLUSH if FUA is emulated. */
    private void writeLike(Bio bio, BioOp op, long offsetBytes) {
        boolean fua = bio.hasFlag(BioFlags.FUA) && limits.writeCache();
        boolean nativeFua = fua && limits.fua();
        int flags = nativeFua ? CMD_FLAG_FUA : 0;
        int type;
        switch (op) {
            case WRITE -> type = CMD_WRITE;
            case DISCARD -> type = CMD_TRIM;
            default -> {
                type = CMD_WRITE_ZEROES;
                if (bio.hasFlag(BioFlags.NOUNMAP)) {
                    flags |= CMD_FLAG_NO_HOLE;
                }
                if (bio.hasFlag(BioFlags.FAST_ZERO)) {
                    if (!export.has(TF_SEND_FAST_ZERO)) {
                        bio.complete(BioStatus.NOTSUPP);
                        return;
                    }
                    flags |= CMD_FLAG_FAST_ZERO;
                }
            }
        }
        int cmdFlags = flags;
        int cmdType = type;
        Consumer<BioStatus> afterCommand = fua && !nativeFua
                ? s -> {
                    if (s.isOk()) {
                        send(flushRequest(bio::complete));
                    } else {
                        bio.complete(s);
                    }
                }
                : bio::complete;
        Runnable command = () -> send(new ClientRequest(cmdType, cmdFlags, offsetBytes, bio.sizeBytes(),
                cmdType == CMD_WRITE ? bio : null, 0, afterCommand, false));
        if (bio.hasFlag(BioFlags.PREFLUSH) && limits.writeCache()) {
            send(flushRequest(s -> {
                if (s.isOk()) {
                    command.run();
                } else {
                    bio.complete(s);
                }
            }));
        } else {
            command.run();
        }
    }

    /**
     * Allocation from NBD_CMD_BLOCK_STATUS ({@code base:allocation}); "allocated data" when the server has
     * no block status or the query fails (always a correct answer). Blocks the calling thread for one
     * round trip, at most the I/O timeout.
     */
    @Override
    public void queryExtents(long sector, long sectors, Extents.Sink sink) {
        if (sectors <= 0) {
            return;
        }
        if (!export.canBlockStatus()) {
            sink.extent(sectors, 0);
            return;
        }
        long lengthBytes = Math.min(Sectors.toBytes(sectors), MAX_RANGE_BYTES);
        CompletableFuture<BioStatus> f = new CompletableFuture<>();
        ClientRequest r = new ClientRequest(CMD_BLOCK_STATUS, 0, Sectors.toBytes(sector), (int) lengthBytes, null, 0,
                f::complete, true);
        send(r);
        BioStatus status;
        try {
            long timeoutMillis = config.ioTimeout().isZero() ? Long.MAX_VALUE : config.ioTimeout().toMillis() * 2;
            status = f.get(timeoutMillis, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            status = BioStatus.IOERR;
        } catch (ExecutionException | TimeoutException e) {
            status = BioStatus.IOERR;
        }
        long left = sectors;
        if (status.isOk() && r.extents[0] != null) {
            long[] e = r.extents[0];
            for (int i = 0; i < r.extentCount && left > 0; i++) {
                long n = Math.min(left, e[2 * i] >>> Sectors.SECTOR_SHIFT);
                if (n <= 0) {
                    break;
                }
                int flags = (int) e[2 * i + 1] & (Extents.HOLE | Extents.ZERO);
                left -= n;
                if (!sink.extent(n, flags)) {
                    return;
                }
            }
        }
        if (left == sectors) {
            sink.extent(sectors, 0);
        }
    }

    // ---------------------------------------------------------------- connections

    /** Sends on a live connection, or parks the request until one is up. */
    private void send(ClientRequest r) {
        while (true) {
            List<ClientConnection> now = live;
            int n = now.size();
            if (n == 0) {
                break;
            }
            ClientConnection c;
            try {
                c = now.get(Math.floorMod(roundRobin.getAndIncrement(), n));
            } catch (IndexOutOfBoundsException e) {
                continue; // the list shrank under us
            }
            if (c.submit(r)) {
                return;
            }
            live.remove(c);
        }
        synchronized (this) {
            if (closed) {
                r.finish(BioStatus.IOERR);
                return;
            }
            if (!live.isEmpty()) {
                // A connection came up between our look and the lock: try again outside the lock.
                timer.execute(() -> send(r));
                return;
            }
            waiting.add(new Waiting(r, System.nanoTime()));
            scheduleReconnect(0);
        }
    }

    private void connectionDied(ClientConnection c, String why) {
        live.remove(c);
        synchronized (this) {
            if (closed) {
                return;
            }
            droppedConnections.incrementAndGet();
            LOG.log(Level.WARNING, name + ": connection " + c + " dropped: " + why);
            scheduleReconnect(backoffMillis);
        }
    }

    /** Guarded by this. */
    private void scheduleReconnect(long delayMillis) {
        if (reconnecting || closed) {
            return;
        }
        reconnecting = true;
        timer.schedule(this::reconnect, delayMillis, TimeUnit.MILLISECONDS);
    }

    /** Runs on the timer thread: opens connections until there are as many as wanted. */
    private void reconnect() {
        while (true) {
            synchronized (this) {
                if (closed || live.size() >= wantedConnections) {
                    reconnecting = false;
                    return;
                }
            }
            ClientConnection c;
            try {
                c = ClientConnection.open(uri, uri.endpoint() + "#" + connectionSerial.incrementAndGet(), config, timer,
                        this::connectionDied);
                if (!c.export.sameAs(export)) {
                    String got = c.export.toString();
                    c.disconnect(1000);
                    throw new IOException("the export changed: now " + got + ", was " + export);
                }
            } catch (IOException | RuntimeException e) {
                synchronized (this) {
                    long delay = backoffMillis;
                    backoffMillis = Math.min(config.reconnectMax().toMillis(), backoffMillis * 2);
                    LOG.log(Level.FINE, name + ": reconnect failed, next try in " + delay + " ms: " + e.getMessage());
                    if (!closed) {
                        timer.schedule(this::reconnect, delay, TimeUnit.MILLISECONDS);
                    } else {
                        reconnecting = false;
                    }
                }
                return;
            }
            hooks.connected(c);
            List<Waiting> resend;
            synchronized (this) {
                if (closed) {
                    c.disconnect(1000);
                    reconnecting = false;
                    return;
                }
                live.add(c);
                if (c.isDead()) {
                    // It died between its handshake and the add (the server went away right then): its
                    // connectionDied ran before the add and removed nothing, so remove it here, or the dead
                    // connection would count as live and no reconnect would replace it. Try again later.
                    live.remove(c);
                    long delay = backoffMillis;
                    backoffMillis = Math.min(config.reconnectMax().toMillis(), backoffMillis * 2);
                    timer.schedule(this::reconnect, delay, TimeUnit.MILLISECONDS);
                    return;
                }
                reconnects.incrementAndGet();
                backoffMillis = config.reconnectMin().toMillis();
                resend = new ArrayList<>(waiting);
                waiting.clear();
            }
            for (Waiting w : resend) {
                send(w.request());
            }
        }
    }

    /** After the first connection: the others that multi-conn allows, in the background. */
    private void fillConnections() {
        synchronized (this) {
            if (live.size() < wantedConnections) {
                scheduleReconnect(0);
            }
        }
    }

    /** Timer tick: drop connections with a request older than the I/O timeout; fail requests waiting too long. */
    private void checkTimeouts() {
        long timeoutNanos = config.ioTimeout().toNanos();
        if (timeoutNanos == 0) {
            return;
        }
        long now = System.nanoTime();
        for (ClientConnection c : live) {
            ClientRequest oldest = c.oldestInFlight();
            if (oldest != null && now - oldest.sentNanos > timeoutNanos) {
                c.kill("no reply to " + oldest + " within the I/O timeout of " + config.ioTimeout().toMillis() + " ms");
            }
        }
        List<ClientRequest> expired = new ArrayList<>();
        synchronized (this) {
            while (!waiting.isEmpty() && now - waiting.peekFirst().sinceNanos() > timeoutNanos) {
                expired.add(waiting.pollFirst().request());
            }
        }
        for (ClientRequest r : expired) {
            r.finish(BioStatus.IOERR);
        }
    }

    /** Disconnects politely (NBD_CMD_DISC after what is queued); requests still waiting fail with IOERR. */
    @Override
    public void close() {
        List<Waiting> left;
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            left = new ArrayList<>(waiting);
            waiting.clear();
        }
        for (Waiting w : left) {
            w.request().finish(BioStatus.IOERR);
        }
        for (ClientConnection c : live) {
            c.disconnect(2000);
        }
        live.clear();
        timer.shutdownNow();
    }

    @Override
    public String toString() {
        return "NbdClientDevice[" + name + ", " + export + "]";
    }
}
