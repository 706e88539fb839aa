package dev.cairn.nbd.server;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.CertPathBuilder;
import java.security.cert.CertStore;
import java.security.cert.CertificateFactory;
import java.security.cert.CollectionCertStoreParameters;
import java.security.cert.PKIXBuilderParameters;
import java.security.cert.PKIXRevocationChecker;
import java.security.cert.X509CRL;
import java.security.cert.X509CertSelector;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.EnumSet;
import java.util.List;
import javax.net.ssl.CertPathTrustManagerParameters;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import org.bouncycastle.asn1.DERNull;
import org.bouncycastle.asn1.pkcs.PKCSObjectIdentifiers;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.asn1.pkcs.RSAPrivateKey;
import org.bouncycastle.asn1.sec.ECPrivateKey;
import org.bouncycastle.asn1.x509.AlgorithmIdentifier;
import org.bouncycastle.asn1.x9.X9ObjectIdentifiers;

/**
 * Builds the JDK {@link SSLContext} of an X.509 server from nbdkit's certificate directory: {@code ca-cert.pem},
 * {@code server-cert.pem} (the chain, leaf first), {@code server-key.pem} (PKCS#8, PKCS#1 RSA or SEC1 EC, as
 * certtool and openssl write them; unencrypted) and the optional {@code ca-crl.pem}. The CA and the CRL matter
 * only with verify-peer: they check client certificates. Every problem is one {@link IOException} naming the
 * file.
 *
 * <p>Thread safety: stateless.
 */
final class X509Context {
    static final String CA_CERT = "ca-cert.pem";
    static final String SERVER_CERT = "server-cert.pem";
    static final String SERVER_KEY = "server-key.pem";
    static final String CA_CRL = "ca-crl.pem";
    private static final char[] NO_PASSWORD = new char[0];

    private X509Context() {}

    static SSLContext load(TlsConfig.X509 config) throws IOException {
        Path dir = config.dir();
        if (!Files.isDirectory(dir)) {
            throw new IOException("--tls-certificates: " + dir + " (expected: a directory with " + CA_CERT + ", "
                    + SERVER_CERT + " and " + SERVER_KEY + ")");
        }
        List<X509Certificate> chain = certificates(dir.resolve(SERVER_CERT));
        PrivateKey key = privateKey(dir.resolve(SERVER_KEY));
        try {
            KeyStore keys = KeyStore.getInstance("PKCS12");
            keys.load(null, null);
            keys.setKeyEntry("server", key, NO_PASSWORD, chain.toArray(X509Certificate[]::new));
            KeyManagerFactory kmf = KeyManagerFactory.getInstance("PKIX");
            kmf.init(keys, NO_PASSWORD);
            // No client certificates are checked without verify-peer: an empty list, not null, which would make
            // the JDK load its whole CA store for nothing.
            TrustManager[] trust = new TrustManager[0];
            if (config.verifyPeer()) {
                trust = trustManagers(dir);
            }
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(kmf.getKeyManagers(), trust, null);
            selfTest(context, dir);
            return context;
        } catch (GeneralSecurityException e) {
            throw new IOException(dir.resolve(SERVER_KEY) + ": does not fit " + dir.resolve(SERVER_CERT) + " ("
                    + e.getMessage() + ")", e);
        }
    }

    private static TrustManager[] trustManagers(Path dir) throws IOException, GeneralSecurityException {
        Path caFile = dir.resolve(CA_CERT);
        List<X509Certificate> cas = certificates(caFile);
        KeyStore anchors = KeyStore.getInstance("PKCS12");
        anchors.load(null, null);
        for (int i = 0; i < cas.size(); i++) {
            anchors.setCertificateEntry("ca" + i, cas.get(i));
        }
        PKIXBuilderParameters params = new PKIXBuilderParameters(anchors, new X509CertSelector());
        Path crlFile = dir.resolve(CA_CRL);
        if (Files.exists(crlFile)) {
            Collection<X509CRL> crls = crls(crlFile);
            params.addCertStore(CertStore.getInstance("Collection", new CollectionCertStoreParameters(crls)));
            // The CA's CRL is all there is to consult: no OCSP, no fetching distribution points.
            PKIXRevocationChecker checker = (PKIXRevocationChecker) CertPathBuilder.getInstance("PKIX").getRevocationChecker();
            checker.setOptions(EnumSet.of(PKIXRevocationChecker.Option.PREFER_CRLS,
                    PKIXRevocationChecker.Option.NO_FALLBACK, PKIXRevocationChecker.Option.ONLY_END_ENTITY));
            params.addCertPathChecker(checker);
            params.setRevocationEnabled(true);
        } else {
            params.setRevocationEnabled(false);
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
        tmf.init(new CertPathTrustManagerParameters(params));
        for (TrustManager tm : tmf.getTrustManagers()) {
            if (tm instanceof X509ExtendedTrustManager x) {
                return new TrustManager[] {new NoIssuerNames(x)};
            }
        }
        throw new GeneralSecurityException("no X.509 trust manager");
    }

    /**
     * The PKIX trust manager, except that the certificate request names no CA. GnuTLS clients (libnbd, qemu)
     * send a certificate only when its issuer matches a requested name byte for byte, and the names the JDK
     * sends did not match certtool's encoding of the same CA (libnbd then sent no certificate at all); with no
     * names a GnuTLS client sends the certificate it has, and the chain is checked here as before.
     */
    private static class NoIssuerNames extends X509ExtendedTrustManager {
        private final X509ExtendedTrustManager delegate;

        NoIssuerNames(X509ExtendedTrustManager delegate) {
            this.delegate = delegate;
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, java.net.Socket socket)
                throws java.security.cert.CertificateException {
            delegate.checkClientTrusted(chain, authType, socket);
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType, javax.net.ssl.SSLEngine engine)
                throws java.security.cert.CertificateException {
            delegate.checkClientTrusted(chain, authType, engine);
        }

        @Override
        public void checkClientTrusted(X509Certificate[] chain, String authType)
                throws java.security.cert.CertificateException {
            delegate.checkClientTrusted(chain, authType);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, java.net.Socket socket)
                throws java.security.cert.CertificateException {
            delegate.checkServerTrusted(chain, authType, socket);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType, javax.net.ssl.SSLEngine engine)
                throws java.security.cert.CertificateException {
            delegate.checkServerTrusted(chain, authType, engine);
        }

        @Override
        public void checkServerTrusted(X509Certificate[] chain, String authType)
                throws java.security.cert.CertificateException {
            delegate.checkServerTrusted(chain, authType);
        }

        @Override
        public X509Certificate[] getAcceptedIssuers() {
            return new X509Certificate[0];
        }
    }

    /**
     * One handshake in memory against the new context, so that a key that does not belong to its certificate
     * (which the key store does not check) fails here, at start or reload, not on every client; it also loads
     * the TLS classes before the first client's handshake runs against its timeout.
     */
    private static void selfTest(SSLContext context, Path dir) throws IOException {
        try {
            SSLEngine server = context.createSSLEngine();
            server.setUseClientMode(false);
            SSLContext trustAll = SSLContext.getInstance("TLS");
            trustAll.init(null, new TrustManager[] {new NoIssuerNames(null) {
                @Override
                public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine) {
                    // the self-test checks the server's key, not its chain
                }
            }}, null);
            SSLEngine client = trustAll.createSSLEngine("localhost", 0);
            client.setUseClientMode(true);
            int packet = Math.max(client.getSession().getPacketBufferSize(), server.getSession().getPacketBufferSize());
            int app = Math.max(client.getSession().getApplicationBufferSize(), server.getSession().getApplicationBufferSize());
            ByteBuffer toServer = ByteBuffer.allocate(4 * packet);
            ByteBuffer toClient = ByteBuffer.allocate(4 * packet);
            ByteBuffer sink = ByteBuffer.allocate(4 * app);
            ByteBuffer empty = ByteBuffer.allocate(0);
            client.beginHandshake();
            server.beginHandshake();
            for (int step = 0; step < 100; step++) {
                if (done(client) && done(server)) {
                    return;
                }
                pump(client, empty, toServer, toClient, sink);
                pump(server, empty, toClient, toServer, sink);
            }
            throw new IOException("the handshake did not finish");
        } catch (IOException | GeneralSecurityException | RuntimeException e) {
            throw new IOException(dir.resolve(SERVER_KEY) + " and " + dir.resolve(SERVER_CERT)
                    + ": a TLS handshake with them fails (" + e.getMessage() + "); does the key belong to the certificate?", e);
        }
    }

    private static boolean done(SSLEngine e) {
        var hs = e.getHandshakeStatus();
        return hs == javax.net.ssl.SSLEngineResult.HandshakeStatus.NOT_HANDSHAKING
                || hs == javax.net.ssl.SSLEngineResult.HandshakeStatus.FINISHED;
    }

    /** Lets {@code e} produce into {@code out} and consume from {@code in} until it waits for the other side. */
    private static void pump(SSLEngine e, ByteBuffer empty, ByteBuffer out, ByteBuffer in, ByteBuffer sink)
            throws IOException {
        for (int i = 0; i < 20; i++) {
            switch (e.getHandshakeStatus()) {
                case NEED_WRAP -> e.wrap(empty, out);
                case NEED_UNWRAP, NEED_UNWRAP_AGAIN -> {
                    in.flip();
                    var r = e.unwrap(in, sink.clear());
                    in.compact();
                    if (r.getStatus() == javax.net.ssl.SSLEngineResult.Status.BUFFER_UNDERFLOW) {
                        return;
                    }
                    if (r.getStatus() == javax.net.ssl.SSLEngineResult.Status.CLOSED) {
                        throw new IOException("the peer closed the handshake");
                    }
                }
                case NEED_TASK -> {
                    Runnable t;
                    while ((t = e.getDelegatedTask()) != null) {
                        t.run();
                    }
                }
                default -> {
                    return;
                }
            }
        }
    }

    static List<X509Certificate> certificates(Path file) throws IOException {
        byte[] bytes = read(file);
        try {
            List<X509Certificate> out = new ArrayList<>();
            for (var c : CertificateFactory.getInstance("X.509").generateCertificates(new ByteArrayInputStream(bytes))) {
                out.add((X509Certificate) c);
            }
            if (out.isEmpty()) {
                throw new IOException(file + ": no certificate (expected: PEM 'BEGIN CERTIFICATE' blocks)");
            }
            return out;
        } catch (GeneralSecurityException e) {
            throw new IOException(file + ": not a PEM certificate (" + e.getMessage() + ")", e);
        }
    }

    private static Collection<X509CRL> crls(Path file) throws IOException {
        byte[] bytes = read(file);
        try {
            List<X509CRL> out = new ArrayList<>();
            for (var c : CertificateFactory.getInstance("X.509").generateCRLs(new ByteArrayInputStream(bytes))) {
                out.add((X509CRL) c);
            }
            if (out.isEmpty()) {
                throw new IOException(file + ": no CRL (expected: PEM 'BEGIN X509 CRL' blocks)");
            }
            return out;
        } catch (GeneralSecurityException e) {
            throw new IOException(file + ": not a PEM CRL (" + e.getMessage() + ")", e);
        }
    }

    static PrivateKey privateKey(Path file) throws IOException {
        String text = new String(read(file), StandardCharsets.US_ASCII);
        for (String type : List.of("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY")) {
            String begin = "-----BEGIN " + type + "-----";
            int from = text.indexOf(begin);
            if (from < 0) {
                continue;
            }
            int to = text.indexOf("-----END " + type + "-----", from);
            if (to < 0) {
                throw new IOException(file + ": '" + begin + "' without its END line");
            }
            if (type.startsWith("ENCRYPTED")) {
                throw new IOException(file + ": the key is encrypted (expected: an unencrypted key, as nbdkit reads it)");
            }
            byte[] der;
            try {
                der = Base64.getMimeDecoder().decode(text.substring(from + begin.length(), to));
            } catch (IllegalArgumentException e) {
                throw new IOException(file + ": bad base64 in the key (" + e.getMessage() + ")", e);
            }
            try {
                return switch (type) {
                    case "PRIVATE KEY" -> pkcs8(der);
                    case "RSA PRIVATE KEY" -> pkcs8(new PrivateKeyInfo(new AlgorithmIdentifier(
                            PKCSObjectIdentifiers.rsaEncryption, DERNull.INSTANCE), RSAPrivateKey.getInstance(der)).getEncoded());
                    default -> {
                        ECPrivateKey ec = ECPrivateKey.getInstance(der);
                        if (ec.getParametersObject() == null) {
                            throw new IOException(file + ": EC key without its curve");
                        }
                        yield pkcs8(new PrivateKeyInfo(new AlgorithmIdentifier(X9ObjectIdentifiers.id_ecPublicKey,
                                ec.getParametersObject()), ec).getEncoded());
                    }
                };
            } catch (GeneralSecurityException | RuntimeException e) {
                throw new IOException(file + ": cannot read the " + type.toLowerCase(java.util.Locale.ROOT) + " ("
                        + e.getMessage() + ")", e);
            }
        }
        throw new IOException(file + ": no private key (expected: a PEM 'BEGIN PRIVATE KEY', 'BEGIN RSA PRIVATE KEY'"
                + " or 'BEGIN EC PRIVATE KEY' block)");
    }

    private static PrivateKey pkcs8(byte[] der) throws GeneralSecurityException, IOException {
        String oid = PrivateKeyInfo.getInstance(der).getPrivateKeyAlgorithm().getAlgorithm().getId();
        String algorithm = switch (oid) {
            case "1.2.840.113549.1.1.1" -> "RSA";
            case "1.2.840.113549.1.1.10" -> "RSASSA-PSS";
            case "1.2.840.10045.2.1" -> "EC";
            case "1.3.101.112" -> "Ed25519";
            case "1.3.101.113" -> "Ed448";
            default -> throw new IOException("key algorithm " + oid + " (expected: RSA, EC or EdDSA)");
        };
        return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
    }

    private static byte[] read(Path file) throws IOException {
        try {
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new IOException(file + ": missing (expected: nbdkit's layout: " + CA_CERT + ", " + SERVER_CERT + ", "
                    + SERVER_KEY + ", optional " + CA_CRL + ")", e);
        }
    }
}
