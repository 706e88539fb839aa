package dev.cairn.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Issue 17's export-name rough edge: the printed URIs are RFC 3986-encoded, and real clients parse them. */
class ExportUriTest {
    @TempDir Path tmp;
    private Daemon daemon;

    @AfterEach
    void stop() {
        if (daemon != null) {
            daemon.stop();
        }
    }

    @Test
    void encodesPathsAndQueries() {
        assertThat(Uris.encodePath("a?b")).isEqualTo("a%3Fb");
        assertThat(Uris.encodePath("日本")).isEqualTo("%E6%97%A5%E6%9C%AC");
        assertThat(Uris.encodePath("v-0.x_~")).isEqualTo("v-0.x_~");
        assertThat(Uris.encodeQuery("/a b/nbd.sock")).isEqualTo("/a%20b/nbd.sock");
    }

    @Test
    @SuppressWarnings("unchecked")
    void urisOfOddExportNamesWorkInNbdinfoAndQemuImg() throws Exception {
        assertThat(Path.of("/usr/bin/nbdinfo")).as("nbdinfo is not installed (apt-get install libnbd-bin)").isExecutable();
        assertThat(Path.of("/usr/bin/qemu-img")).as("qemu-img is not installed (apt-get install qemu-utils)").isExecutable();
        StateDir dir = new StateDir(tmp.resolve("state dir"));
        dir.create();
        new StateFile(dir.stateFile()).save(DaemonState.empty());
        daemon = Daemon.start(new Daemon.Config(dir, "127.0.0.1", 0, true,
                new PrintStream(PrintStream.nullOutputStream(), true, StandardCharsets.UTF_8)));
        Wire.call(daemon, "create", (Map.of("name", "z", "table", "0 2048 zero\n", "noExport", true)));
        for (String name : List.of("a?b", "日本", "x%41")) {
            Wire.call(daemon, "export-add", (Map.of("device", "z", "as", name)));
        }
        List<Map<String, Object>> exports = (List<Map<String, Object>>) ((Map<String, Object>) Wire.call(daemon, "export-ls",
                Map.of())).get("exports");
        assertThat(exports).hasSize(3);
        for (Map<String, Object> e : exports) {
            for (String key : List.of("tcpUri", "unixUri")) {
                String uri = (String) e.get(key);
                assertThat(run("nbdinfo", "--size", uri)).as(uri).isEqualTo("1048576\n");
                assertThat(run("qemu-img", "info", "-f", "raw", uri)).as(uri).contains("virtual size: 1 MiB");
            }
        }
    }

    private static String run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(String.join(" ", cmd) + "\n" + out).isZero();
        return out;
    }
}
