package dev.cairn.nbd.server;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Objects;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManagerFactory;
import org.bouncycastle.tls.crypto.TlsCrypto;
import org.bouncycastle.tls.crypto.impl.jcajce.JcaTlsCryptoProvider;

/**
 * The client side of an NBD connection's TLS, after the client's {@code NBD_OPT_STARTTLS} was acknowledged: the
 * same two engines as the server ({@link SslEngineTransport} over the JDK's {@code SSLEngine} for X.509,
 * {@link PskTlsTransport} over Bouncy Castle for PSK), in client mode. It lives in this package because it
 * reuses those package-private transports; the NBD client ({@code dev.cairn.nbd.client}) is its user.
 *
 * <p>X.509 follows libnbd's {@code tls-certificates=DIR}: the server's chain must lead to {@code DIR/ca-cert.pem};
 * over TCP the server certificate must also name the host the client connected to (a Unix socket has no host
 * name to check); {@code DIR/client-cert.pem} and {@code DIR/client-key.pem}, when both exist, are presented to
 * servers that ask for a client certificate. PSK follows {@code tls-psk-file=FILE} and {@code tls-username=USER}:
 * the key of USER in the psktool file.
 *
 * <p>Thread safety: one thread may {@link #read} while another {@link #write}s, as the server's transports allow;
 * {@link #close} from any thread.
 */
public final class TlsClientChannel implements AutoCloseable {
    static final String CLIENT_CERT = "client-cert.pem";
    static final String CLIENT_KEY = "client-key.pem";
    private static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};

    /** What the client authenticates with. */
    public sealed interface Credentials permits X509, Psk {}

    /** libnbd's {@code tls-certificates=DIR}. */
    public record X509(Path dir) implements Credentials {
        public X509 {
            Objects.requireNonNull(dir, "dir");
        }
    }

    /** libnbd's {@code tls-psk-file=FILE} with {@code tls-username=USER}. */
    public record Psk(Path file, String user) implements Credentials {
        public Psk {
            Objects.requireNonNull(file, "file");
            Objects.requireNonNull(user, "user");
        }
    }

    private final TlsTransport transport;

    private TlsClientChannel(TlsTransport transport) {
        this.transport = transport;
    }

    /**
     * Runs the TLS handshake over {@code channel} (connected, blocking, right after the server acknowledged
     * STARTTLS). {@code host} is the TCP host name to verify, or null for a Unix socket. Credentials are read
     * from their files on every call, so a reconnect sees renewed ones. Throws with the reason when the files are
     * bad or the handshake fails (the channel is then closed).
     */
    public static TlsClientChannel handshake(SocketChannel channel, Credentials credentials, String host, int port)
            throws IOException {
        SocketTransport raw = new SocketTransport(channel);
        TlsTransport t = switch (credentials) {
            case X509 x -> {
                SSLEngine engine = x509Context(x.dir()).createSSLEngine(host, port);
                engine.setUseClientMode(true);
                engine.setEnabledProtocols(PROTOCOLS);
                if (host != null) {
                    SSLParameters params = engine.getSSLParameters();
                    params.setEndpointIdentificationAlgorithm("HTTPS");
                    engine.setSSLParameters(params);
                }
                yield new SslEngineTransport(raw, engine, ByteBuffer.allocate(0));
            }
            case Psk p -> {
                byte[] key = PskKeys.load(p.file(), "tls-psk-file").key(p.user());
                if (key == null) {
                    throw new IOException("tls-psk-file: " + p.file() + " has no key for user '" + p.user()
                            + "' (expected: a line '" + p.user() + ":hexkey'; set the user with tls-username=)");
                }
                TlsCrypto crypto = new JcaTlsCryptoProvider().create(new SecureRandom());
                PskClient.checkCrypto(crypto);
                yield new PskTlsTransport(raw, new PskClient(crypto, p.user(), key));
            }
        };
        try {
            t.handshake();
        } catch (IOException | RuntimeException e) {
            raw.close();
            throw new IOException("TLS handshake failed: " + e.getMessage(), e);
        }
        return new TlsClientChannel(t);
    }

    private static SSLContext x509Context(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new IOException("tls-certificates: " + dir + " (expected: a directory with " + X509Context.CA_CERT + ")");
        }
        List<X509Certificate> cas = X509Context.certificates(dir.resolve(X509Context.CA_CERT));
        try {
            KeyStore anchors = KeyStore.getInstance("PKCS12");
            anchors.load(null, null);
            for (int i = 0; i < cas.size(); i++) {
                anchors.setCertificateEntry("ca" + i, cas.get(i));
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
            tmf.init(anchors);
            KeyManager[] keys = null;
            Path cert = dir.resolve(CLIENT_CERT);
            Path keyFile = dir.resolve(CLIENT_KEY);
            if (Files.exists(cert) && Files.exists(keyFile)) {
                List<X509Certificate> chain = X509Context.certificates(cert);
                PrivateKey key = X509Context.privateKey(keyFile);
                KeyStore ks = KeyStore.getInstance("PKCS12");
                ks.load(null, null);
                ks.setKeyEntry("client", key, new char[0], chain.toArray(X509Certificate[]::new));
                KeyManagerFactory kmf = KeyManagerFactory.getInstance("PKIX");
                kmf.init(ks, new char[0]);
                keys = kmf.getKeyManagers();
            }
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(keys, tmf.getTrustManagers(), null);
            return context;
        } catch (GeneralSecurityException e) {
            throw new IOException("tls-certificates: " + dir + ": " + e.getMessage(), e);
        }
    }

    /** Reads decrypted bytes; -1 at the end of the stream. */
    public int read(ByteBuffer dst) throws IOException {
        return transport.read(dst);
    }

    /** Encrypts and sends some of {@code srcs}; returns the plaintext bytes taken. */
    public long write(ByteBuffer[] srcs) throws IOException {
        return transport.write(srcs, 0, srcs.length);
    }

    /** The negotiated protocol and cipher suite, e.g. {@code TLSv1.3 TLS_AES_256_GCM_SHA384}. */
    public String negotiated() {
        return transport.negotiated();
    }

    /** Sends close_notify when no write is in progress, then closes the socket. */
    @Override
    public void close() {
        transport.close();
    }
}
