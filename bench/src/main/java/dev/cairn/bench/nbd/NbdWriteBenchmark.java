package dev.cairn.bench.nbd;

import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.nbd.server.NbdExport;
import dev.cairn.nbd.server.NbdServer;
import java.io.IOException;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * NBD WRITEs at queue depth 1 over a Unix socket into a {@link MemoryStore} export, the whole server path
 * (header, payload read into a pooled buffer, bio, reply): the fast path that the client memory budget and
 * the piecewise reading of long payloads (issue 22) must not slow down. Sizes up to 256 KiB are one buffer
 * and one bio; 1 MiB is four pieces. Run with {@code -prof gc}: allocation per write is the thing to
 * compare between commits on a busy machine, where the times are noise.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"-Xmx1g", "--enable-native-access=ALL-UNNAMED"})
public class NbdWriteBenchmark {
    private static final int REQUEST_MAGIC = 0x25609513;
    private static final long IHAVEOPT = 0x49484156454F5054L;

    @State(Scope.Benchmark)
    public static class Server {
        @Param({"4096", "262144", "1048576"})
        public int sizeBytes;

        Path dir;
        Submitter submitter;
        NbdServer server;
        SocketChannel ch;
        ByteBuffer request;
        ByteBuffer reply = ByteBuffer.allocateDirect(16);
        long cookie;

        @Setup(Level.Trial)
        public void start() throws IOException {
            dir = Files.createTempDirectory("nbd-bench");
            Path socket = dir.resolve("nbd.sock");
            submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
            server = NbdServer.builder().submitter(submitter).unix(socket).build();
            server.addExport(NbdExport.of("disk", new MemoryStore("disk", 64 << 20)));
            server.start();
            ch = SocketChannel.open(UnixDomainSocketAddress.of(socket));
            handshake();
            request = ByteBuffer.allocateDirect(28 + sizeBytes);
        }

        /** Fixed newstyle, no options but EXPORT_NAME "disk" (no zeroes), then transmission. */
        private void handshake() throws IOException {
            readFully(ByteBuffer.allocate(8 + 8 + 2)); // NBDMAGIC, IHAVEOPT, handshake flags
            ByteBuffer flags = ByteBuffer.allocate(4).putInt(3).flip(); // FIXED_NEWSTYLE | NO_ZEROES
            ch.write(flags);
            byte[] name = "disk".getBytes();
            ByteBuffer opt = ByteBuffer.allocate(16 + name.length);
            opt.putLong(IHAVEOPT).putInt(1).putInt(name.length).put(name).flip();
            while (opt.hasRemaining()) {
                ch.write(opt);
            }
            readFully(ByteBuffer.allocate(8 + 2)); // size, transmission flags
        }

        void readFully(ByteBuffer b) throws IOException {
            while (b.hasRemaining()) {
                if (ch.read(b) < 0) {
                    throw new IOException("server closed");
                }
            }
        }

        @TearDown(Level.Trial)
        public void stop() throws IOException {
            ch.close();
            server.close();
            submitter.close();
        }
    }

    @Benchmark
    public long write(Server s) throws IOException {
        ByteBuffer r = s.request.clear();
        long at = (s.cookie * s.sizeBytes) & ((32 << 20) - 1);
        r.putInt(REQUEST_MAGIC).putShort((short) 0).putShort((short) 1).putLong(++s.cookie).putLong(at)
                .putInt(s.sizeBytes).position(0).limit(28 + s.sizeBytes);
        while (r.hasRemaining()) {
            s.ch.write(r);
        }
        s.readFully(s.reply.clear());
        if (s.reply.getInt(4) != 0) {
            throw new IOException("write failed: " + s.reply.getInt(4));
        }
        return s.reply.getLong(8);
    }
}
