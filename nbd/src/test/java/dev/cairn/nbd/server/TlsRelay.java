package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.*;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;

/**
 * Lets the plaintext {@link TestClient} talk to a server that requires TLS: listens on a Unix socket, and for
 * each client relays the greeting and the client flags to the server's TCP port, sends STARTTLS itself,
 * upgrades with the JDK's TLS, then relays bytes both ways (a client that closes its side half-closes TLS with
 * close_notify). So every byte-level test, hostile ones included, can run against {@code --tls require}.
 */
final class TlsRelay implements AutoCloseable {
    private final ServerSocketChannel listener;
    private final Path socket;
    private final Thread acceptor;

    TlsRelay(Path socket, java.util.function.IntSupplier serverPort, SSLContext context) throws IOException {
        this.socket = socket;
        listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        listener.bind(UnixDomainSocketAddress.of(socket));
        acceptor = Thread.ofVirtual().name("tls-relay").start(() -> {
            while (true) {
                SocketChannel client;
                try {
                    client = listener.accept();
                } catch (IOException e) {
                    return;
                }
                Thread.ofVirtual().start(() -> relay(client, serverPort.getAsInt(), context));
            }
        });
    }

    Path socket() {
        return socket;
    }

    private static void relay(SocketChannel client, int serverPort, SSLContext context) {
        try (client; Socket plain = new Socket()) {
            plain.connect(new InetSocketAddress("127.0.0.1", serverPort));
            DataInputStream sin = new DataInputStream(plain.getInputStream());
            DataOutputStream sout = new DataOutputStream(plain.getOutputStream());
            byte[] greeting = new byte[18];
            sin.readFully(greeting);
            write(client, greeting);
            ByteBuffer flags = ByteBuffer.allocate(4);
            while (flags.hasRemaining()) {
                if (client.read(flags) < 0) {
                    return;
                }
            }
            sout.write(flags.array());
            sout.writeLong(IHAVEOPT);
            sout.writeInt(OPT_STARTTLS);
            sout.writeInt(0);
            sout.flush();
            sin.readLong();
            sin.readInt();
            int type = sin.readInt();
            sin.skipNBytes(sin.readInt());
            if (type != REP_ACK) {
                return;
            }
            SSLSocket tls = (SSLSocket) context.getSocketFactory().createSocket(plain, "localhost", serverPort, true);
            tls.setUseClientMode(true);
            tls.startHandshake();
            Thread up = Thread.ofVirtual().start(() -> {
                try {
                    OutputStream out = tls.getOutputStream();
                    ByteBuffer b = ByteBuffer.allocate(64 * 1024);
                    while (client.read(b.clear()) >= 0) {
                        out.write(b.array(), 0, b.position());
                        out.flush();
                    }
                    tls.shutdownOutput();
                } catch (IOException e) {
                    closeQuietly(tls);
                }
            });
            try {
                InputStream in = tls.getInputStream();
                byte[] b = new byte[64 * 1024];
                int n;
                while ((n = in.read(b)) >= 0) {
                    write(client, java.util.Arrays.copyOf(b, n));
                }
            } catch (IOException e) {
                // the server dropped the client: so does the relay
            }
            closeQuietly(tls);
            client.close();
            up.join();
        } catch (IOException | InterruptedException e) {
            // the test client or the server went away: the relay's job ends
        }
    }

    private static void write(SocketChannel ch, byte[] bytes) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(bytes);
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException e) {
            // closing
        }
    }

    @Override
    public void close() throws IOException {
        listener.close();
        try {
            acceptor.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
