package dev.cairn.cli;

import static dev.cairn.nbd.protocol.NbdConstants.CMD_DISC;
import static dev.cairn.nbd.protocol.NbdConstants.CMD_FLUSH;
import static dev.cairn.nbd.protocol.NbdConstants.CMD_READ;
import static dev.cairn.nbd.protocol.NbdConstants.CMD_WRITE;
import static dev.cairn.nbd.protocol.NbdConstants.FLAG_C_FIXED_NEWSTYLE;
import static dev.cairn.nbd.protocol.NbdConstants.FLAG_C_NO_ZEROES;
import static dev.cairn.nbd.protocol.NbdConstants.INIT_PASSWD;
import static dev.cairn.nbd.protocol.NbdConstants.OPTION_REPLY_MAGIC;
import static dev.cairn.nbd.protocol.NbdConstants.OPT_GO;
import static dev.cairn.nbd.protocol.NbdConstants.REP_ACK;
import static dev.cairn.nbd.protocol.NbdConstants.SIMPLE_REPLY_MAGIC;

import dev.cairn.daemon.Daemon;
import dev.cairn.daemon.StateDir;
import dev.cairn.nbd.protocol.NbdWire;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The training run behind {@code bin/cairn}'s start-up cache (JDK 25's AOT cache, JEP 483/514/515):
 * {@code java -XX:AOTCacheOutput=FILE -cp cairn.jar dev.cairn.cli.AotTraining STATE_DIR}. The JVM
 * records which classes this run loads and links and how its methods behave, and writes them to FILE
 * when it exits; later JVMs started with {@code -XX:AOTCache=FILE} begin with those classes loaded
 * and those profiles known.
 *
 * <p>So the run does what users do, for real, in a scratch state directory (which must be empty or
 * absent; bin/cairn gives a fresh one and deletes it after): it starts a daemon (first start: a 1 GiB
 * sparse vol0), runs the common verbs in this JVM through {@link CairnMain#run} against it (their output
 * is discarded), moves some data over NBD through the daemon's Unix socket (4 KiB and 1 MiB writes and
 * reads, queued as real clients queue them, and a flush), and stops the daemon. bin/cairn starts the verbs
 * with the cache; {@code serve} starts without it (bin/cairn says why), but the daemon's classes are in
 * it for whoever starts serve with {@code -XX:AOTCache}. Nothing outside STATE_DIR is touched; no TCP
 * port is opened.
 *
 * <p>Exit code 0 when every step worked, 1 otherwise (bin/cairn then keeps no cache and says so).
 * Thread safety: a program, run once from {@code main}.
 */
public final class AotTraining {
    private static final int SMALL_BYTES = 4096;
    private static final int LARGE_BYTES = 1 << 20;

    private AotTraining() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: AotTraining STATE_DIR (an empty or absent scratch directory)");
            System.exit(2);
        }
        Path root = Path.of(args[0]).toAbsolutePath();
        if (Files.isDirectory(root)) {
            try (var entries = Files.list(root)) {
                if (entries.findAny().isPresent()) {
                    System.err.println("AotTraining: " + root + " (expected: an empty or absent directory)");
                    System.exit(2);
                }
            }
        }
        StateDir dir = StateDir.resolve(root, Map.of(), System.getProperty("user.home"));
        Daemon daemon = Daemon.start(new Daemon.Config(dir, "127.0.0.1", -1, true, null));
        int failures = 0;
        try {
            failures += verbs(root);
            nbdTraffic(dir.root().resolve("nbd.sock"), "vol0");
        } finally {
            daemon.stop();
        }
        failures += verb(root, 1, "ls"); // the daemon is gone: the error path users meet first
        if (failures > 0) {
            System.err.println("AotTraining: " + failures + " verbs did not give the expected exit code");
        }
        System.exit(failures == 0 ? 0 : 1);
    }

    /** The verbs people type most, each against the live daemon; returns how many gave a wrong exit code. */
    private static int verbs(Path root) throws IOException {
        Path table = root.resolve("training.table");
        Files.writeString(table, "0 2048 zero\n2048 2048 error\n");
        int failures = 0;
        failures += verb(root, "version");
        failures += verb(root, "ls");
        failures += verb(root, "ls", "--tree");
        failures += verb(root, "ls", "--json");
        failures += verb(root, "targets");
        failures += verb(root, "create", "training0", table.toString());
        failures += verb(root, "table");
        failures += verb(root, "status", "--json");
        failures += verb(root, "info", "vol0");
        failures += verb(root, "deps");
        failures += verb(root, "export", "ls");
        failures += verb(root, "snapshot", "ls");
        failures += verb(root, "stats");
        failures += verb(root, "suspend", "training0");
        failures += verb(root, "resume", "training0");
        failures += verb(root, "remove", "training0");
        failures += verb(root, 1, "table", "no-such-device");
        failures += verb(root, 2, "ls", "--no-such-option");
        failures += verb(root, "--help");
        return failures;
    }

    private static int verb(Path root, String... args) {
        return verb(root, 0, args);
    }

    private static int verb(Path root, int expectedExit, String... args) {
        String[] full = new String[args.length + 2];
        System.arraycopy(args, 0, full, 0, args.length);
        full[args.length] = "--state-dir";
        full[args.length + 1] = root.toString();
        if (args[0].startsWith("--")) {
            full = args;
        }
        StringWriter err = new StringWriter();
        int code = CairnMain.run(new PrintWriter(new StringWriter()), new PrintWriter(err), full);
        if (code != expectedExit) {
            System.err.println("AotTraining: cairn " + String.join(" ", full) + ": exit " + code
                    + " (expected: " + expectedExit + ") " + err.toString().strip());
            return 1;
        }
        return 0;
    }

    /**
     * A plain NBD client (fixed newstyle, OPT_GO, simple replies) that queues requests as fio and
     * nbdcopy do: 32 small or 8 large in flight, then their replies.
     */
    private static void nbdTraffic(Path socket, String export) throws IOException {
        try (SocketChannel ch = SocketChannel.open(UnixDomainSocketAddress.of(socket))) {
            go(ch, export);
            SplittableRandom random = new SplittableRandom(1);
            ByteBuffer small = ByteBuffer.allocateDirect(SMALL_BYTES);
            ByteBuffer large = ByteBuffer.allocateDirect(LARGE_BYTES);
            long cookie = 0;
            for (int round = 0; round < 3; round++) {
                for (int batch = 0; batch < 64; batch++) {
                    cookie = queue(ch, CMD_WRITE, cookie, 32, SMALL_BYTES, random, small);
                    cookie = queue(ch, CMD_READ, cookie, 32, SMALL_BYTES, random, small);
                }
                for (int batch = 0; batch < 8; batch++) {
                    cookie = queue(ch, CMD_WRITE, cookie, 8, LARGE_BYTES, random, large);
                    cookie = queue(ch, CMD_READ, cookie, 8, LARGE_BYTES, random, large);
                }
                cookie = queue(ch, CMD_FLUSH, cookie, 1, 0, random, small);
            }
            ByteBuffer disc = ByteBuffer.allocate(28);
            NbdWire.putRequest(disc, 0, CMD_DISC, cookie, 0, 0);
            writeFully(ch, disc.flip());
        }
    }

    private static void go(SocketChannel ch, String export) throws IOException {
        ByteBuffer hello = readFully(ch, 18);
        if (hello.getLong() != INIT_PASSWD) {
            throw new IOException("not an NBD server");
        }
        byte[] name = export.getBytes(StandardCharsets.UTF_8);
        ByteBuffer opt = ByteBuffer.allocate(4 + 16 + 4 + name.length + 2);
        opt.putInt(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES);
        NbdWire.putOption(opt, OPT_GO, 4 + name.length + 2);
        opt.putInt(name.length).put(name).putShort((short) 0);
        writeFully(ch, opt.flip());
        while (true) {
            ByteBuffer header = readFully(ch, 20);
            if (header.getLong() != OPTION_REPLY_MAGIC) {
                throw new IOException("bad option reply");
            }
            header.getInt();
            int type = header.getInt();
            int length = header.getInt();
            readFully(ch, length);
            if (type == REP_ACK) {
                return;
            }
            if (type < 0) {
                throw new IOException("export " + export + " refused: reply type " + type);
            }
        }
    }

    /** Sends {@code count} requests at random 4 KiB-aligned offsets in the first 256 MiB, then reads their replies. */
    private static long queue(SocketChannel ch, int type, long cookie, int count, int lengthBytes,
                              SplittableRandom random, ByteBuffer data) throws IOException {
        ByteBuffer header = ByteBuffer.allocate(28);
        for (int i = 0; i < count; i++) {
            long offsetBytes = type == CMD_FLUSH ? 0 : (long) random.nextInt((256 << 20) / lengthBytes) * lengthBytes;
            NbdWire.putRequest(header.clear(), 0, type, cookie++, offsetBytes, lengthBytes);
            writeFully(ch, header.flip());
            if (type == CMD_WRITE) {
                writeFully(ch, data.clear());
            }
        }
        for (int i = 0; i < count; i++) {
            ByteBuffer reply = readFully(ch, 16);
            if (reply.getInt() != SIMPLE_REPLY_MAGIC || reply.getInt() != 0) {
                throw new IOException("request failed");
            }
            if (type == CMD_READ) {
                readInto(ch, data.clear());
            }
        }
        return cookie;
    }

    private static ByteBuffer readFully(SocketChannel ch, int lengthBytes) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(lengthBytes);
        while (b.hasRemaining()) {
            readInto(ch, b);
        }
        return b.flip();
    }

    private static void readInto(SocketChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            if (ch.read(b) < 0) {
                throw new IOException("server closed the connection");
            }
        }
    }

    private static void writeFully(SocketChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }
}
