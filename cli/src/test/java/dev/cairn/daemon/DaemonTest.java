package dev.cairn.daemon;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.testkit.Poll;
import java.io.ByteArrayOutputStream;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The daemon in-process: persistence after every change, restore order, what a restore cannot do. */
class DaemonTest {
    @TempDir Path tmp;
    private Daemon daemon;
    private ByteArrayOutputStream banner;

    @AfterEach
    void stop() {
        if (daemon != null) {
            daemon.stop();
        }
    }

    private StateDir dir() {
        return new StateDir(tmp.resolve("state"));
    }

    private Daemon start() throws Exception {
        banner = new ByteArrayOutputStream();
        daemon = Daemon.start(new Daemon.Config(dir(), "127.0.0.1", 0, true, new PrintStream(banner, true, StandardCharsets.UTF_8)));
        return daemon;
    }

    private void restart() throws Exception {
        daemon.stop();
        daemon = null;
        start();
    }

    private Object call(String verb, Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return Wire.call(daemon, verb, m);
    }

    private DaemonState saved() throws Exception {
        return new StateFile(dir().stateFile()).load();
    }

    @SuppressWarnings("unchecked")
    private Map<String, Object> info(String name) {
        Map<String, Object> r = (Map<String, Object>) call("info", "name", name);
        return (Map<String, Object>) ((List<Object>) r.get("devices")).get(0);
    }

    @Test
    @SuppressWarnings("unchecked")
    void infoShowsTheStackedQueueLimits() throws Exception {
        start();
        call("create", "name", "st", "table", "0 4096 striped 2 128 mem:1M 0 mem:1M 0\n", "noExport", true);
        Map<String, Object> limits = (Map<String, Object>) info("st").get("limits");
        assertThat(limits).containsEntry("logicalBlockBytes", 512L).containsEntry("physicalBlockBytes", 4096L)
                .containsEntry("optimalIoBytes", 131072L); // a full stripe: 2 x 64 KiB
    }

    @Test
    void firstStartMakesVol0AndTheBannerSaysHowToConnect() throws Exception {
        start();
        String text = banner.toString(StandardCharsets.UTF_8);
        assertThat(text).contains("first start: created vol0 (1 GiB", "exports: vol0", "nbd://127.0.0.1:" + daemon.nbdPort() + "/",
                "nbd+unix:///?socket=" + dir().nbdSocket(), "qemu-io -f raw", "bin/cairn snapshot create vol0 snap1");
        assertThat(saved().device("vol0").table()).isEqualTo("0 2097152 linear file:" + dir().imagesDir().resolve("vol0.img") + " 0\n");
        assertThat(saved().export("vol0")).isNotNull();
        assertThat(Files.size(dir().imagesDir().resolve("vol0.img"))).isEqualTo(1L << 30);
        restart();
        assertThat(banner.toString(StandardCharsets.UTF_8)).doesNotContain("first start").contains("exports: vol0");
        assertThat(info("vol0")).containsEntry("openCount", 1L).containsEntry("exports", List.of("vol0"));
    }

    @Test
    @SuppressWarnings("unchecked")
    void targetsListsEachTypeWithItsOwnVersion() throws Exception {
        start();
        List<Object> types = (List<Object>) ((Map<String, Object>) call("targets")).get("targets");
        assertThat(types).contains(Map.of("name", "linear", "version", "1.0.0"),
                Map.of("name", "snapshot-merge", "version", "1.0.0"));
        assertThat(types).extracting(t -> ((Map<String, Object>) t).get("version"))
                .doesNotContain(Version.current());
    }

    @Test
    @SuppressWarnings("unchecked")
    void lsTreeKeepsTheStackingAsNestedChildren() throws Exception {
        start();
        call("create", "name", "base", "table", "0 2048 zero\n", "noExport", true);
        call("create", "name", "top", "table", "0 2048 linear base 0\n");
        Map<String, Object> ls = (Map<String, Object>) call("ls", "tree", true);
        Map<String, Object> top = ((List<Map<String, Object>>) ls.get("tree")).stream()
                .filter(n -> "top".equals(n.get("name"))).findFirst().orElseThrow();
        List<Map<String, Object>> children = (List<Map<String, Object>>) top.get("children");
        assertThat(children).extracting(c -> c.get("name")).containsExactly("base");
        assertThat((String) ls.get("treeText")).contains("top\n `-base\n");
    }

    @Test
    void everyChangeIsPersistedAndRestored() throws Exception {
        start();
        call("create", "name", "base", "table", "0 2048 zero\n", "noExport", true);
        call("create", "name", "top", "table", "0 2048 linear base 0\n");
        call("load", "name", "top", "table", "0 1024 linear base 0\n1024 1024 error\n");
        call("suspend", "name", "top");
        DaemonState s = saved();
        assertThat(s.device("top").inactive()).isEqualTo("0 1024 linear base 0\n1024 1024 error\n");
        assertThat(s.device("top").suspended()).isTrue();
        assertThat(s.device("top").deps()).containsExactly("base");
        assertThat(s.export("base")).isNull();

        restart();
        assertThat(info("top")).containsEntry("state", "SUSPENDED").containsEntry("inactiveTable", true);
        call("resume", "name", "top");
        assertThat(saved().device("top").table()).isEqualTo("0 1024 linear base 0\n1024 1024 error\n");
        assertThat(saved().device("top").inactive()).isNull();
        restart();
        assertThat(info("top")).containsEntry("state", "ACTIVE").containsEntry("targets", 2L);
        assertThat(info("base")).containsEntry("holders", List.of("top"));

        call("remove", "name", "top");
        assertThat(saved().device("top")).isNull();
        assertThat(saved().export("top")).isNull();
    }

    @Test
    @SuppressWarnings("unchecked")
    void aDeviceThatCannotBeRestoredKeepsItsTable() throws Exception {
        Path img = Files.createDirectories(tmp.resolve("imgs")).resolve("d.img");
        Images.createSparse(img, 1 << 20);
        start();
        String table = "0 2048 linear file:" + img + " 0\n";
        call("create", "name", "d", "table", table);
        daemon.stop();
        daemon = null;
        Files.move(img, img.resolveSibling("moved.img"));
        start();
        assertThat(banner.toString(StandardCharsets.UTF_8)).contains("PROBLEM: d:");
        assertThat(info("d")).containsEntry("liveTable", false);
        assertThat(saved().device("d").table()).isEqualTo(table);
        // cairn table shows the saved table, marked as not live.
        Map<String, Object> t = (Map<String, Object>) ((List<Object>) ((Map<String, Object>) call("table", "name", "d"))
                .get("devices")).get(0);
        assertThat(t).containsEntry("lines", List.of()).containsEntry("savedTable", table);
        // Fixed by the user: move the file back, load, resume.
        Files.move(img.resolveSibling("moved.img"), img);
        call("load", "name", "d", "table", table);
        call("resume", "name", "d");
        assertThat(info("d")).containsEntry("liveTable", true).containsEntry("sectors", 2048L);
    }

    @Test
    void transientSnapshotsDoNotSurviveARestart() throws Exception {
        start();
        call("snapshot-create", "origin", "vol0", "name", "t", "transient", true, "sizeBytes", 1L << 20);
        assertThat(saved().snapshot("t")).isNotNull();
        restart();
        assertThat(banner.toString(StandardCharsets.UTF_8)).contains("transient snapshot t of vol0 did not survive the restart");
        assertThat(saved().snapshot("t")).isNull();
        assertThat(saved().device("vol0-real")).isNull();
        assertThat(saved().device("vol0").table()).contains(" linear file:");
        assertThatThrownBy(() -> call("info", "name", "t")).isInstanceOf(DaemonException.class);
    }

    @Test
    void snapshotCreateRollsBackCompletely() throws Exception {
        start();
        DaemonState before = saved();
        // A COW path in a directory that does not exist fails after the origin was suspended... no:
        // it fails at once; a chunk the target refuses fails after ORIGIN-real was created.
        assertThatThrownBy(() -> call("snapshot-create", "origin", "vol0", "name", "s", "chunkSectors", 1L << 21))
                .isInstanceOf(DaemonException.class);
        Path cow = tmp.resolve("tiny.cow");
        Images.createSparse(cow, 512); // too small for even a header chunk: the snapshot target refuses it
        assertThatThrownBy(() -> call("snapshot-create", "origin", "vol0", "name", "s", "cow", cow.toString()))
                .isInstanceOf(DaemonException.class).hasMessageContaining("bad table");
        assertThat(saved()).isEqualTo(before);
        assertThat(info("vol0")).containsEntry("state", "ACTIVE").containsEntry("inactiveTable", false);
        assertThatThrownBy(() -> call("info", "name", "vol0-real")).isInstanceOf(DaemonException.class);
        assertThatThrownBy(() -> call("info", "name", "s")).isInstanceOf(DaemonException.class);
        assertThat(Files.exists(cow)).as("a COW the user gave is never deleted").isTrue();
    }

    /** A client in the transmission phase on {@code export}: fixed newstyle, NBD_OPT_EXPORT_NAME. */
    private SocketChannel nbdClient(String export) throws Exception {
        SocketChannel ch = SocketChannel.open(new InetSocketAddress("127.0.0.1", daemon.nbdPort()));
        ByteBuffer greeting = ByteBuffer.allocate(18);
        while (greeting.hasRemaining()) {
            assertThat(ch.read(greeting)).isNotNegative();
        }
        assertThat(greeting.getLong(0)).isEqualTo(0x4e42444d41474943L); // NBDMAGIC
        assertThat(greeting.getLong(8)).isEqualTo(0x49484156454f5054L); // IHAVEOPT
        byte[] name = export.getBytes(StandardCharsets.UTF_8);
        ByteBuffer out = ByteBuffer.allocate(4 + 16 + name.length);
        out.putInt(3); // FIXED_NEWSTYLE | NO_ZEROES
        out.putLong(0x49484156454f5054L).putInt(1).putInt(name.length).put(name); // NBD_OPT_EXPORT_NAME
        out.flip();
        while (out.hasRemaining()) {
            ch.write(out);
        }
        ByteBuffer reply = ByteBuffer.allocate(10); // size, transmission flags
        while (reply.hasRemaining()) {
            assertThat(ch.read(reply)).as("the server accepted export " + export).isNotNegative();
        }
        return ch;
    }

    @Test
    void removeRefusesADeviceWithConnectedNbdClientsUnlessForced() throws Exception {
        start();
        call("create", "name", "busy", "table", "0 2048 zero\n");
        SocketChannel client = nbdClient("busy");
        DaemonState before = saved();
        assertThatThrownBy(() -> call("remove", "name", "busy"))
                .isInstanceOfSatisfying(DaemonException.class, e -> {
                    assertThat(e.kind()).isEqualTo(ErrorKind.BUSY);
                    assertThat(e.getMessage()).isEqualTo("device busy is open: NBD clients are connected to export busy (1 client)");
                    assertThat(e.hint()).contains("cairn remove --force busy");
                });
        assertThat(saved()).as("a refused remove changes nothing").isEqualTo(before);
        assertThat(info("busy")).containsEntry("state", "ACTIVE");

        client.close();
        // the server notices the closed socket on its own thread: BUSY until then
        assertThat(Poll.until(() -> removedUnlessBusy("busy"), Duration.ofSeconds(10)))
                .as("the connection ended within 10 s").isTrue();
        assertThat(saved().device("busy")).isNull();

        call("create", "name", "busy2", "table", "0 2048 zero\n");
        try (SocketChannel other = nbdClient("busy2")) {
            call("remove", "name", "busy2", "force", true);
            assertThat(saved().device("busy2")).isNull();
            other.configureBlocking(false);
            ByteBuffer b = ByteBuffer.allocate(1);
            int[] n = {0};
            Poll.until(() -> {
                try {
                    return (n[0] = other.read(b)) != 0;
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            }, Duration.ofSeconds(10));
            assertThat(n[0]).as("a forced remove closes the client's connection").isNegative();
        }
    }

    /** Removes {@code name}; false while the daemon still refuses because it is BUSY. */
    private boolean removedUnlessBusy(String name) {
        try {
            call("remove", "name", name);
            return true;
        } catch (DaemonException e) {
            assertThat(e.kind()).isEqualTo(ErrorKind.BUSY);
            return false;
        }
    }
}
