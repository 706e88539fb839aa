package dev.cairn.daemon;

import dev.cairn.daemon.proto.DaemonProto;
import dev.cairn.nbd.server.ServerTls;
import dev.cairn.nbd.server.TlsStats;
import java.io.IOException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code tls-reload} verb ({@code cairn tls reload}): rereads the NBD server's certificates or PSK file, the
 * same {@link ServerTls#reload} as SIGHUP. New handshakes use the new files; open sessions keep theirs, so no
 * connection is dropped. Files that do not load (missing, bad PEM, a key that does not match its certificate, a
 * malformed PSK line) leave the old credentials in force and fail the verb with the reason.
 *
 * <p>Thread safety: stateless; {@link ServerTls#reload} may run concurrently with handshakes and other reloads.
 */
final class TlsReload {
    private static final Logger LOG = LoggerFactory.getLogger(TlsReload.class);

    private TlsReload() {}

    /** Reloads {@code tls} (null: TLS is off) and answers the mode, the source and the counters after it. */
    static DaemonProto.TlsReloaded reload(ServerTls tls) {
        if (tls == null) {
            throw new DaemonException(ErrorKind.FAILED,
                    "tls reload: TLS is off on this daemon (expected: a daemon started with --tls on or require)",
                    "restart it with --tls require and --tls-certificates DIR or --tls-psk FILE");
        }
        try {
            tls.reload();
        } catch (IOException | RuntimeException e) {
            LOG.warn("tls reload: TLS credentials not reloaded, the old ones stay in use: {}", e.getMessage());
            throw new DaemonException(ErrorKind.FAILED, "tls reload: " + e.getMessage()
                    + " (the old credentials stay in use; no connection was touched)",
                    "fix the files in " + tls.source() + " and run cairn tls reload again");
        }
        TlsStats stats = tls.stats();
        return new DaemonProto.TlsReloaded(tls.mode().toString(), tls.source(), stats.reloads(), stats.handshakesCompleted(),
                stats.handshakesFailed(), stats.handshakesTimedOut(), new java.util.TreeMap<>(stats.negotiated()));
    }
}
