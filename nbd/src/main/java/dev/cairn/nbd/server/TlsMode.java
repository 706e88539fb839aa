package dev.cairn.nbd.server;

import java.util.Locale;

/**
 * Whether a server offers TLS, with nbdkit's meanings ({@code --tls=off|on|require}); the NBD spec calls
 * them NOTLS, SELECTIVETLS with every export available both ways, and FORCEDTLS.
 */
public enum TlsMode {
    /** STARTTLS is refused with {@code NBD_REP_ERR_POLICY}; everything is plaintext. */
    OFF,
    /** A client may upgrade with STARTTLS or stay in plaintext; every export is served either way. */
    ON,
    /**
     * Every option but STARTTLS and ABORT gets {@code NBD_REP_ERR_TLS_REQD} until the upgrade, so nothing is
     * listed, described or served in plaintext; {@code EXPORT_NAME} (which has no error reply) drops the client.
     */
    REQUIRE;

    /** {@code off}, {@code on} or {@code require}, in any case. */
    public static TlsMode parse(String value) {
        return switch (value.toLowerCase(Locale.ROOT)) {
            case "off" -> OFF;
            case "on" -> ON;
            case "require" -> REQUIRE;
            default -> throw new IllegalArgumentException("tls mode: " + value + " (expected: off, on or require)");
        };
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
