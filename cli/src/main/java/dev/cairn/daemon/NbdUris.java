package dev.cairn.daemon;

import dev.cairn.nbd.server.ServerTls;
import dev.cairn.nbd.server.TlsMode;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The NBD URIs (and example client commands) the daemon prints for an export, following the server's TLS mode:
 * plaintext {@code nbd://HOST:PORT/EXPORT} and {@code nbd+unix:///EXPORT?socket=PATH} with TLS off; with TLS on
 * or required, libnbd's {@code nbds://} and {@code nbds+unix://} with the credentials a client on this machine
 * needs ({@code tls-certificates=DIR}, or {@code tls-psk-file=FILE} with the PSK user in the authority, as
 * libnbd 1.14 reads it: it ignores a {@code tls-username=} parameter). With {@code on} a plaintext client is
 * still served; the printed URI is the encrypted one.
 *
 * <p>Thread safety: immutable; the PSK user is read from the {@link ServerTls} at each call, so it follows a
 * reload.
 *
 * @param listenHost the TCP listen address ({@code 0.0.0.0} and {@code ::} print as {@code localhost})
 * @param tcpPort    the bound TCP port, or a value below 1 for none
 * @param socket     the Unix socket
 * @param tls        the server's TLS, or null for off
 */
record NbdUris(String listenHost, int tcpPort, Path socket, ServerTls tls) {

    private boolean secure() {
        return tls != null && tls.mode() != TlsMode.OFF;
    }

    /** The host as a URI and a client (qemu's {@code server.host}, a certificate's name) write it. */
    String host() {
        if (listenHost.equals("0.0.0.0") || listenHost.equals("::")) {
            return "localhost";
        }
        return listenHost;
    }

    private String uriHost() {
        String h = host();
        return h.contains(":") ? "[" + h + "]" : h;
    }

    String tcp(String export) {
        if (!secure()) {
            return "nbd://" + uriHost() + ":" + tcpPort + "/" + Uris.encodePath(export);
        }
        ServerTls.ClientHint hint = tls.clientHint();
        return "nbds://" + user(hint) + uriHost() + ":" + tcpPort + "/" + Uris.encodePath(export) + "?" + parameter(hint);
    }

    String unix(String export) {
        String socketParam = "socket=" + Uris.encodeQuery(socket.toString());
        if (!secure()) {
            return "nbd+unix:///" + Uris.encodePath(export) + "?" + socketParam;
        }
        ServerTls.ClientHint hint = tls.clientHint();
        return "nbds+unix://" + user(hint) + "/" + Uris.encodePath(export) + "?" + socketParam + "&" + parameter(hint);
    }

    private static String user(ServerTls.ClientHint hint) {
        return hint.user() == null ? "" : Uris.encodePath(hint.user()) + "@";
    }

    private static String parameter(ServerTls.ClientHint hint) {
        return hint.parameter() + "=" + Uris.encodeQuery(hint.path().toString());
    }

    /**
     * Shell commands that write and read {@code export} with qemu-io and describe it with nbdinfo, over TCP when
     * there is a TCP port, else over the Unix socket. qemu takes no {@code nbds} URI: under TLS it gets its
     * {@code --object tls-creds-*} and {@code --image-opts}; with PSK only when the key file is named
     * {@code keys.psk} (qemu reads {@code DIR/keys.psk} and no other name).
     */
    List<String> examples(String export) {
        boolean overTcp = tcpPort > 0;
        String uri = overTcp ? tcp(export) : unix(export);
        String io = "-c 'write -P 0xab 0 1M' -c 'read -P 0xab 0 1M'";
        List<String> out = new ArrayList<>();
        if (!secure()) {
            out.add("qemu-io -f raw " + io + " " + shellQuote(uri));
        } else {
            ServerTls.ClientHint hint = tls.clientHint();
            String object = null;
            if (hint.user() == null) {
                object = "tls-creds-x509,id=tls0,dir=" + qemuValue(hint.path().toString()) + ",endpoint=client";
            } else if (hint.path().getFileName().toString().equals("keys.psk")) {
                object = "tls-creds-psk,id=tls0,dir=" + qemuValue(hint.path().getParent().toString()) + ",username="
                        + qemuValue(hint.user()) + ",endpoint=client";
            }
            if (object != null) {
                String server = overTcp ? "server.type=inet,server.host=" + qemuValue(host()) + ",server.port=" + tcpPort
                        : "server.type=unix,server.path=" + qemuValue(socket.toString());
                // X.509: qemu checks the certificate against a host name, over a Unix socket one it must be
                // given: localhost, the name certificates for a local server carry.
                String hostname = hint.user() == null ? ",tls-hostname=" + qemuValue(overTcp ? host() : "localhost") : "";
                String opts = "driver=nbd," + server + (export.isEmpty() ? "" : ",export=" + qemuValue(export))
                        + ",tls-creds=tls0" + hostname;
                out.add("qemu-io --object " + shellQuote(object) + " --image-opts " + shellQuote(opts) + " " + io);
            }
        }
        out.add("nbdinfo " + shellQuote(uri));
        return out;
    }

    /** A value inside qemu's comma-separated options: a comma is written twice. */
    private static String qemuValue(String s) {
        return s.replace(",", ",,");
    }

    /**
     * {@code s} as one shell word: as is when only characters that are safe in practice (a {@code ?} would glob,
     * but a URI matches no file name), else single-quoted.
     */
    static String shellQuote(String s) {
        if (!s.isEmpty() && s.chars().allMatch(c -> Character.isLetterOrDigit(c) || "-_./:=,@%+?".indexOf(c) >= 0)) {
            return s;
        }
        return "'" + s.replace("'", "'\\''") + "'";
    }
}
