package dev.cairn.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.nbd.server.ServerTls;
import dev.cairn.nbd.server.TlsConfig;
import dev.cairn.nbd.server.TlsMode;
import dev.cairn.testkit.TlsFiles;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 17's export-name rough edge: the printed URIs are RFC 3986-encoded, and real clients parse them. Issue 20:
 * under TLS every printed URI is libnbd's {@code nbds} form with the credentials a local client needs, and the
 * banner's example commands (qemu-io with its TLS objects, nbdinfo) run as printed.
 */
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

    @Test
    @SuppressWarnings("unchecked")
    void underTlsRequireEveryPrintedUriIsNbdsAndWorksInRealClients() throws Exception {
        TlsFiles files = TlsFiles.create(tmp.resolve("tls"));
        for (TlsConfig.Credentials creds : List.of(new TlsConfig.X509(files.pki, false), new TlsConfig.Psk(files.psk))) {
            boolean psk = creds instanceof TlsConfig.Psk;
            StateDir dir = new StateDir(tmp.resolve(psk ? "psk" : "x509"));
            java.io.ByteArrayOutputStream banner = new java.io.ByteArrayOutputStream();
            daemon = Daemon.start(new Daemon.Config(dir, "127.0.0.1", 0, true, new PrintStream(banner, true,
                    StandardCharsets.UTF_8), ServerTls.load(new TlsConfig(TlsMode.REQUIRE, creds)), false));
            int port = daemon.nbdPort();
            String user = psk ? "alice@" : "";
            String query = psk ? "tls-psk-file=" + files.psk : "tls-certificates=" + files.pki;
            String text = banner.toString(StandardCharsets.UTF_8);
            assertThat(text).contains("NBD (TCP):  nbds://" + user + "127.0.0.1:" + port + "/?" + query,
                    "NBD (Unix): nbds+unix://" + user + "/?socket=" + dir.nbdSocket() + "&" + query).doesNotContain("nbd://");
            Map<String, Object> version = (Map<String, Object>) Wire.call(daemon, "version", (Map.of()));
            assertThat((String) version.get("nbdTcp")).startsWith("nbds://");
            assertThat((String) version.get("nbdUnix")).startsWith("nbds+unix://");

            Wire.call(daemon, "create", (Map.of("name", "z", "table", "0 2048 zero\n", "noExport", true)));
            Wire.call(daemon, "export-add", (Map.of("device", "z", "as", "a?b")));
            List<Map<String, Object>> exports = (List<Map<String, Object>>) ((Map<String, Object>) Wire.call(daemon, "export-ls", (Map.of()))).get("exports");
            Map<String, Object> ab = exports.stream().filter(e -> e.get("name").equals("a?b")).findFirst().orElseThrow();
            assertThat(ab.get("tcpUri")).isEqualTo("nbds://" + user + "127.0.0.1:" + port + "/a%3Fb?" + query);
            for (String key : List.of("tcpUri", "unixUri")) {
                String uri = (String) ab.get(key);
                assertThat(run("nbdinfo", "--size", uri)).as(uri).isEqualTo("1048576\n");
                String plain = uri.replaceFirst("^nbds", "nbd");
                assertThat(runFails("nbdinfo", "--size", plain)).as("the plaintext URI is refused").contains("Operation not supported");
            }
            // The banner's example commands, run as a user pastes them: qemu-io writes and reads vol0 over TLS.
            List<String> examples = text.lines().map(String::strip).filter(l -> l.startsWith("qemu-io ")
                    || l.startsWith("nbdinfo ")).toList();
            assertThat(examples).as(text).hasSize(2);
            for (String command : examples) {
                assertThat(run("bash", "-c", command)).as(command).doesNotContain("Pattern verification failed");
            }
            daemon.stop();
            daemon = null;
        }
    }

    @Test
    void tlsOnPrintsTheEncryptedUriAndAPskFileNotNamedKeysPskGetsNoQemuExample() throws Exception {
        TlsFiles files = TlsFiles.create(tmp.resolve("tls"));
        Path keys = java.nio.file.Files.copy(files.psk, tmp.resolve("cairn.psk"));
        ServerTls tls = ServerTls.load(new TlsConfig(TlsMode.ON, new TlsConfig.Psk(keys)));
        NbdUris uris = new NbdUris("0.0.0.0", 10809, Path.of("/run/c/nbd.sock"), tls);
        assertThat(uris.tcp("v 1")).isEqualTo("nbds://alice@localhost:10809/v%201?tls-psk-file=" + keys);
        assertThat(uris.unix("")).isEqualTo("nbds+unix://alice@/?socket=/run/c/nbd.sock&tls-psk-file=" + keys);
        assertThat(uris.examples("v")).containsExactly("nbdinfo nbds://alice@localhost:10809/v?tls-psk-file=" + keys);
        NbdUris plain = new NbdUris("::1", 10809, Path.of("/run/c/nbd.sock"), null);
        assertThat(plain.tcp("v")).isEqualTo("nbd://[::1]:10809/v");
        assertThat(plain.examples("v")).containsExactly("qemu-io -f raw -c 'write -P 0xab 0 1M' -c 'read -P 0xab 0 1M' "
                + "'nbd://[::1]:10809/v'", "nbdinfo 'nbd://[::1]:10809/v'");
        NbdUris unixOnly = new NbdUris("127.0.0.1", -1, Path.of("/run/c/nbd.sock"), ServerTls.load(
                new TlsConfig(TlsMode.REQUIRE, new TlsConfig.X509(files.pki, false))));
        assertThat(unixOnly.examples("v")).containsExactly("qemu-io --object tls-creds-x509,id=tls0,dir=" + files.pki
                + ",endpoint=client --image-opts driver=nbd,server.type=unix,server.path=/run/c/nbd.sock,export=v,"
                + "tls-creds=tls0,tls-hostname=localhost -c 'write -P 0xab 0 1M' -c 'read -P 0xab 0 1M'",
                "nbdinfo 'nbds+unix:///v?socket=/run/c/nbd.sock&tls-certificates=" + files.pki + "'");
    }

    private static String runFails(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(String.join(" ", cmd) + "\n" + out).isNotZero();
        return out;
    }

    private static String run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(String.join(" ", cmd) + "\n" + out).isZero();
        return out;
    }
}
