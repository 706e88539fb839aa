package dev.cairn.nbd.server;

import java.util.Map;

/**
 * Counters of a {@link ServerTls}, for monitoring and tests.
 *
 * @param handshakesCompleted TLS sessions established
 * @param handshakesFailed    handshakes that ended with an error (bad record, wrong key, unknown CA, EOF)
 * @param handshakesTimedOut  clients dropped because their handshake did not finish in time
 * @param reloads             successful credential reloads
 * @param negotiated          sessions per protocol and cipher suite, e.g. {@code "TLSv1.3 TLS_AES_256_GCM_SHA384"}
 */
public record TlsStats(long handshakesCompleted, long handshakesFailed, long handshakesTimedOut, long reloads,
        Map<String, Long> negotiated) {
    public TlsStats {
        negotiated = Map.copyOf(negotiated);
    }
}
