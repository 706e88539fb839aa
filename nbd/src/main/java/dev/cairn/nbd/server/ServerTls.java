package dev.cairn.nbd.server;

import java.io.IOException;
import java.lang.System.Logger.Level;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.atomic.LongAdder;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import org.bouncycastle.tls.crypto.TlsCrypto;
import org.bouncycastle.tls.crypto.impl.jcajce.JcaTlsCryptoProvider;

/**
 * The TLS side of an NBD server: the mode, the loaded credentials, and the upgrade of one connection after
 * {@code NBD_OPT_STARTTLS}.
 *
 * <pre>{@code
 * ServerTls tls = ServerTls.load(new TlsConfig(TlsMode.REQUIRE, new TlsConfig.X509(Path.of("/etc/pki/cairn"), false)));
 * NbdServer server = NbdServer.builder().submitter(s).tcp("0.0.0.0", 10809).tls(tls).build();
 * ...
 * tls.reload();   // on SIGHUP: new connections use the new files, open ones keep their session
 * }</pre>
 *
 * <h2>Implementation notes</h2>
 * X.509 goes through the JDK's {@code SSLEngine} with TLS 1.3 and 1.2 enabled; pre-shared keys through Bouncy
 * Castle's TLS API over the JDK's crypto providers (AES-GCM and ChaCha20 run on the JDK's intrinsics). A
 * handshake runs on the connection's thread; a virtual thread per handshake closes the socket when it has not
 * finished after {@link TlsConfig#handshakeTimeout()}, which also wakes the blocked read.
 *
 * <p>Thread safety: all methods may be called from any thread. The credentials are one immutable object
 * swapped atomically by {@link #reload}; a handshake uses the object it read at its start.
 */
public final class ServerTls {
    private static final System.Logger LOG = System.getLogger("dev.cairn.nbd.server");
    private static final String[] PROTOCOLS = {"TLSv1.3", "TLSv1.2"};
    private static final int RUNNING = 0;
    private static final int DONE = 1;
    private static final int TIMED_OUT = 2;

    private final TlsConfig config;
    /** An {@link SSLContext} (X.509), a {@link PskKeys} (PSK), or null (off). */
    private final AtomicReference<Object> credentials;
    private final TlsCrypto pskCrypto;
    private final AtomicLong completed = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private final AtomicLong timedOut = new AtomicLong();
    private final AtomicLong reloads = new AtomicLong();
    private final Map<String, LongAdder> negotiated = new ConcurrentHashMap<>();

    private ServerTls(TlsConfig config, Object credentials, TlsCrypto pskCrypto) {
        this.config = config;
        this.credentials = new AtomicReference<>(credentials);
        this.pskCrypto = pskCrypto;
    }

    /** Reads the credentials; every problem (missing file, bad PEM, key not matching) is one clear message. */
    public static ServerTls load(TlsConfig config) throws IOException {
        TlsCrypto crypto = null;
        if (config.credentials() instanceof TlsConfig.Psk) {
            crypto = new JcaTlsCryptoProvider().create(new SecureRandom());
            PskServer.checkCrypto(crypto);
        }
        return new ServerTls(config, read(config), crypto);
    }

    private static Object read(TlsConfig config) throws IOException {
        return switch (config.credentials()) {
            case null -> null;
            case TlsConfig.X509 x -> X509Context.load(x);
            case TlsConfig.Psk p -> PskKeys.load(p.file());
        };
    }

    public TlsMode mode() {
        return config.mode();
    }

    public TlsConfig config() {
        return config;
    }

    /**
     * Rereads the files named by the configuration. New handshakes use them; established sessions are not
     * touched. On any error the old credentials stay in use and the error is thrown.
     */
    public void reload() throws IOException {
        Object fresh = read(config);
        credentials.set(fresh);
        reloads.incrementAndGet();
        LOG.log(Level.INFO, () -> "TLS credentials reloaded from " + source());
    }

    /** What the credentials are read from, for messages. */
    public String source() {
        return switch (config.credentials()) {
            case null -> "(none)";
            case TlsConfig.X509 x -> "X.509 " + x.dir() + (x.verifyPeer() ? " (verifying client certificates)" : "");
            case TlsConfig.Psk p -> "PSK " + p.file();
        };
    }

    /**
     * What a client on this machine puts in an {@code nbds://} URI to reach this server, libnbd's way: X.509,
     * {@code tls-certificates=DIR} (the server's directory, whose {@code ca-cert.pem} checks the server; with
     * verify-peer the client's own {@code client-cert.pem} and {@code client-key.pem} must be there too); PSK,
     * {@code tls-psk-file=FILE} and the first user of the file as the URI's user. Paths are absolute. Follows
     * {@link #reload}: the user is read from the credentials in force.
     */
    public ClientHint clientHint() {
        return switch (config.credentials()) {
            case null -> throw new IllegalStateException("TLS is off");
            case TlsConfig.X509 x -> new ClientHint(null, "tls-certificates", x.dir().toAbsolutePath().normalize());
            case TlsConfig.Psk p -> new ClientHint(credentials.get() instanceof PskKeys k ? k.users().getFirst() : null,
                    "tls-psk-file", p.file().toAbsolutePath().normalize());
        };
    }

    /**
     * The credentials part of a client's {@code nbds://} URI (see {@link #clientHint}).
     *
     * @param user      the TLS-PSK user name (libnbd takes it from the URI's authority, {@code nbds+unix://USER@/}),
     *                  or null for X.509
     * @param parameter libnbd's query parameter, {@code tls-certificates} or {@code tls-psk-file}
     * @param path      its value: the certificate directory or the key file
     */
    public record ClientHint(String user, String parameter, java.nio.file.Path path) {}

    public TlsStats stats() {
        Map<String, Long> n = new TreeMap<>();
        negotiated.forEach((k, v) -> n.put(k, v.sum()));
        return new TlsStats(completed.get(), failed.get(), timedOut.get(), reloads.get(), n);
    }

    /**
     * Runs the server side of the TLS handshake over {@code raw}, right after the STARTTLS reply;
     * {@code alreadyRead} holds what the client sent after its STARTTLS option and the server read ahead. Throws
     * (and counts) on failure or timeout; the caller closes the connection.
     */
    TlsTransport startTls(NbdTransport raw, ByteBuffer alreadyRead) throws IOException {
        Object creds = credentials.get();
        TlsTransport t = switch (creds) {
            case SSLContext context -> {
                SSLEngine engine = context.createSSLEngine();
                engine.setUseClientMode(false);
                engine.setEnabledProtocols(PROTOCOLS);
                if (config.credentials() instanceof TlsConfig.X509 x && x.verifyPeer()) {
                    engine.setNeedClientAuth(true);
                }
                yield new SslEngineTransport(raw, engine, alreadyRead);
            }
            case PskKeys keys -> new PskTlsTransport(raw, new PskServer(pskCrypto, keys, raw.peer()), alreadyRead);
            default -> throw new IllegalStateException("TLS is off");
        };
        AtomicInteger state = new AtomicInteger(RUNNING);
        Thread timer = Thread.ofVirtual().name("nbd-tls-timeout").start(() -> {
            try {
                Thread.sleep(config.handshakeTimeout());
            } catch (InterruptedException e) {
                return;
            }
            if (state.compareAndSet(RUNNING, TIMED_OUT)) {
                raw.close();
            }
        });
        try {
            t.handshake();
        } catch (IOException | RuntimeException e) {
            if (state.compareAndSet(RUNNING, DONE)) {
                failed.incrementAndGet();
                throw new Handshake.ProtocolException("TLS handshake failed: " + e.getMessage());
            }
            throw timedOut();
        } finally {
            timer.interrupt();
        }
        if (!state.compareAndSet(RUNNING, DONE)) {
            throw timedOut();
        }
        completed.incrementAndGet();
        String what = t.negotiated();
        negotiated.computeIfAbsent(what, k -> new LongAdder()).increment();
        LOG.log(Level.DEBUG, () -> raw.peer() + ": TLS established: " + what);
        return t;
    }

    private IOException timedOut() {
        timedOut.incrementAndGet();
        return new Handshake.ProtocolException("TLS handshake not finished after " + config.handshakeTimeout());
    }
}
