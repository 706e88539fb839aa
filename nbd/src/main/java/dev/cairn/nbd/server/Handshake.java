package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.*;

import dev.cairn.nbd.protocol.BlockSizeConstraints;
import dev.cairn.nbd.protocol.NbdWire;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * The fixed newstyle handshake of one connection, up to the start of transmission.
 *
 * <h2>Rules</h2>
 * <ul>
 *   <li>Only fixed newstyle: a client without {@code C_FIXED_NEWSTYLE}, or with an unknown client flag, is
 *       dropped (the spec says a server MUST drop unknown flags; non-fixed clients cannot receive errors).</li>
 *   <li>Unknown options get {@code ERR_UNSUP} and haggling goes on.</li>
 *   <li>TLS ({@link TlsMode}): with TLS off STARTTLS gets {@code ERR_POLICY}. Otherwise STARTTLS is acked and
 *       the very next bytes are the TLS handshake ({@link StartTlsTransport#upgrade}, fed with whatever the
 *       client pipelined after the option); a failed handshake drops the connection, and everything agreed
 *       before it (structured replies, meta contexts) is forgotten, as the spec requires. With TLS required,
 *       every option but STARTTLS and ABORT gets {@code ERR_TLS_REQD} before the upgrade, so nothing is
 *       listed or described in plaintext, and EXPORT_NAME (which cannot carry an error) drops the client.
 *       A second STARTTLS gets {@code ERR_INVALID}.</li>
 *   <li>Floods are bounded: at most {@link #MAX_OPTIONS} options per connection; option data above
 *       {@link #MAX_OPTION_BYTES} is skipped (up to {@link #MAX_SKIP_BYTES}) and answered
 *       {@code ERR_TOO_BIG}; anything larger drops the connection. No allocation follows a client's length
 *       beyond those bounds.</li>
 *   <li>An empty export name means the server's default export.</li>
 * </ul>
 *
 * <p>Thread safety: confined to the connection's thread.
 */
final class Handshake {
    static final int MAX_OPTIONS = 64;
    static final int MAX_OPTION_BYTES = 16 * 1024;
    static final int MAX_SKIP_BYTES = 1 << 20;
    /** The id of base:allocation in SET_META_CONTEXT replies and BLOCK_STATUS chunks. */
    static final int BASE_ALLOCATION_ID = 1;

    /** What was agreed; the connection enters transmission with it. */
    record Result(NbdExport export, boolean structuredReplies, boolean baseAllocation) {}

    private final NbdServer server;
    private final NbdTransport transport;
    private final WireReader in;
    /** Told the export a client is about to get, before the reply that lets it start: see {@link #run}. */
    private final Consumer<NbdExport> chosen;
    private boolean noZeroes;
    private boolean structured;
    /** Export name the meta context selection was made for, or null when none is selected. */
    private String metaExport;
    private boolean baseAllocation;
    /** True once STARTTLS succeeded. */
    private boolean tlsActive;

    Handshake(NbdServer server, NbdTransport transport, WireReader in, Consumer<NbdExport> chosen) {
        this.server = server;
        this.transport = transport;
        this.in = in;
        this.chosen = chosen;
    }

    /**
     * Runs the handshake; null when the connection is to be closed (ABORT, error, bad client). The export is
     * handed to {@code chosen} before the reply that ends the handshake is sent, so by the time a client
     * can act on that reply (ask to remove the export, say) the connection already counts as its user.
     */
    Result run() throws IOException {
        ByteBuffer hello = ByteBuffer.allocate(18);
        hello.putLong(INIT_PASSWD).putLong(IHAVEOPT).putShort((short) (FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES)).flip();
        send(hello);
        if (!in.ensure(4)) {
            return null;
        }
        int clientFlags = in.getInt();
        if ((clientFlags & ~(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES)) != 0) {
            throw new ProtocolException("client flags: 0x" + Integer.toHexString(clientFlags)
                    + " (expected: a subset of C_FIXED_NEWSTYLE|C_NO_ZEROES)");
        }
        if ((clientFlags & FLAG_C_FIXED_NEWSTYLE) == 0) {
            throw new ProtocolException("client flags: 0x" + Integer.toHexString(clientFlags)
                    + " (expected: C_FIXED_NEWSTYLE; only fixed newstyle is served)");
        }
        noZeroes = (clientFlags & FLAG_C_NO_ZEROES) != 0;
        for (int count = 1; ; count++) {
            if (!in.ensure(OPTION_HEADER_BYTES)) {
                return null;
            }
            long magic = in.getLong();
            int option = in.getInt();
            long length = Integer.toUnsignedLong(in.getInt());
            if (magic != IHAVEOPT) {
                throw new ProtocolException("option magic: 0x" + Long.toHexString(magic) + " (expected: IHAVEOPT)");
            }
            if (count > MAX_OPTIONS) {
                skip(length);
                reply(option, REP_ERR_POLICY, "too many options: " + count + " (expected: <= " + MAX_OPTIONS + ")");
                return null;
            }
            if (length > MAX_OPTION_BYTES) {
                if (option == OPT_EXPORT_NAME || length > MAX_SKIP_BYTES) {
                    throw new ProtocolException(optionName(option) + " length: " + length + " (expected: <= "
                            + MAX_OPTION_BYTES + ")");
                }
                skip(length);
                if (tlsRequired(option)) {
                    replyTlsRequired(option);
                    continue;
                }
                reply(option, REP_ERR_TOO_BIG, optionName(option) + " length: " + length + " (expected: <= "
                        + MAX_OPTION_BYTES + ")");
                continue;
            }
            byte[] data = new byte[(int) length];
            in.readFully(ByteBuffer.wrap(data));
            Result result = option(option, ByteBuffer.wrap(data));
            if (result != null) {
                return result == ABORTED ? null : result;
            }
        }
    }

    private static final Result ABORTED = new Result(null, false, false);

    /** Handles one option; a non-null result ends the handshake. */
    private Result option(int option, ByteBuffer data) throws IOException {
        if (tlsRequired(option)) {
            if (option == OPT_EXPORT_NAME) {
                throw new ProtocolException("EXPORT_NAME before STARTTLS (TLS is required and EXPORT_NAME has no"
                        + " error reply)");
            }
            replyTlsRequired(option);
            return null;
        }
        switch (option) {
            case OPT_EXPORT_NAME -> {
                return exportName(data);
            }
            case OPT_ABORT -> {
                ack(option);
                return ABORTED;
            }
            case OPT_LIST -> list(data);
            case OPT_STARTTLS -> startTls(data);
            case OPT_INFO, OPT_GO -> {
                return infoOrGo(option, data);
            }
            case OPT_STRUCTURED_REPLY -> {
                if (data.hasRemaining()) {
                    reply(option, REP_ERR_INVALID, "STRUCTURED_REPLY takes no data");
                } else {
                    structured = true;
                    ack(option);
                }
            }
            case OPT_LIST_META_CONTEXT, OPT_SET_META_CONTEXT -> metaContext(option, data);
            default -> reply(option, REP_ERR_UNSUP, "option " + optionName(option) + " is not supported");
        }
        return null;
    }

    /** With TLS required and not yet active, every option but STARTTLS and ABORT is refused. */
    private boolean tlsRequired(int option) {
        return !tlsActive && option != OPT_STARTTLS && option != OPT_ABORT
                && transport instanceof StartTlsTransport t && t.mode() == TlsMode.REQUIRE;
    }

    private void replyTlsRequired(int option) throws IOException {
        reply(option, REP_ERR_TLS_REQD, "TLS required: option " + optionName(option)
                + " is not permitted before STARTTLS");
    }

    private void startTls(ByteBuffer data) throws IOException {
        if (!(transport instanceof StartTlsTransport upgradable) || upgradable.mode() == TlsMode.OFF) {
            reply(OPT_STARTTLS, REP_ERR_POLICY, "TLS is off on this server");
            return;
        }
        if (data.hasRemaining()) {
            reply(OPT_STARTTLS, REP_ERR_INVALID, "STARTTLS takes no data");
            return;
        }
        if (tlsActive) {
            reply(OPT_STARTTLS, REP_ERR_INVALID, "TLS is already active");
            return;
        }
        ack(OPT_STARTTLS);
        upgradable.upgrade(in.takeBuffered());
        tlsActive = true;
        // The spec: after STARTTLS the server forgets what was negotiated in plaintext.
        structured = false;
        metaExport = null;
        baseAllocation = false;
    }

    private Result exportName(ByteBuffer data) throws IOException {
        String name = string(data, data.remaining());
        NbdExport export = name == null ? null : server.findExport(name);
        if (export == null) {
            // EXPORT_NAME has no error reply: the spec's only answer is to disconnect.
            throw new ProtocolException("export: '" + name + "' (expected: one of " + server.exportNames() + ")");
        }
        ByteBuffer b = ByteBuffer.allocate(10 + (noZeroes ? 0 : EXPORT_NAME_ZERO_PAD));
        b.putLong(export.sizeBytes()).putShort((short) export.transmissionFlags(structured));
        b.position(b.limit()).flip();
        chosen.accept(export);
        send(b);
        return new Result(export, structured, baseAllocation && name.equals(metaExport));
    }

    private void list(ByteBuffer data) throws IOException {
        if (data.hasRemaining()) {
            reply(OPT_LIST, REP_ERR_INVALID, "LIST takes no data");
            return;
        }
        for (NbdExport e : server.exports()) {
            byte[] name = NbdWire.utf8(e.name());
            byte[] description = NbdWire.utf8(e.description());
            ByteBuffer b = ByteBuffer.allocate(4 + name.length + description.length);
            b.putInt(name.length).put(name).put(description).flip();
            reply(OPT_LIST, REP_SERVER, b);
        }
        ack(OPT_LIST);
    }

    private Result infoOrGo(int option, ByteBuffer data) throws IOException {
        if (data.remaining() < 6) {
            reply(option, REP_ERR_INVALID, optionName(option) + " data: " + data.remaining() + " bytes (expected: >= 6)");
            return null;
        }
        long nameLength = Integer.toUnsignedLong(data.getInt());
        if (nameLength > data.remaining() - 2) {
            reply(option, REP_ERR_INVALID, "name length: " + nameLength + " (expected: <= " + (data.remaining() - 2) + ")");
            return null;
        }
        String name = string(data, (int) nameLength);
        int requests = Short.toUnsignedInt(data.getShort());
        if (data.remaining() != requests * 2) {
            reply(option, REP_ERR_INVALID, "information requests: " + requests + " with " + data.remaining()
                    + " bytes (expected: 2 bytes each)");
            return null;
        }
        if (name == null) {
            reply(option, REP_ERR_INVALID, "export name is not valid UTF-8 or contains NUL");
            return null;
        }
        boolean wantName = false;
        boolean wantDescription = false;
        for (int i = 0; i < requests; i++) {
            int type = Short.toUnsignedInt(data.getShort());
            wantName |= type == INFO_NAME;
            wantDescription |= type == INFO_DESCRIPTION;
        }
        NbdExport export = server.findExport(name);
        if (export == null) {
            reply(option, REP_ERR_UNKNOWN, "export '" + name + "' not present (exports: " + server.exportNames() + ")");
            return null;
        }
        ByteBuffer info = ByteBuffer.allocate(12);
        info.putShort((short) INFO_EXPORT).putLong(export.sizeBytes())
                .putShort((short) export.transmissionFlags(structured)).flip();
        reply(option, REP_INFO, info);
        if (wantName) {
            byte[] n = NbdWire.utf8(export.name());
            reply(option, REP_INFO, ByteBuffer.allocate(2 + n.length).putShort((short) INFO_NAME).put(n).flip());
        }
        if (wantDescription && !export.description().isEmpty()) {
            byte[] d = NbdWire.utf8(export.description());
            reply(option, REP_INFO, ByteBuffer.allocate(2 + d.length).putShort((short) INFO_DESCRIPTION).put(d).flip());
        }
        // Sent even when not asked for (the spec allows it): clients that know it can use it.
        BlockSizeConstraints sizes = export.blockSizes(server.maxPayloadBytes());
        reply(option, REP_INFO, ByteBuffer.allocate(14).putShort((short) INFO_BLOCK_SIZE).putInt(sizes.minimumBytes())
                .putInt(sizes.preferredBytes()).putInt(sizes.maximumBytes()).flip());
        if (option == OPT_INFO) {
            ack(option);
            return null;
        }
        chosen.accept(export);
        ack(option);
        // A selection made for another export does not carry over (spec: contexts are per export name).
        return new Result(export, structured, baseAllocation && name.equals(metaExport));
    }

    private void metaContext(int option, ByteBuffer data) throws IOException {
        boolean set = option == OPT_SET_META_CONTEXT;
        if (set && !structured) {
            reply(option, REP_ERR_INVALID, "SET_META_CONTEXT needs STRUCTURED_REPLY first");
            return;
        }
        if (data.remaining() < 8) {
            reply(option, REP_ERR_INVALID, optionName(option) + " data: " + data.remaining() + " bytes (expected: >= 8)");
            return;
        }
        long nameLength = Integer.toUnsignedLong(data.getInt());
        if (nameLength > data.remaining() - 4) {
            reply(option, REP_ERR_INVALID, "name length: " + nameLength + " (expected: <= " + (data.remaining() - 4) + ")");
            return;
        }
        String name = string(data, (int) nameLength);
        long queryCount = Integer.toUnsignedLong(data.getInt());
        List<String> queries = new ArrayList<>();
        for (long i = 0; i < queryCount; i++) {
            if (data.remaining() < 4) {
                reply(option, REP_ERR_INVALID, "query " + i + " of " + queryCount + ": data ends (expected: u32 length)");
                return;
            }
            long length = Integer.toUnsignedLong(data.getInt());
            if (length > data.remaining()) {
                reply(option, REP_ERR_INVALID, "query length: " + length + " (expected: <= " + data.remaining() + ")");
                return;
            }
            String q = string(data, (int) length);
            if (q == null) {
                reply(option, REP_ERR_INVALID, "query " + i + " is not valid UTF-8 or contains NUL");
                return;
            }
            queries.add(q);
        }
        if (data.hasRemaining()) {
            reply(option, REP_ERR_INVALID, data.remaining() + " bytes after the last query (expected: none)");
            return;
        }
        if (name == null || server.findExport(name) == null) {
            reply(option, REP_ERR_UNKNOWN, "export '" + name + "' not present");
            return;
        }
        boolean match;
        if (set) {
            match = queries.contains(META_BASE_ALLOCATION);
        } else {
            match = queries.isEmpty() || queries.contains(META_BASE_ALLOCATION) || queries.contains("base:");
        }
        if (match) {
            byte[] ctx = NbdWire.utf8(META_BASE_ALLOCATION);
            ByteBuffer b = ByteBuffer.allocate(4 + ctx.length);
            b.putInt(set ? BASE_ALLOCATION_ID : 0).put(ctx).flip();
            reply(option, REP_META_CONTEXT, b);
        }
        if (set) {
            // SET replaces the previous selection, even with nothing selected.
            baseAllocation = match;
            metaExport = name;
        }
        ack(option);
    }

    /** Decodes {@code length} bytes as a protocol string; null when invalid UTF-8, NUL or too long. */
    private static String string(ByteBuffer data, int length) {
        ByteBuffer slice = data.slice(data.position(), length);
        data.position(data.position() + length);
        if (length > MAX_STRING_BYTES) {
            return null;
        }
        try {
            String s = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(slice).toString();
            return s.indexOf('\0') >= 0 ? null : s;
        } catch (CharacterCodingException e) {
            return null;
        }
    }

    private void skip(long length) throws IOException {
        in.skip(length);
    }

    private void ack(int option) throws IOException {
        reply(option, REP_ACK, ByteBuffer.allocate(0));
    }

    private void reply(int option, int type, String message) throws IOException {
        reply(option, type, ByteBuffer.wrap(NbdWire.utf8(message)));
    }

    private void reply(int option, int type, ByteBuffer payload) throws IOException {
        ByteBuffer header = ByteBuffer.allocate(OPTION_REPLY_HEADER_BYTES);
        NbdWire.putOptionReply(header, option, type, payload.remaining());
        send(header.flip(), payload);
    }

    private void send(ByteBuffer... buffers) throws IOException {
        int from = 0;
        while (from < buffers.length) {
            transport.write(buffers, from, buffers.length - from);
            while (from < buffers.length && !buffers[from].hasRemaining()) {
                from++;
            }
        }
    }

    /** A violation after which the stream cannot be trusted: the connection is dropped. */
    static final class ProtocolException extends IOException {
        private static final long serialVersionUID = 1L;

        ProtocolException(String message) {
            super(message);
        }
    }
}
