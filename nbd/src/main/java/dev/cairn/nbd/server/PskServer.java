package dev.cairn.nbd.server;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Vector;
import org.bouncycastle.tls.AlertDescription;
import org.bouncycastle.tls.AlertLevel;
import org.bouncycastle.tls.BasicTlsPSKExternal;
import org.bouncycastle.tls.CipherSuite;
import org.bouncycastle.tls.PRFAlgorithm;
import org.bouncycastle.tls.PSKTlsServer;
import org.bouncycastle.tls.ProtocolVersion;
import org.bouncycastle.tls.PskIdentity;
import org.bouncycastle.tls.TlsPSKExternal;
import org.bouncycastle.tls.TlsPSKIdentityManager;
import org.bouncycastle.tls.TlsUtils;
import org.bouncycastle.tls.crypto.TlsCrypto;

/**
 * Bouncy Castle's server side of one PSK connection: TLS 1.3 with an external PSK (what GnuTLS clients, qemu and
 * libnbd, try first) and TLS 1.2 PSK suites for older peers. The identity is the psktool user name.
 *
 * <p><b>Suites.</b> Bouncy Castle picks in its own order ({@link #preferLocalCipherSuites}), AES-128-GCM first:
 * GnuTLS lists ChaCha20 before it, and with AES-NI AES-GCM encrypts several times faster (see
 * ../shared/facts/nbd-tls.md, §8). A psktool key is bound to SHA-256 in TLS 1.3, so only the SHA-256 suites
 * are offered there. The TLS 1.2 list is what GnuTLS's {@code NORMAL:+ECDHE-PSK:+DHE-PSK:+PSK} accepts; RFC 8442's
 * ECDHE_PSK GCM suites and the CBC_SHA256 ones are left out because GnuTLS has neither.
 *
 * <p>Thread safety: one instance per connection, used by the thread that runs the handshake.
 */
final class PskServer extends PSKTlsServer {
    private static final System.Logger LOG = System.getLogger("dev.cairn.nbd.server");
    private static final Map<Integer, String> NAMES = Map.of(
            CipherSuite.TLS_AES_128_GCM_SHA256, "TLS_AES_128_GCM_SHA256",
            CipherSuite.TLS_CHACHA20_POLY1305_SHA256, "TLS_CHACHA20_POLY1305_SHA256",
            CipherSuite.TLS_DHE_PSK_WITH_AES_128_GCM_SHA256, "TLS_DHE_PSK_WITH_AES_128_GCM_SHA256",
            CipherSuite.TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256, "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256",
            CipherSuite.TLS_DHE_PSK_WITH_AES_256_GCM_SHA384, "TLS_DHE_PSK_WITH_AES_256_GCM_SHA384",
            CipherSuite.TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256, "TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256",
            CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256, "TLS_PSK_WITH_AES_128_GCM_SHA256",
            CipherSuite.TLS_PSK_WITH_AES_256_GCM_SHA384, "TLS_PSK_WITH_AES_256_GCM_SHA384",
            CipherSuite.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256, "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256");
    /** In preference order; {@link PskClient} offers the same. */
    static final int[] SUITES = {
        CipherSuite.TLS_AES_128_GCM_SHA256,
        CipherSuite.TLS_CHACHA20_POLY1305_SHA256,
        CipherSuite.TLS_DHE_PSK_WITH_AES_128_GCM_SHA256,
        CipherSuite.TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256,
        CipherSuite.TLS_DHE_PSK_WITH_AES_256_GCM_SHA384,
        CipherSuite.TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256,
        CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256,
        CipherSuite.TLS_PSK_WITH_AES_256_GCM_SHA384,
        CipherSuite.TLS_PSK_WITH_CHACHA20_POLY1305_SHA256,
    };

    private final PskKeys keys;
    private final String peer;
    private String user;

    PskServer(TlsCrypto crypto, PskKeys keys, String peer) {
        super(crypto, new IdentityManager(keys));
        this.keys = keys;
        this.peer = peer;
    }

    @Override
    protected ProtocolVersion[] getSupportedVersions() {
        return ProtocolVersion.TLSv13.downTo(ProtocolVersion.TLSv12);
    }

    @Override
    protected int[] getSupportedCipherSuites() {
        return TlsUtils.getSupportedCipherSuites(getCrypto(), SUITES);
    }

    @Override
    protected boolean preferLocalCipherSuites() {
        return true;
    }

    /** TLS 1.3: the first offered identity that is in the key file; null lets the handshake fail. */
    @Override
    public TlsPSKExternal getExternalPSK(@SuppressWarnings("rawtypes") Vector identities) {
        for (Object o : identities) {
            byte[] identity = ((PskIdentity) o).getIdentity();
            String name = new String(identity, StandardCharsets.UTF_8);
            byte[] key = keys.key(name);
            if (key != null) {
                user = name;
                return new BasicTlsPSKExternal(identity, getCrypto().createSecret(key), PRFAlgorithm.tls13_hkdf_sha256);
            }
            LOG.log(Level.INFO, () -> peer + ": TLS-PSK identity '" + name + "' is not in the key file");
        }
        return null;
    }

    @Override
    public void notifyAlertRaised(short alertLevel, short alertDescription, String message, Throwable cause) {
        if (alertLevel == AlertLevel.fatal) {
            LOG.log(Level.DEBUG, () -> peer + ": TLS alert sent: " + AlertDescription.getText(alertDescription)
                    + (message == null ? "" : " (" + message + ")") + (cause == null ? "" : ": " + cause));
        }
    }

    @Override
    public void notifyAlertReceived(short alertLevel, short alertDescription) {
        LOG.log(Level.DEBUG, () -> peer + ": TLS alert received: " + AlertDescription.getText(alertDescription));
    }

    /** The user name the client authenticated as (null before the handshake or with TLS 1.2). */
    String user() {
        return user;
    }

    String negotiated() {
        return describe(context);
    }

    /** {@code TLSv1.3 TLS_AES_128_GCM_SHA256} and the like, for either side of a PSK session. */
    static String describe(org.bouncycastle.tls.TlsContext context) {
        var params = context.getSecurityParametersConnection();
        int suite = params.getCipherSuite();
        String version = params.getNegotiatedVersion() == ProtocolVersion.TLSv13 ? "TLSv1.3" : "TLSv1.2";
        return version + " " + NAMES.getOrDefault(suite, "0x" + Integer.toHexString(suite));
    }

    /** TLS 1.2: the key of the user the client names. */
    private static final class IdentityManager implements TlsPSKIdentityManager {
        private final PskKeys keys;

        IdentityManager(PskKeys keys) {
            this.keys = keys;
        }

        @Override
        public byte[] getHint() {
            return null;
        }

        /** A fresh copy: Bouncy Castle zeroes the array after use. */
        @Override
        public byte[] getPSK(byte[] identity) {
            return keys.key(new String(identity, StandardCharsets.UTF_8));
        }
    }

    static void checkCrypto(TlsCrypto crypto) throws IOException {
        if (TlsUtils.getSupportedCipherSuites(crypto, SUITES).length == 0) {
            throw new IOException("no TLS-PSK cipher suite is available from the Java crypto providers");
        }
    }
}
