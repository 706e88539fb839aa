package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.*;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

/**
 * A blocking NBD client over TCP that can upgrade to TLS with the JDK's {@link SSLSocket} after STARTTLS; reads
 * time out after 10 s. For byte-level tests of the server's TLS; real clients are in {@code TlsRealClientsIT}.
 */
final class TlsTestClient implements AutoCloseable {
    record Reply(int option, int type, byte[] data) {
        String text() {
            return new String(data, java.nio.charset.StandardCharsets.UTF_8);
        }
    }

    private final Socket plain;
    private Socket socket;
    private DataInputStream in;
    private DataOutputStream out;

    TlsTestClient(int port) {
        try {
            plain = new Socket();
            plain.connect(new InetSocketAddress("127.0.0.1", port), 10_000);
            plain.setSoTimeout(10_000);
            use(plain);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private void use(Socket s) throws IOException {
        socket = s;
        in = new DataInputStream(s.getInputStream());
        out = new DataOutputStream(new java.io.BufferedOutputStream(s.getOutputStream()));
    }

    /** Greeting and C_FIXED_NEWSTYLE|C_NO_ZEROES. */
    TlsTestClient hello() throws IOException {
        long passwd = in.readLong();
        long magic = in.readLong();
        in.readShort();
        if (passwd != INIT_PASSWD || magic != IHAVEOPT) {
            throw new IOException("bad greeting");
        }
        out.writeInt(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
        out.flush();
        return this;
    }

    void sendOption(int option, byte[] data) throws IOException {
        out.writeLong(IHAVEOPT);
        out.writeInt(option);
        out.writeInt(data.length);
        out.write(data);
        out.flush();
    }

    Reply readReply() throws IOException {
        long magic = in.readLong();
        if (magic != OPTION_REPLY_MAGIC) {
            throw new IOException("option reply magic: 0x" + Long.toHexString(magic));
        }
        int option = in.readInt();
        int type = in.readInt();
        byte[] data = new byte[in.readInt()];
        in.readFully(data);
        return new Reply(option, type, data);
    }

    /** Sends an option and reads replies up to ACK or an error. */
    List<Reply> option(int option, byte[] data) throws IOException {
        sendOption(option, data);
        List<Reply> replies = new ArrayList<>();
        while (true) {
            Reply r = readReply();
            replies.add(r);
            if (r.type() == REP_ACK || (r.type() & REP_FLAG_ERROR) != 0) {
                return replies;
            }
        }
    }

    /** STARTTLS, expects ACK, then the TLS handshake with {@code context}. */
    SSLSocket startTls(SSLContext context) throws IOException {
        List<Reply> r = option(OPT_STARTTLS, new byte[0]);
        if (r.getLast().type() != REP_ACK) {
            throw new IOException("STARTTLS answered 0x" + Integer.toHexString(r.getLast().type()) + ": " + r.getLast().text());
        }
        return upgrade(context);
    }

    /** The TLS handshake over the plaintext socket (after the ACK). */
    SSLSocket upgrade(SSLContext context) throws IOException {
        SSLSocket tls = (SSLSocket) context.getSocketFactory().createSocket(plain, "localhost", plain.getPort(), true);
        tls.setUseClientMode(true);
        tls.startHandshake();
        use(tls);
        return tls;
    }

    /** Switches to streams layered over the plaintext socket (a Bouncy Castle TLS client after STARTTLS). */
    void useStreams(java.io.InputStream newIn, java.io.OutputStream newOut) {
        in = new DataInputStream(newIn);
        out = new DataOutputStream(new java.io.BufferedOutputStream(newOut));
    }

    Socket plainSocket() {
        return plain;
    }

    DataInputStream in() {
        return in;
    }

    DataOutputStream out() {
        return out;
    }

    /** Bytes sent raw (hostile tests). */
    void sendRaw(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
    }

    /** True when the server closes (EOF or reset) before a timeout. */
    boolean closedByServer() {
        try {
            byte[] b = new byte[4096];
            while (true) {
                if (socket.getInputStream().read(b) < 0) {
                    return true;
                }
            }
        } catch (java.net.SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true;
        }
    }

    @Override
    public void close() {
        try {
            socket.close();
            plain.close();
        } catch (IOException e) {
            // closing a test socket
        }
    }

    /** A TLS 1.3/1.2 client context trusting {@code caDir/ca-cert.pem}, with the client certificate when given. */
    static SSLContext context(Path caDir, Path clientDir, String protocol) {
        try {
            KeyStore trust = KeyStore.getInstance("PKCS12");
            trust.load(null, null);
            int i = 0;
            for (X509Certificate c : X509Context.certificates(caDir.resolve("ca-cert.pem"))) {
                trust.setCertificateEntry("ca" + i++, c);
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance("PKIX");
            tmf.init(trust);
            KeyManagerFactory kmf = null;
            if (clientDir != null) {
                KeyStore keys = KeyStore.getInstance("PKCS12");
                keys.load(null, null);
                keys.setKeyEntry("client", X509Context.privateKey(clientDir.resolve("client-key.pem")), new char[0],
                        X509Context.certificates(clientDir.resolve("client-cert.pem")).toArray(X509Certificate[]::new));
                kmf = KeyManagerFactory.getInstance("PKIX");
                kmf.init(keys, new char[0]);
            }
            SSLContext c = SSLContext.getInstance(protocol);
            c.init(kmf == null ? null : kmf.getKeyManagers(), tmf.getTrustManagers(), null);
            return c;
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
