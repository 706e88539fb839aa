package dev.cairn.daemon;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The control protocol between the CLI and the daemon: over the Unix socket
 * {@code STATE_DIR/control.sock}, one JSON object per line in each direction, one response per
 * request, in order; a connection may carry many requests.
 *
 * <pre>{@code
 * -> {"v":1,"verb":"create","args":{"name":"a","table":"0 8 zero\n"}}
 * <- {"ok":true,"result":{...}}
 * <- {"ok":false,"error":{"kind":"not-found","message":"device: b (expected: ...)","hint":"cairn ls lists ..."}}
 * }</pre>
 *
 * {@code result} is whatever the verb returns (an object, a list or null). Error kinds are the
 * lower-case names of {@link ErrorKind}. A line longer than {@value #MAX_LINE_BYTES} bytes or that
 * is not a JSON object ends the connection after a {@code usage} error.
 *
 * <p>Thread safety: stateless helpers.
 */
public final class Protocol {
    public static final int VERSION = 1;
    public static final int MAX_LINE_BYTES = 1 << 20;

    private Protocol() {}

    public static Map<String, Object> request(String verb, Map<String, Object> args) {
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
        Map<String, Object> err = new LinkedHashMap<>();
        err.put("kind", e.kind().wireName());
        err.put("message", e.getMessage());
        err.put("hint", e.hint());
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("ok", false);
        m.put("error", err);
        return m;
    }

    /** Turns a response object into its result, or throws the error it carries. */
    public static Object resultOf(Map<String, Object> response) {
        if (Boolean.TRUE.equals(response.get("ok"))) {
            return response.get("result");
        }
        if (response.get("error") instanceof Map<?, ?> err) {
            throw new DaemonException(ErrorKind.fromWire(String.valueOf(err.get("kind"))),
                    String.valueOf(err.get("message")), err.get("hint") == null ? "" : String.valueOf(err.get("hint")));
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

    // ------------------------------------------------------------------ typed arguments

    /** Typed access to a request's {@code args}; every problem is a {@link ErrorKind#USAGE} error. */
    public record Args(Map<String, Object> map) {
        public Args {
            map = map == null ? Map.of() : map;
        }

        public String string(String key) {
            Object v = map.get(key);
            if (v instanceof String s) {
                return s;
            }
            throw usage(key, v, "a string");
        }

        public String optString(String key) {
            Object v = map.get(key);
            if (v == null || v instanceof String) {
                return (String) v;
            }
            throw usage(key, v, "a string");
        }

        public boolean bool(String key) {
            Object v = map.get(key);
            if (v == null) {
                return false;
            }
            if (v instanceof Boolean b) {
                return b;
            }
            throw usage(key, v, "true or false");
        }

        public long number(String key, long defaultValue) {
            Object v = map.get(key);
            if (v == null) {
                return defaultValue;
            }
            if (v instanceof Long l) {
                return l;
            }
            throw usage(key, v, "an integer");
        }

        public List<String> strings(String key) {
            Object v = map.get(key);
            if (v == null) {
                return List.of();
            }
            if (v instanceof List<?> l && l.stream().allMatch(o -> o instanceof String)) {
                return l.stream().map(String.class::cast).toList();
            }
            throw usage(key, v, "an array of strings");
        }

        private static DaemonException usage(String key, Object v, String expected) {
            return new DaemonException(ErrorKind.USAGE, "argument " + key + ": " + (v == null ? "missing" : JsonCodec.typeName(v))
                    + " (expected: " + expected + ")");
        }
    }
}
