package dev.cairn.nbd.server;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Vector;
import org.bouncycastle.tls.BasicTlsPSKExternal;
import org.bouncycastle.tls.BasicTlsPSKIdentity;
import org.bouncycastle.tls.PRFAlgorithm;
import org.bouncycastle.tls.PSKTlsClient;
import org.bouncycastle.tls.ProtocolVersion;
import org.bouncycastle.tls.TlsUtils;
import org.bouncycastle.tls.crypto.TlsCrypto;

/**
 * Bouncy Castle's client side of one PSK connection, the mirror of {@link PskServer}: TLS 1.3 with an external
 * PSK bound to SHA-256 (as psktool keys are in GnuTLS), TLS 1.2 PSK suites as a fallback, the same suite list.
 * The identity is the psktool user name.
 *
 * <p>Thread safety: one instance per connection, used by the thread that runs the handshake.
 */
final class PskClient extends PSKTlsClient {
    private final byte[] identity;
    private final byte[] key;

    /** {@code key} is copied: Bouncy Castle zeroes the arrays it is given. */
    PskClient(TlsCrypto crypto, String user, byte[] key) {
        super(crypto, new BasicTlsPSKIdentity(user.getBytes(StandardCharsets.UTF_8), key.clone()));
        this.identity = user.getBytes(StandardCharsets.UTF_8);
        this.key = key.clone();
    }

    @Override
    protected ProtocolVersion[] getSupportedVersions() {
        return ProtocolVersion.TLSv13.downTo(ProtocolVersion.TLSv12);
    }

    @Override
    protected int[] getSupportedCipherSuites() {
        return TlsUtils.getSupportedCipherSuites(getCrypto(), PskServer.SUITES);
    }

    @Override
    @SuppressWarnings({"rawtypes", "unchecked"})
    public Vector getExternalPSKs() {
        Vector<Object> psks = new Vector<>(1);
        psks.add(new BasicTlsPSKExternal(identity.clone(), getCrypto().createSecret(key.clone()),
                PRFAlgorithm.tls13_hkdf_sha256));
        return psks;
    }

    String negotiated() {
        return PskServer.describe(context);
    }

    static void checkCrypto(TlsCrypto crypto) throws IOException {
        PskServer.checkCrypto(crypto);
    }
}
