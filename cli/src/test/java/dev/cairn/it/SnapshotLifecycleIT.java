package dev.cairn.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.testkit.Poll;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The end-to-end story through the real daemon and CLI processes and real NBD clients: a stack
 * from a table file, a pattern written with qemu-io, a snapshot, the origin overwritten, the snapshot
 * still showing the old pattern, a merge with progress, the origin equal to the snapshot; with a
 * daemon restart between the steps.
 */
class SnapshotLifecycleIT {
    @TempDir Path tmp;
    private CairnProcesses cairn;
    private Path logs;
    private Path state;
    private int port;
    private CairnProcesses.Daemon daemon;

    @BeforeEach
    void setUp() throws Exception {
        Tools.require("qemu-io", "qemu-utils");
        Tools.require("nbdcopy", "libnbd-bin");
        logs = Files.createDirectories(tmp.resolve("logs"));
        cairn = new CairnProcesses(logs, tmp);
        state = tmp.resolve("state");
        port = CairnProcesses.freePort();
    }

    @AfterEach
    void tearDown() {
        if (cairn != null) {
            cairn.close();
        }
    }

    private void start() throws Exception {
        daemon = cairn.serve(state, "--nbd-port", Integer.toString(port));
        assertThat(daemon.process.isAlive()).as(daemon.log()).isTrue();
    }

    private void restart() throws Exception {
        assertThat(daemon.stop()).as("SIGTERM exit code\n" + daemon.log()).isZero();
        start();
    }

    private String ok(String... args) throws Exception {
        String[] full = new String[args.length + 2];
        System.arraycopy(args, 0, full, 0, args.length);
        full[args.length] = "--state-dir";
        full[args.length + 1] = state.toString();
        return cairn.ok(full);
    }

    private String okUnchecked(String... args) {
        try {
            return ok(args);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private String uri(String export) {
        return "nbd://127.0.0.1:" + port + "/" + export;
    }

    /** Whether the 4 KiB at {@code offsetBytes} of {@code file} all hold {@code value}. */
    private static boolean filledWith(Path file, long offsetBytes, byte value) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(4096);
            while (b.hasRemaining() && ch.read(b, offsetBytes + b.position()) > 0) {
                // read on
            }
            if (b.hasRemaining() && value != 0) {
                return false;
            }
            for (int i = 0; i < b.position(); i++) {
                if (b.get(i) != value) {
                    return false;
                }
            }
            return true;
        } catch (java.io.IOException e) {
            return false;
        }
    }

    private static String sha256(Path file) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        try (var in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 20];
            int n;
            while ((n = in.read(buf)) > 0) {
                md.update(buf, 0, n);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    @Test
    void stackSnapshotOverwriteMergeWithRestartsBetweenSteps() throws Exception {
        start();
        // A stack from a table file: two images concatenated (relative file: paths, resolved by the CLI),
        // and a linear device on top of that.
        cairn.ok("image", "create", "a.img", "32M");
        cairn.ok("image", "create", "b.img", "32M");
        Files.writeString(tmp.resolve("disk.table"), """
                # two 32 MiB images back to back
                0 65536 linear file:a.img 0
                65536 65536 linear file:b.img 0
                """);
        ok("create", "disk", "--table-file", "disk.table", "--no-export");
        ok("create", "top", "--table", "0 131072 linear disk 0");
        assertThat(ok("ls", "--tree")).contains("top\n `-disk\n");
        // --json keeps the tree: each device with the devices it uses as children.
        List<?> roots = (List<?>) dev.cairn.daemon.JsonCodec.parseObject(ok("ls", "--tree", "--json")).get("tree");
        java.util.Map<?, ?> topNode = roots.stream().map(java.util.Map.class::cast)
                .filter(n -> "top".equals(n.get("name"))).findFirst().orElseThrow();
        assertThat(((List<?>) topNode.get("children")).stream().map(c -> (Object) ((java.util.Map<?, ?>) c).get("name")).toList())
                .containsExactly("disk");
        assertThat(ok("table", "disk")).isEqualTo("0 65536 linear file:" + tmp.resolve("a.img") + " 0\n"
                + "65536 65536 linear file:" + tmp.resolve("b.img") + " 0\n");

        // A pattern across the boundary between the two images, flushed.
        Tools.qemuIo(logs, uri("top"), "write -P 0xab 30M 4M", "write -P 0x11 0 64k", "flush");

        restart();
        assertThat(ok("ls")).contains("disk\t", "top\t", "vol0\t");
        Tools.qemuIo(logs, uri("top"), "read -P 0xab 30M 4M", "read -P 0x11 0 64k");

        // The snapshot.
        assertThat(ok("snapshot", "create", "top", "snap1", "--size", "16M")).contains("snapshot snap1 of top created");
        assertThat(ok("table", "top")).isEqualTo("0 131072 snapshot-origin top-real\n");
        assertThat(ok("snapshot", "ls")).contains("snap1", "top", "active");

        restart();
        assertThat(ok("snapshot", "ls")).contains("snap1", "active");
        assertThat(ok("ls", "--tree")).contains("top-real");

        // Overwrite the origin: the snapshot keeps the old data.
        Tools.qemuIo(logs, uri("top"), "write -P 0xcd 31M 2M", "write -P 0x22 0 4k", "flush");
        Tools.qemuIo(logs, uri("snap1"), "read -P 0xab 30M 4M", "read -P 0x11 0 64k");
        Tools.qemuIo(logs, uri("top"), "read -P 0xcd 31M 2M", "read -P 0xab 30M 1M", "read -P 0x22 0 4k");
        assertThat(ok("status", "snap1")).matches("0 131072 snapshot \\d+/\\d+ \\d+\\n");

        restart();
        Tools.qemuIo(logs, uri("snap1"), "read -P 0xab 30M 4M", "read -P 0x11 0 64k");
        Tools.qemuIo(logs, uri("top"), "read -P 0xcd 31M 2M");
        Path snapCopy = tmp.resolve("snap1.copy");
        Tools.nbdcopy(logs, uri("snap1"), snapCopy);

        // Merge with progress: the origin goes back to the snapshot's contents.
        CairnProcesses.Result merge = cairn.cli("snapshot", "merge", "snap1", "--state-dir", state.toString());
        assertThat(merge.exit()).as(merge.toString()).isZero();
        assertThat(merge.out()).contains("merged snap1 into top");
        assertThat(merge.err()).as("no progress frames when stderr is not a terminal").doesNotContain("\r", "100%");
        assertThat(ok("snapshot", "ls")).contains("No snapshots");
        assertThat(ok("table", "top")).isEqualTo("0 131072 linear disk 0\n");
        Tools.qemuIo(logs, uri("top"), "read -P 0xab 30M 4M", "read -P 0x11 0 64k");
        Path topCopy = tmp.resolve("top.copy");
        Tools.nbdcopy(logs, uri("top"), topCopy);
        assertThat(sha256(topCopy)).isEqualTo(sha256(snapCopy));

        restart();
        assertThat(ok("ls")).doesNotContain("top-real", "snap1");
        Tools.qemuIo(logs, uri("top"), "read -P 0xab 30M 4M", "read -P 0x11 0 64k");
        assertThat(daemon.stop()).isZero();
    }

    @Test
    void mergeInTheBackgroundSurvivesARestart() throws Exception {
        start();
        Tools.qemuIo(logs, uri("vol0"), "write -P 0x31 0 8M", "flush");
        ok("snapshot", "create", "vol0", "s", "--chunk", "16");
        Tools.qemuIo(logs, uri("vol0"), "write -P 0x32 0 8M", "flush");
        assertThat(ok("snapshot", "merge", "s", "--background")).contains("in the background");
        // Restart at once: the merge table is in the state file, so the merge goes on (or is already done).
        restart();
        if (!Poll.until(() -> okUnchecked("snapshot", "ls").contains("No snapshots"), Duration.ofSeconds(60))) {
            throw new AssertionError("merge did not finish in 60 s: " + ok("snapshot", "ls") + ok("status") + daemon.log());
        }
        Tools.qemuIo(logs, uri("vol0"), "read -P 0x31 0 8M");
        assertThat(ok("table", "vol0")).startsWith("0 2097152 linear file:");
    }

    @Test
    void kill9MidWriteKeepsAcknowledgedDurableData() throws Exception {
        start();
        // Durable: written and flushed (qemu-io's flush is NBD FLUSH, answered after fdatasync).
        Tools.qemuIo(logs, uri("vol0"), "write -P 0x5a 0 8M", "flush");
        ok("snapshot", "create", "vol0", "before", "--size", "64M");
        Tools.qemuIo(logs, uri("vol0"), "write -P 0x6b 1M 1M", "flush");
        // Mid-write: a client writes 48 MiB, 1 MiB at a time in order (FUA, each after a COW copy), while the
        // daemon dies. The kill follows the first MiB reaching the image; afterwards the image shows that it
        // landed before the last MiB (the first is there, the last is not): a kill after the whole write would
        // prove nothing, so the test fails then instead of passing.
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
        int writesMib = 48;
        for (int i = 0; i < writesMib; i++) {
            cmd.addAll(List.of("-c", "write -f -P 0x7c " + (16 + i) + "M 1M"));
        }
        cmd.addAll(List.of("-c", "flush", uri("vol0")));
        Path image = state.resolve("images").resolve("vol0.img");
        Process writer = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(logs.resolve("midwrite.out").toFile()).start();
        try {
            assertThat(Poll.until(() -> filledWith(image, 16L << 20, (byte) 0x7c), Duration.ofSeconds(60)))
                    .as("the first MiB of the write reached the image").isTrue();
            daemon.kill9();
            assertThat(filledWith(image, (16L + writesMib - 1) << 20, (byte) 0))
                    .as("the kill landed mid-write: the last MiB never reached the image").isTrue();
            writer.waitFor(60, TimeUnit.SECONDS);
        } finally {
            writer.destroyForcibly();
        }

        start();
        Tools.qemuIo(logs, uri("vol0"), "read -P 0x5a 0 1M", "read -P 0x6b 1M 1M", "read -P 0x5a 2M 6M");
        Tools.qemuIo(logs, uri("before"), "read -P 0x5a 0 8M");
        assertThat(ok("snapshot", "ls")).contains("before", "active");
        assertThat(daemon.stop()).isZero();
    }
}
