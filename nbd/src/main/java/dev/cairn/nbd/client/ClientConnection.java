package dev.cairn.nbd.client;

import static dev.cairn.nbd.protocol.NbdConstants.*;

import dev.cairn.block.BioStatus;
import dev.cairn.nbd.protocol.NbdWire;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BiConsumer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One socket to an NBD server in the transmission phase: a writer thread that sends queued requests (a
 * WRITE's payload straight from the bio's segments, gathered with its header) and a reader thread that
 * matches replies to requests by cookie (simple or structured; a READ's data goes straight into the bio).
 *
 * <p><b>System calls.</b> At queue depth 32 of 4 KiB reads the socket, not the data, is the cost: the writer
 * sends every request queued when it wakes in one gathering write (up to {@value #MAX_BATCH}), and the reader
 * reads the socket into a {@value #IN_BUFFER_BYTES}-byte buffer and parses reply headers (and payloads under
 * {@value #DIRECT_READ_MIN_BYTES} bytes, copied into the bio) from it, instead of a read per header field;
 * larger payloads are read straight into the bio once the buffer is drained.
 *
 * <p>When the socket fails (an I/O error, a protocol error, the server closing it, {@link #kill}), every
 * request in flight or queued on it fails with IOERR exactly once and the owner hears of it through the
 * {@code onDead} callback; the connection is never used again.
 *
 * <p>Thread safety: {@link #submit} may be called from any thread. The in-flight map and the send queue
 * are concurrent; a request is completed by whoever removes it from them (reader, or {@link #kill}'s drain).
 */
final class ClientConnection {
    private static final Logger LOG = Logger.getLogger(ClientConnection.class.getName());
    /** Sentinel that makes the writer send NBD_CMD_DISC and stop. */
    private static final ClientRequest DISCONNECT = new ClientRequest(CMD_DISC, 0, 0, 0, null, 0, s -> { }, false);
    /** Most requests one gathering write sends. */
    private static final int MAX_BATCH = 64;
    private static final int IN_BUFFER_BYTES = 256 * 1024;
    /** Payloads at least this long skip the read buffer (when it is empty) and land in the bio directly. */
    private static final int DIRECT_READ_MIN_BYTES = 64 * 1024;

    final NegotiatedExport export;
    private final String name;
    private final Wire wire;
    private final BiConsumer<ClientConnection, String> onDead;
    private final LinkedBlockingQueue<ClientRequest> sendQueue = new LinkedBlockingQueue<>();
    private final ConcurrentHashMap<Long, ClientRequest> inFlight = new ConcurrentHashMap<>();
    private long nextCookie = 1; // writer thread only
    /** Bytes read from the socket and not parsed yet, between position and limit (reader thread only). */
    private final ByteBuffer in = ByteBuffer.allocateDirect(IN_BUFFER_BYTES).flip();
    private volatile boolean dead;
    private volatile String deathReason;
    private final Thread reader;
    private final Thread writer;

    private ClientConnection(String name, Wire wire, NegotiatedExport export,
            BiConsumer<ClientConnection, String> onDead) {
        this.name = name;
        this.wire = wire;
        this.export = export;
        this.onDead = onDead;
        this.reader = Thread.ofPlatform().daemon().name("nbd-client-" + name + "-reader").unstarted(this::readLoop);
        this.writer = Thread.ofPlatform().daemon().name("nbd-client-" + name + "-writer").unstarted(this::writeLoop);
    }

    /** Connects and runs the handshake within {@code config.connectTimeout()}; the connection is live when it returns. */
    static ClientConnection open(NbdUri uri, String name, NbdClientConfig config, ScheduledExecutorService timer,
            BiConsumer<ClientConnection, String> onDead) throws IOException {
        SocketChannel ch = uri.isUnix() ? SocketChannel.open(StandardProtocolFamily.UNIX) : SocketChannel.open();
        // A blocking channel has no read timeout: the timer closes it if the handshake takes too long.
        ScheduledFuture<?> guard = timer.schedule(() -> {
            try {
                ch.close();
            } catch (IOException e) {
                LOG.log(Level.FINE, "closing a timed-out connect", e);
            }
        }, config.connectTimeout().toMillis(), TimeUnit.MILLISECONDS);
        NegotiatedExport export;
        Wire wire;
        try {
            if (uri.isUnix()) {
                ch.connect(UnixDomainSocketAddress.of(uri.socket()));
            } else {
                ch.connect(new InetSocketAddress(uri.host(), uri.port()));
                ch.setOption(StandardSocketOptions.TCP_NODELAY, true);
            }
            ClientHandshake handshake = new ClientHandshake(ch, uri.exportName(), uri.tls(),
                    uri.isUnix() ? null : uri.host(), uri.port());
            export = handshake.run();
            wire = handshake.wire();
        } catch (IOException | RuntimeException e) {
            guard.cancel(false);
            ch.close();
            if (guard.isDone() && !guard.isCancelled()) {
                throw new IOException("connect to " + uri.endpoint() + ": no handshake within " + config.connectTimeout(), e);
            }
            throw new IOException("connect to " + uri.endpoint() + ": " + e.getMessage(), e);
        }
        if (!guard.cancel(false)) {
            ch.close();
            throw new IOException("connect to " + uri.endpoint() + ": no handshake within " + config.connectTimeout());
        }
        ClientConnection c = new ClientConnection(name, wire, export, onDead);
        c.reader.start();
        c.writer.start();
        return c;
    }

    /** Queues {@code r} for sending; false (and {@code r} untouched) when this connection is dead. */
    boolean submit(ClientRequest r) {
        if (dead) {
            return false;
        }
        sendQueue.add(r);
        // happens-before: kill() sets dead, then drains the queue; if it drained before our add, it is
        // our job to take the request back (if the writer or drain has not taken it already).
        if (dead && sendQueue.remove(r)) {
            return false;
        }
        return true;
    }

    boolean isDead() {
        return dead;
    }

    String deathReason() {
        return deathReason;
    }

    /** Requests sent and not yet answered, plus queued ones. */
    int outstanding() {
        return inFlight.size() + sendQueue.size();
    }

    /** The oldest unanswered request, or null if none. */
    ClientRequest oldestInFlight() {
        ClientRequest oldest = null;
        for (ClientRequest r : inFlight.values()) {
            if (oldest == null || r.sentNanos - oldest.sentNanos < 0) {
                oldest = r;
            }
        }
        return oldest;
    }

    /** Drops the connection: everything queued or in flight fails with IOERR; {@code onDead} runs once. */
    void kill(String reason) {
        synchronized (this) {
            if (dead) {
                return;
            }
            deathReason = reason;
            dead = true;
        }
        try {
            wire.close();
        } catch (IOException e) {
            LOG.log(Level.FINE, "closing " + name, e);
        }
        writer.interrupt();
        failAll();
        onDead.accept(this, reason);
    }

    private void failAll() {
        List<ClientRequest> failed = new ArrayList<>();
        sendQueue.drainTo(failed);
        for (Long cookie : inFlight.keySet()) {
            ClientRequest r = inFlight.remove(cookie);
            if (r != null) {
                failed.add(r);
            }
        }
        for (ClientRequest r : failed) {
            if (r != DISCONNECT) {
                r.finish(BioStatus.IOERR);
            }
        }
    }

    /** Sends NBD_CMD_DISC after what is queued and waits up to {@code millis} for the server to close. */
    void disconnect(long millis) {
        if (!dead) {
            sendQueue.add(DISCONNECT);
            try {
                reader.join(millis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        kill("closed");
    }

    // ---------------------------------------------------------------- writer

    private void writeLoop() {
        ByteBuffer headers = ByteBuffer.allocateDirect(REQUEST_HEADER_BYTES * MAX_BATCH);
        List<ClientRequest> batch = new ArrayList<>(MAX_BATCH);
        List<ByteBuffer> parts = new ArrayList<>(MAX_BATCH * 2);
        try {
            while (!dead) {
                batch.clear();
                batch.add(sendQueue.take());
                sendQueue.drainTo(batch, MAX_BATCH - 1);
                parts.clear();
                long total = 0;
                boolean disconnect = false;
                for (int i = 0; i < batch.size(); i++) {
                    ClientRequest r = batch.get(i);
                    ByteBuffer header = headers.slice(i * REQUEST_HEADER_BYTES, REQUEST_HEADER_BYTES);
                    if (r == DISCONNECT) {
                        NbdWire.putRequest(header, 0, CMD_DISC, 0, 0, 0);
                        parts.add(header.flip());
                        total += REQUEST_HEADER_BYTES;
                        failFrom(batch, i + 1); // queued after the disconnect: never sent
                        disconnect = true;
                        break;
                    }
                    long cookie = nextCookie++;
                    r.cookie = cookie;
                    r.sentNanos = System.nanoTime();
                    inFlight.put(cookie, r);
                    // happens-before: kill() sets dead, then drains inFlight; if it drained before our put, the
                    // request is ours to fail, with the rest of the batch that was never put.
                    if (dead && inFlight.remove(cookie) != null) {
                        r.finish(BioStatus.IOERR);
                        failFrom(batch, i + 1);
                        return;
                    }
                    NbdWire.putRequest(header, r.commandFlags, r.type, cookie, r.offsetBytes, r.lengthBytes);
                    parts.add(header.flip());
                    total += REQUEST_HEADER_BYTES;
                    if (r.type == CMD_WRITE) {
                        r.bio.forRange(r.bioOffsetBytes, r.lengthBytes, (seg, segOff, len, bioOff) ->
                                parts.add(seg.asSlice(segOff, len).asByteBuffer()));
                        total += r.lengthBytes;
                    }
                }
                ByteBuffer[] bufs = parts.toArray(ByteBuffer[]::new);
                while (total > 0) {
                    total -= wire.write(bufs);
                }
                if (disconnect) {
                    wire.shutdownOutput();
                    return;
                }
            }
        } catch (InterruptedException e) {
            // kill() interrupts a writer that waits for work
        } catch (IOException | RuntimeException e) {
            kill("send failed: " + e);
        }
    }

    /** Fails the requests of {@code batch} from index {@code from} on: taken off the queue, never sent. */
    private static void failFrom(List<ClientRequest> batch, int from) {
        for (int i = from; i < batch.size(); i++) {
            if (batch.get(i) != DISCONNECT) {
                batch.get(i).finish(BioStatus.IOERR);
            }
        }
    }

    // ---------------------------------------------------------------- reader

    private void readLoop() {
        ByteBuffer head = ByteBuffer.allocate(CHUNK_HEADER_BYTES);
        try {
            while (true) {
                head.clear().limit(4);
                if (!readFully(head, true)) {
                    kill("the server closed the connection");
                    return;
                }
                int magic = head.getInt(0);
                if (magic == SIMPLE_REPLY_MAGIC) {
                    head.limit(SIMPLE_REPLY_BYTES);
                    readFully(head, false);
                    simpleReply(head.getInt(4), head.getLong(8));
                } else if (magic == STRUCTURED_REPLY_MAGIC && export.structuredReplies()) {
                    head.limit(CHUNK_HEADER_BYTES);
                    readFully(head, false);
                    chunk(head.getShort(4) & 0xffff, head.getShort(6) & 0xffff, head.getLong(8), head.getInt(16));
                } else {
                    throw new IOException("bad reply magic 0x" + Integer.toHexString(magic));
                }
            }
        } catch (IOException | RuntimeException e) {
            kill(dead ? deathReason : "receive failed: " + e.getMessage());
        }
    }

    private ClientRequest expect(long cookie) throws IOException {
        ClientRequest r = inFlight.get(cookie);
        if (r == null) {
            throw new IOException("reply for unknown cookie " + cookie);
        }
        return r;
    }

    private void simpleReply(int errno, long cookie) throws IOException {
        ClientRequest r = expect(cookie);
        if (errno == 0 && r.type == CMD_READ) {
            readIntoBio(r, r.bioOffsetBytes, r.lengthBytes);
        }
        complete(cookie, ClientRequest.statusOf(errno));
    }

    private void chunk(int flags, int type, long cookie, int length) throws IOException {
        ClientRequest r = expect(cookie);
        if (length < 0) {
            throw new IOException("chunk of " + Integer.toUnsignedString(length) + " bytes");
        }
        switch (type) {
            case REPLY_TYPE_NONE -> {
                if (length != 0) {
                    throw new IOException("NONE chunk with " + length + " bytes");
                }
            }
            case REPLY_TYPE_OFFSET_DATA -> {
                long offset = readLong();
                int dataBytes = length - 8;
                checkInside(r, offset, dataBytes);
                readIntoBio(r, r.bioOffsetBytes + (offset - r.offsetBytes), dataBytes);
            }
            case REPLY_TYPE_OFFSET_HOLE -> {
                ByteBuffer b = readBuffer(length);
                long offset = b.getLong();
                int holeBytes = b.getInt();
                checkInside(r, offset, holeBytes);
                zeroBio(r, r.bioOffsetBytes + (offset - r.offsetBytes), holeBytes);
            }
            case REPLY_TYPE_BLOCK_STATUS -> {
                ByteBuffer b = readBuffer(length);
                long id = Integer.toUnsignedLong(b.getInt());
                if (r.extents != null && id == export.baseAllocationId()) {
                    while (b.remaining() >= 8) {
                        r.addExtent(Integer.toUnsignedLong(b.getInt()), b.getInt());
                    }
                }
            }
            default -> {
                ByteBuffer b = readBuffer(length);
                if ((type & 0x8000) == 0) {
                    throw new IOException("unknown chunk type " + type);
                }
                int errno = b.remaining() >= 4 ? b.getInt() : EIO;
                if (r.errno == 0) {
                    r.errno = errno == 0 ? EIO : errno;
                }
            }
        }
        if ((flags & REPLY_FLAG_DONE) != 0) {
            complete(cookie, ClientRequest.statusOf(r.errno));
        }
    }

    private static void checkInside(ClientRequest r, long offset, int bytes) throws IOException {
        if (r.bio == null || bytes < 0 || offset < r.offsetBytes || offset + bytes > r.offsetBytes + r.lengthBytes) {
            throw new IOException("chunk [" + offset + ", +" + bytes + ") outside the request [" + r.offsetBytes + ", +"
                    + r.lengthBytes + ")");
        }
    }

    private void complete(long cookie, BioStatus status) {
        ClientRequest r = inFlight.remove(cookie);
        if (r != null) {
            r.finish(status);
        }
    }

    private void readIntoBio(ClientRequest r, long bioOffsetBytes, int bytes) throws IOException {
        r.bio.forRange(bioOffsetBytes, bytes, (seg, segOff, len, bioOff) ->
                readFully(seg.asSlice(segOff, len).asByteBuffer(), false));
    }

    private static void zeroBio(ClientRequest r, long bioOffsetBytes, int bytes) throws IOException {
        r.bio.forRange(bioOffsetBytes, bytes, (seg, segOff, len, bioOff) -> seg.asSlice(segOff, len).fill((byte) 0));
    }

    private long readLong() throws IOException {
        return readBuffer(8).getLong();
    }

    private ByteBuffer readBuffer(int bytes) throws IOException {
        if (bytes > 1 << 20) {
            throw new IOException("chunk payload of " + bytes + " bytes (expected: at most 1 MiB of metadata)");
        }
        ByteBuffer b = ByteBuffer.allocate(bytes);
        readFully(b, false);
        return b.flip();
    }

    /**
     * Fills {@code b} from the read buffer, refilling it from the socket, or (for a long payload once the
     * buffer is empty) from the socket directly; false only when {@code eofOk} and the stream ended before
     * any byte.
     */
    private boolean readFully(ByteBuffer b, boolean eofOk) throws IOException {
        boolean any = false;
        while (b.hasRemaining()) {
            if (in.hasRemaining()) {
                int n = Math.min(in.remaining(), b.remaining());
                b.put(in.slice(in.position(), n));
                in.position(in.position() + n);
                any = true;
                continue;
            }
            int n;
            if (b.remaining() >= DIRECT_READ_MIN_BYTES) {
                n = wire.read(b);
            } else {
                in.clear();
                n = wire.read(in);
                in.flip();
            }
            if (n < 0) {
                if (eofOk && !any) {
                    return false;
                }
                throw new EOFException("the server closed the connection in the middle of a reply");
            }
            any |= n > 0;
        }
        return true;
    }

    @Override
    public String toString() {
        return "nbd-client-" + name;
    }
}
