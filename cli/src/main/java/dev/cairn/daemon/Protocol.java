package dev.cairn.daemon;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import dev.cairn.daemon.proto.ErrorReply;
import java.util.Map;

/**
 * The framing of the control protocol between the CLI and the daemon: over the Unix socket
 * {@code STATE_DIR/control.sock}, one JSON object per line in each direction, one response per
 * request, in order; a connection may carry many requests.
 *
 * <pre>{@code
 * -> {"v":1,"verb":"create","args":{"name":"a","table":"0 8 zero\n"}}
 * <- {"ok":true,"result":{...}}
 * <- {"ok":false,"error":{"kind":"not-found","message":"device: b (expected: ...)","hint":"cairn ls lists ..."}}
 * }</pre>
 *
 * {@code args} and {@code result} are the records of the verb's {@link dev.cairn.daemon.proto.Verb}
 * (package {@code dev.cairn.daemon.proto}: one request and one reply record per verb); {@code error}
 * is an {@link ErrorReply}, its kinds the lower-case names of {@link ErrorKind}. {@code v} is
 * {@value #VERSION}; a daemon refuses a request of another version, saying which it speaks, and a
 * request without {@code v} is taken as this version. A line longer than {@value #MAX_LINE_BYTES} bytes or that
 * is not a JSON object ends the connection after a {@code usage} error.
 *
 * <p>Thread safety: stateless helpers.
 */
public final class Protocol {
    public static final int VERSION = 1;
    public static final int MAX_LINE_BYTES = 1 << 20;

    private Protocol() {}

    /** A request line's object; {@code args} is a map or a request record. */
    public static Map<String, Object> request(String verb, Object args) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("v", (long) VERSION);
        m.put("verb", verb);
        m.put("args", args);
        return m;
    }

    public static Map<String, Object> ok(Object result) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("ok", true);
        m.put("result", result);
        return m;
    }

    public static Map<String, Object> error(DaemonException e) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("ok", false);
        m.put("error", errorOf(e));
        return m;
    }

    /** The typed form of a failure, as it travels and as {@code --json} prints it. */
    public static ErrorReply errorOf(DaemonException e) {
        return new ErrorReply(e.kind().wireName(), e.getMessage(), e.hint());
    }

    /** Refuses a request line of another protocol version (null: this one). */
    static void checkVersion(Object v) {
        if (v != null && !Long.valueOf(VERSION).equals(v)) {
            throw new DaemonException(ErrorKind.USAGE, "protocol: " + v + " (expected: " + VERSION + "; this daemon speaks protocol "
                    + VERSION + ", the CLI " + v + ")", "restart the daemon with this cairn (stop it, then: bin/cairn serve)");
        }
    }

    /** Turns a response object into its result, or throws the error it carries. */
    public static Object resultOf(Map<String, Object> response) {
        if (Boolean.TRUE.equals(response.get("ok"))) {
            return response.get("result");
        }
        if (response.get("error") instanceof Map<?, ?> err) {
            ErrorReply e = JsonCodec.fromResult(err, ErrorReply.class);
            throw new DaemonException(ErrorKind.fromWire(e.kind()), e.message(), e.hint());
        }
        throw new DaemonException(ErrorKind.INTERNAL, "malformed response from the daemon: " + JsonCodec.write(response));
    }

    /** Writes one message as a line. */
    public static void writeLine(OutputStream out, Map<String, Object> message) throws IOException {
        byte[] bytes = (JsonCodec.write(message) + "\n").getBytes(StandardCharsets.UTF_8);
        out.write(bytes);
        out.flush();
    }

    /**
     * Reads one line (without the newline), or null at end of stream before any byte. A line over
     * {@link #MAX_LINE_BYTES} is an {@link IOException}: the peer is not speaking this protocol.
     */
    public static String readLine(InputStream in) throws IOException {
        java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream(256);
        while (true) {
            int b = in.read();
            if (b < 0) {
                if (buf.size() == 0) {
                    return null;
                }
                throw new IOException("connection closed in the middle of a message");
            }
            if (b == '\n') {
                return buf.toString(StandardCharsets.UTF_8);
            }
            if (buf.size() >= MAX_LINE_BYTES) {
                throw new IOException("message longer than " + MAX_LINE_BYTES + " bytes");
            }
            buf.write(b);
        }
    }
}
