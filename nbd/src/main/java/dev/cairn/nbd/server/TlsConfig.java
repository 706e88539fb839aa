package dev.cairn.nbd.server;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;

/**
 * What TLS a server offers and with which credentials; {@link ServerTls#load} reads the files.
 *
 * @param mode               off, on or require ({@link TlsMode})
 * @param credentials        X.509 certificates or pre-shared keys; null only with {@link TlsMode#OFF}
 * @param handshakeTimeout   how long a client has from the STARTTLS reply to the end of the TLS handshake
 *                           before it is dropped (a client that never finishes holds a connection slot)
 */
public record TlsConfig(TlsMode mode, Credentials credentials, Duration handshakeTimeout) {
    /** The default {@link #handshakeTimeout}: qemu-nbd's handshake limit. */
    public static final Duration DEFAULT_HANDSHAKE_TIMEOUT = Duration.ofSeconds(10);

    public TlsConfig {
        Objects.requireNonNull(mode, "mode");
        Objects.requireNonNull(handshakeTimeout, "handshakeTimeout");
        if (mode != TlsMode.OFF && credentials == null) {
            throw new IllegalArgumentException("credentials: null (expected: X.509 certificates or a PSK file with tls "
                    + mode + ")");
        }
        if (handshakeTimeout.isNegative() || handshakeTimeout.isZero()) {
            throw new IllegalArgumentException("handshakeTimeout: " + handshakeTimeout + " (expected: > 0)");
        }
    }

    public TlsConfig(TlsMode mode, Credentials credentials) {
        this(mode, credentials, DEFAULT_HANDSHAKE_TIMEOUT);
    }

    /** Where the server's identity comes from. */
    public sealed interface Credentials permits X509, Psk {}

    /**
     * X.509 through the JDK's TLS (1.3 and 1.2). {@code dir} holds nbdkit's file names: {@code ca-cert.pem},
     * {@code server-cert.pem}, {@code server-key.pem} and, optionally, {@code ca-crl.pem}.
     *
     * @param verifyPeer require a client certificate signed by {@code ca-cert.pem} (and not revoked by
     *                   {@code ca-crl.pem} when present)
     */
    public record X509(Path dir, boolean verifyPeer) implements Credentials {
        public X509 {
            Objects.requireNonNull(dir, "dir");
        }
    }

    /** Pre-shared keys in psktool's format ({@code username:hexkey} per line), through Bouncy Castle's TLS. */
    public record Psk(Path file) implements Credentials {
        public Psk {
            Objects.requireNonNull(file, "file");
        }
    }
}
