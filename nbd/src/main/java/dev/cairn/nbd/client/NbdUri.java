package dev.cairn.nbd.client;

import dev.cairn.nbd.server.TlsClientChannel;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * A parsed NBD URI (the NBD project's {@code doc/uri.md}): {@code nbd://HOST[:PORT]/EXPORT} over TCP
 * (port 10809 by default) or {@code nbd+unix:///EXPORT?socket=PATH} over a Unix socket. The export
 * name is the path without its leading slash, percent-decoded; an empty path is the default export.
 * Two query parameters are Cairn's own (other NBD clients ignore them): {@code connections=N} (the
 * most connections to open when the server allows multi-conn, default {@link NbdClientConfig#defaults})
 * and {@code timeout=SECONDS} (the I/O timeout; 0 waits forever).
 *
 * <p>{@code nbds://} and {@code nbds+unix://} require TLS (STARTTLS, then the rest of the handshake and all
 * transmission encrypted; a server without TLS is an error). Their credentials are libnbd's query parameters:
 * {@code tls-certificates=DIR} (X.509: {@code DIR/ca-cert.pem} checks the server, {@code DIR/client-cert.pem}
 * and {@code DIR/client-key.pem} are the client's own when present) or {@code tls-psk-file=FILE} (a psktool
 * file) with {@code tls-username=USER} or libnbd's {@code nbds+unix://USER@/...} (default: the user running
 * Cairn, as libnbd's). Unlike libnbd, one of
 * the two must be given: there is no default certificate directory.
 *
 * @param uri          the URI as written
 * @param host         TCP host, or null for a Unix socket
 * @param port         TCP port, or 0 for a Unix socket
 * @param socket       Unix socket path, or null for TCP
 * @param exportName   the export to open
 * @param config       the client configuration, with the URI's parameters applied to the defaults
 * @param tls          the TLS credentials of {@code nbds} URIs, or null for plaintext
 */
public record NbdUri(String uri, String host, int port, Path socket, String exportName, NbdClientConfig config,
        TlsClientChannel.Credentials tls) {
    public static final int DEFAULT_PORT = 10809;

    public NbdUri {
        Objects.requireNonNull(uri, "uri");
        Objects.requireNonNull(exportName, "exportName");
        Objects.requireNonNull(config, "config");
    }

    /** True for {@code nbd+unix:}. */
    public boolean isUnix() {
        return socket != null;
    }

    /** Parses {@code uri} with {@code defaults} for what the URI does not set. */
    public static NbdUri parse(String uri, NbdClientConfig defaults) throws IllegalArgumentException {
        String rest;
        boolean unix;
        boolean secure;
        if (uri.startsWith("nbd://") || uri.startsWith("nbds://")) {
            secure = uri.startsWith("nbds://");
            rest = uri.substring(uri.indexOf("://") + 3);
            unix = false;
        } else if (uri.startsWith("nbd+unix://") || uri.startsWith("nbds+unix://")) {
            secure = uri.startsWith("nbds+unix://");
            rest = uri.substring(uri.indexOf("://") + 3);
            unix = true;
        } else {
            throw bad(uri, "nbd[s]://HOST[:PORT]/EXPORT or nbd[s]+unix:///EXPORT?socket=PATH");
        }
        String query = "";
        int q = rest.indexOf('?');
        if (q >= 0) {
            query = rest.substring(q + 1);
            rest = rest.substring(0, q);
        }
        if (rest.indexOf('#') >= 0) {
            throw bad(uri, "no fragment");
        }
        int slash = rest.indexOf('/');
        String authority = slash < 0 ? rest : rest.substring(0, slash);
        // libnbd's TLS-PSK user name may also come as the URI's user: nbds+unix://alice@/disk?...
        String userInfo = null;
        int at = authority.lastIndexOf('@');
        if (at >= 0) {
            userInfo = decode(uri, authority.substring(0, at));
            authority = authority.substring(at + 1);
        }
        String path = slash < 0 ? "" : rest.substring(slash + 1);
        String exportName = decode(uri, path);
        Map<String, String> params = new LinkedHashMap<>();
        if (!query.isEmpty()) {
            for (String kv : query.split("&")) {
                int eq = kv.indexOf('=');
                if (eq <= 0) {
                    throw bad(uri, "query parameters as NAME=VALUE");
                }
                params.put(kv.substring(0, eq), decode(uri, kv.substring(eq + 1)));
            }
        }
        NbdClientConfig config = defaults;
        String socketParam = params.remove("socket");
        String connections = params.remove("connections");
        String timeout = params.remove("timeout");
        String certificates = params.remove("tls-certificates");
        String pskFile = params.remove("tls-psk-file");
        String user = params.remove("tls-username");
        if (userInfo != null) {
            if (user != null && !user.equals(userInfo)) {
                throw bad(uri, "one user name: USER@ or tls-username=USER");
            }
            user = userInfo;
        }
        if (!params.isEmpty()) {
            throw bad(uri, "only the query parameters socket, connections, timeout, tls-certificates, tls-psk-file and "
                    + "tls-username; not " + params.keySet());
        }
        TlsClientChannel.Credentials tls = null;
        if (!secure) {
            if (certificates != null || pskFile != null || user != null) {
                throw bad(uri, "tls-* parameters and USER@ only with nbds:// or nbds+unix://");
            }
        } else if (certificates != null && pskFile != null) {
            throw bad(uri, "tls-certificates=DIR or tls-psk-file=FILE, not both");
        } else if (certificates != null) {
            if (certificates.isEmpty()) {
                throw bad(uri, "tls-certificates=DIR with a directory");
            }
            if (user != null) {
                throw bad(uri, "a user name (USER@ or tls-username=) only with tls-psk-file=");
            }
            tls = new TlsClientChannel.X509(Path.of(certificates));
        } else if (pskFile != null) {
            if (pskFile.isEmpty()) {
                throw bad(uri, "tls-psk-file=FILE with a file");
            }
            String who = user != null ? user : System.getProperty("user.name");
            if (who == null || who.isEmpty()) {
                throw bad(uri, "tls-username=USER (the user running Cairn has no name)");
            }
            tls = new TlsClientChannel.Psk(Path.of(pskFile), who);
        } else {
            throw bad(uri, "nbds URIs with tls-certificates=DIR or tls-psk-file=FILE");
        }
        if (connections != null) {
            int n = parseInt(uri, connections, "connections=N with N from 1 to 64");
            if (n < 1 || n > 64) {
                throw bad(uri, "connections=N with N from 1 to 64");
            }
            config = config.withConnections(n);
        }
        if (timeout != null) {
            int s = parseInt(uri, timeout, "timeout=SECONDS with SECONDS >= 0");
            if (s < 0) {
                throw bad(uri, "timeout=SECONDS with SECONDS >= 0");
            }
            config = config.withIoTimeout(Duration.ofSeconds(s));
        }
        if (unix) {
            if (!authority.isEmpty()) {
                throw bad(uri, "nbd+unix:///EXPORT?socket=PATH with no host");
            }
            if (socketParam == null || socketParam.isEmpty()) {
                throw bad(uri, "nbd+unix:///EXPORT?socket=PATH with a socket path");
            }
            return new NbdUri(uri, null, 0, Path.of(socketParam), exportName, config, tls);
        }
        if (socketParam != null) {
            throw bad(uri, "socket= only with nbd+unix:// or nbds+unix://");
        }
        String host;
        int port = DEFAULT_PORT;
        if (authority.startsWith("[")) {
            int close = authority.indexOf(']');
            if (close < 0) {
                throw bad(uri, "an IPv6 host in brackets");
            }
            host = authority.substring(1, close);
            String after = authority.substring(close + 1);
            if (!after.isEmpty()) {
                if (!after.startsWith(":")) {
                    throw bad(uri, "[IPV6]:PORT");
                }
                port = parsePort(uri, after.substring(1));
            }
        } else {
            int colon = authority.lastIndexOf(':');
            host = colon < 0 ? authority : authority.substring(0, colon);
            if (colon >= 0) {
                port = parsePort(uri, authority.substring(colon + 1));
            }
        }
        if (host.isEmpty()) {
            throw bad(uri, "nbd://HOST[:PORT]/EXPORT with a host");
        }
        return new NbdUri(uri, host, port, null, exportName, config, tls);
    }

    /** Where to connect, for messages: {@code host:port} or the socket path. */
    public String endpoint() {
        return isUnix() ? socket.toString() : (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
    }

    private static int parsePort(String uri, String s) {
        int p = parseInt(uri, s, "a port from 1 to 65535");
        if (p < 1 || p > 65535) {
            throw bad(uri, "a port from 1 to 65535");
        }
        return p;
    }

    private static int parseInt(String uri, String s, String expected) {
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            throw bad(uri, expected);
        }
    }

    private static String decode(String uri, String s) {
        try {
            return URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            throw bad(uri, "valid percent-encoding");
        }
    }

    private static IllegalArgumentException bad(String uri, String expected) {
        return new IllegalArgumentException(uri + " (expected: " + expected + ")");
    }

    @Override
    public String toString() {
        return uri;
    }
}
