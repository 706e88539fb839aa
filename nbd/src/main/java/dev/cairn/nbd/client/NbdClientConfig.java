package dev.cairn.nbd.client;

import java.time.Duration;
import java.util.Objects;

/**
 * How an {@link NbdClientDevice} talks to its server.
 *
 * @param connections      the most connections to open; more than one only when the server advertises
 *                         multi-conn ({@code NBD_FLAG_CAN_MULTI_CONN})
 * @param ioTimeout        a request with no reply for this long makes the client drop its connection
 *                         (failing what was in flight on it) and reconnect; a bio waiting this long for
 *                         any connection fails. {@link Duration#ZERO} waits forever.
 * @param connectTimeout   bound on one connect plus handshake
 * @param reconnectMin     first pause between reconnect attempts (doubled after each failure)
 * @param reconnectMax     longest pause between reconnect attempts
 */
public record NbdClientConfig(int connections, Duration ioTimeout, Duration connectTimeout, Duration reconnectMin,
        Duration reconnectMax) {
    public NbdClientConfig {
        if (connections < 1 || connections > 64) {
            throw new IllegalArgumentException("connections: " + connections + " (expected: 1 to 64)");
        }
        Objects.requireNonNull(ioTimeout, "ioTimeout");
        Objects.requireNonNull(connectTimeout, "connectTimeout");
        Objects.requireNonNull(reconnectMin, "reconnectMin");
        Objects.requireNonNull(reconnectMax, "reconnectMax");
        if (ioTimeout.isNegative() || connectTimeout.isNegative() || connectTimeout.isZero()
                || reconnectMin.isNegative() || reconnectMin.isZero() || reconnectMax.compareTo(reconnectMin) < 0) {
            throw new IllegalArgumentException("timeouts: io " + ioTimeout + ", connect " + connectTimeout + ", reconnect "
                    + reconnectMin + ".." + reconnectMax + " (expected: io >= 0, connect > 0, 0 < min <= max)");
        }
    }

    /** 4 connections, 30 s I/O timeout, 10 s connect timeout, reconnect every 100 ms doubling to 5 s. */
    public static NbdClientConfig defaults() {
        return new NbdClientConfig(4, Duration.ofSeconds(30), Duration.ofSeconds(10), Duration.ofMillis(100),
                Duration.ofSeconds(5));
    }

    public NbdClientConfig withConnections(int value) {
        return new NbdClientConfig(value, ioTimeout, connectTimeout, reconnectMin, reconnectMax);
    }

    public NbdClientConfig withIoTimeout(Duration value) {
        return new NbdClientConfig(connections, value, connectTimeout, reconnectMin, reconnectMax);
    }

    public NbdClientConfig withConnectTimeout(Duration value) {
        return new NbdClientConfig(connections, ioTimeout, value, reconnectMin, reconnectMax);
    }

    public NbdClientConfig withReconnect(Duration min, Duration max) {
        return new NbdClientConfig(connections, ioTimeout, connectTimeout, min, max);
    }
}
