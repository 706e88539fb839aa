package dev.cairn.nbd.client;

import static dev.cairn.nbd.protocol.NbdConstants.*;

import dev.cairn.nbd.protocol.NbdConstants;
import dev.cairn.nbd.protocol.NbdWire;
import dev.cairn.nbd.server.TlsClientChannel;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;

/**
 * The client side of the fixed newstyle handshake: STARTTLS first when the URI asks for TLS (then every
 * other option over TLS; a server that does not do TLS is an error, never a plaintext fallback), NO_ZEROES
 * when offered, STRUCTURED_REPLY,
 * SET_META_CONTEXT {@code base:allocation} (when replies are structured), then OPT_GO asking for
 * NBD_INFO_BLOCK_SIZE. A server that is not fixed newstyle, refuses the export or breaks the protocol
 * gives an {@link IOException} that says which.
 *
 * <p>Thread safety: one instance per connection attempt, on one thread.
 */
final class ClientHandshake {
    private final SocketChannel channel;
    private final String exportName;
    private final TlsClientChannel.Credentials tls;
    private final String tlsHost;
    private final int tlsPort;
    private Wire wire;

    /** {@code tls} null for plaintext; {@code tlsHost} the TCP host to verify, null for a Unix socket. */
    ClientHandshake(SocketChannel channel, String exportName, TlsClientChannel.Credentials tls, String tlsHost,
            int tlsPort) {
        this.channel = channel;
        this.exportName = exportName;
        this.tls = tls;
        this.tlsHost = tlsHost;
        this.tlsPort = tlsPort;
        this.wire = new Wire.Plain(channel);
    }

    /** The stream the transmission phase uses: the socket, or TLS over it. */
    Wire wire() {
        return wire;
    }

    NegotiatedExport run() throws IOException {
        ByteBuffer hello = read(18);
        long passwd = hello.getLong();
        long magic = hello.getLong();
        int serverFlags = hello.getShort() & 0xffff;
        if (passwd != INIT_PASSWD) {
            throw new IOException("not an NBD server (first 8 bytes 0x" + Long.toHexString(passwd) + ")");
        }
        if (magic != IHAVEOPT || (serverFlags & FLAG_FIXED_NEWSTYLE) == 0) {
            throw new IOException("the server does not speak fixed newstyle NBD (magic 0x" + Long.toHexString(magic)
                    + ", flags " + serverFlags + ")");
        }
        int clientFlags = FLAG_C_FIXED_NEWSTYLE | (serverFlags & FLAG_NO_ZEROES);
        write(ByteBuffer.allocate(4).putInt(clientFlags).flip());
        if (tls != null) {
            startTls();
        }

        boolean structured = simpleOption(OPT_STRUCTURED_REPLY);
        long contextId = -1;
        if (structured) {
            contextId = setMetaContext();
        }
        return go(structured, contextId);
    }

    private void startTls() throws IOException {
        sendOption(OPT_STARTTLS, new byte[0]);
        Reply r = readReply(OPT_STARTTLS);
        if (r.type != REP_ACK) {
            String msg = StandardCharsets.UTF_8.decode(r.data).toString();
            throw new IOException("the server does not do TLS: STARTTLS answered with " + errorName(r.type)
                    + (msg.isEmpty() ? "" : " (" + msg + ")"));
        }
        wire = new Wire.Tls(TlsClientChannel.handshake(channel, tls, tlsHost, tlsPort));
    }

    /** Sends an option without data; true on ACK, false on an error reply (the server does not do it). */
    private boolean simpleOption(int option) throws IOException {
        sendOption(option, new byte[0]);
        Reply r = readReply(option);
        if (r.type == REP_ACK) {
            return true;
        }
        if ((r.type & REP_FLAG_ERROR) != 0) {
            return false;
        }
        throw new IOException("unexpected reply " + r.type + " to " + NbdConstants.optionName(option));
    }

    private long setMetaContext() throws IOException {
        byte[] name = NbdWire.utf8(exportName);
        byte[] query = META_BASE_ALLOCATION.getBytes(StandardCharsets.US_ASCII);
        ByteBuffer data = ByteBuffer.allocate(4 + name.length + 4 + 4 + query.length);
        data.putInt(name.length).put(name).putInt(1).putInt(query.length).put(query);
        sendOption(OPT_SET_META_CONTEXT, data.array());
        long id = -1;
        while (true) {
            Reply r = readReply(OPT_SET_META_CONTEXT);
            if (r.type == REP_META_CONTEXT) {
                if (r.data.remaining() < 4) {
                    throw new IOException("short META_CONTEXT reply");
                }
                int ctx = r.data.getInt();
                String got = StandardCharsets.UTF_8.decode(r.data).toString();
                if (got.equals(META_BASE_ALLOCATION)) {
                    id = Integer.toUnsignedLong(ctx);
                }
            } else if (r.type == REP_ACK) {
                return id;
            } else if ((r.type & REP_FLAG_ERROR) != 0) {
                return -1;
            } else {
                throw new IOException("unexpected reply " + r.type + " to SET_META_CONTEXT");
            }
        }
    }

    private NegotiatedExport go(boolean structured, long contextId) throws IOException {
        byte[] name = NbdWire.utf8(exportName);
        ByteBuffer data = ByteBuffer.allocate(4 + name.length + 2 + 2);
        data.putInt(name.length).put(name).putShort((short) 1).putShort((short) INFO_BLOCK_SIZE);
        sendOption(OPT_GO, data.array());
        long size = -1;
        int flags = 0;
        int min = 1;
        int pref = 4096;
        int max = NegotiatedExport.DEFAULT_MAX_BLOCK_BYTES;
        while (true) {
            Reply r = readReply(OPT_GO);
            if (r.type == REP_INFO) {
                if (r.data.remaining() < 2) {
                    throw new IOException("short INFO reply");
                }
                int info = r.data.getShort() & 0xffff;
                if (info == INFO_EXPORT && r.data.remaining() >= 10) {
                    size = r.data.getLong();
                    flags = r.data.getShort() & 0xffff;
                } else if (info == INFO_BLOCK_SIZE && r.data.remaining() >= 12) {
                    min = r.data.getInt();
                    pref = r.data.getInt();
                    max = r.data.getInt();
                }
            } else if (r.type == REP_ACK) {
                if (size < 0) {
                    throw new IOException("the server finished OPT_GO without NBD_INFO_EXPORT");
                }
                if (min < 1 || Integer.bitCount(min) != 1 || min > 65536 || Integer.bitCount(pref) != 1 || max <= 0) {
                    throw new IOException("block sizes " + min + "/" + pref + "/" + max + " (expected: NBD_INFO_BLOCK_SIZE rules)");
                }
                return new NegotiatedExport(size, flags, structured, contextId, min, pref, max);
            } else if ((r.type & REP_FLAG_ERROR) != 0) {
                String msg = StandardCharsets.UTF_8.decode(r.data).toString();
                throw new IOException("the server refused export \"" + exportName + "\": " + errorName(r.type)
                        + (msg.isEmpty() ? "" : " (" + msg + ")"));
            } else {
                throw new IOException("unexpected reply " + r.type + " to OPT_GO");
            }
        }
    }

    private static String errorName(int type) {
        return switch (type) {
            case REP_ERR_UNSUP -> "ERR_UNSUP";
            case REP_ERR_POLICY -> "ERR_POLICY";
            case REP_ERR_INVALID -> "ERR_INVALID";
            case REP_ERR_PLATFORM -> "ERR_PLATFORM";
            case REP_ERR_TLS_REQD -> "ERR_TLS_REQD (the server requires TLS: use nbds:// or nbds+unix://)";
            case REP_ERR_UNKNOWN -> "ERR_UNKNOWN (no such export)";
            case REP_ERR_SHUTDOWN -> "ERR_SHUTDOWN";
            case REP_ERR_BLOCK_SIZE_REQD -> "ERR_BLOCK_SIZE_REQD";
            case REP_ERR_TOO_BIG -> "ERR_TOO_BIG";
            default -> "error 0x" + Integer.toHexString(type);
        };
    }

    private record Reply(int type, ByteBuffer data) {}

    private void sendOption(int option, byte[] data) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(OPTION_HEADER_BYTES + data.length);
        NbdWire.putOption(b, option, data.length);
        b.put(data).flip();
        write(b);
    }

    private Reply readReply(int option) throws IOException {
        ByteBuffer h = read(OPTION_REPLY_HEADER_BYTES);
        long magic = h.getLong();
        int opt = h.getInt();
        int type = h.getInt();
        int length = h.getInt();
        if (magic != OPTION_REPLY_MAGIC || opt != option) {
            throw new IOException("bad option reply (magic 0x" + Long.toHexString(magic) + ", option " + opt
                    + ", expected " + NbdConstants.optionName(option) + ")");
        }
        if (length < 0 || length > 64 * 1024) {
            throw new IOException("option reply of " + Integer.toUnsignedString(length) + " bytes (expected: <= 64 KiB)");
        }
        return new Reply(type, read(length));
    }

    private ByteBuffer read(int bytes) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(bytes);
        while (b.hasRemaining()) {
            if (wire.read(b) < 0) {
                throw new EOFException("the server closed the connection during the handshake");
            }
        }
        return b.flip();
    }

    private void write(ByteBuffer b) throws IOException {
        ByteBuffer[] one = {b};
        while (b.hasRemaining()) {
            wire.write(one);
        }
    }
}
