package dev.cairn.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import dev.cairn.testkit.Poll;
import dev.cairn.testkit.TlsFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code cairn serve} with TLS through real processes: the secure default for addresses beyond loopback,
 * option errors, X.509 and PSK served to nbdinfo, and certificates reloaded on SIGHUP without dropping the
 * daemon. Certificates come from certtool and psktool; a missing tool fails the test.
 */
class TlsServeIT {
    @TempDir Path tmp;
    private CairnProcesses cairn;
    private Path state;
    private TlsFiles files;

    @BeforeEach
    void setUp() throws Exception {
        cairn = new CairnProcesses(Files.createDirectories(tmp.resolve("logs")));
        state = tmp.resolve("state");
        files = TlsFiles.create(Files.createDirectories(tmp.resolve("tls")));
    }

    @AfterEach
    void tearDown() {
        cairn.close();
    }

    private static String nbdinfo() {
        Path p = Path.of("/usr/bin/nbdinfo");
        if (!Files.isExecutable(p)) {
            fail("nbdinfo is not installed: this test needs it (apt-get install -y libnbd-bin)");
        }
        return p.toString();
    }

    @Test
    void plaintextBeyondLoopbackIsRefusedWithWhyAndHow() throws Exception {
        CairnProcesses.Result r = cairn.cli("serve", "--state-dir", state.toString(), "--listen", "0.0.0.0",
                "--nbd-port", Integer.toString(CairnProcesses.freePort()));
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err()).contains("refusing to serve NBD in plaintext on 0.0.0.0", "read and overwrite every export",
                "--tls require", "--allow-plaintext-remote");
        assertThat(state.resolve("state.json")).as("nothing was started").doesNotExist();
        CairnProcesses.Result on = cairn.cli("serve", "--state-dir", state.toString(), "--listen", "0.0.0.0",
                "--tls", "on", "--tls-certificates", files.pki.toString());
        assertThat(on.exit()).as("--tls on still serves plaintext").isEqualTo(2);
        CairnProcesses.Daemon d = cairn.serve(state, "--listen", "0.0.0.0", "--nbd-port",
                Integer.toString(CairnProcesses.freePort()), "--allow-plaintext-remote");
        assertThat(d.process.isAlive()).as(d.log()).isTrue();
        assertThat(d.stop()).isZero();
    }

    @Test
    void contradictoryOrMissingTlsOptionsAreUsageErrors() throws Exception {
        String[][] cases = {
            {"--tls", "maybe"},
            {"--tls", "require"},
            {"--tls", "off", "--tls-psk", files.psk.toString()},
            {"--tls-certificates", files.pki.toString(), "--tls-psk", files.psk.toString()},
            {"--tls-psk", files.psk.toString(), "--tls-verify-peer"},
        };
        String[] expected = {"--tls: maybe (expected: off, on or require)", "--tls require: no credentials",
            "--tls off: with --tls-psk", "both given", "--tls-verify-peer: without --tls-certificates"};
        for (int i = 0; i < cases.length; i++) {
            String[] args = new String[cases[i].length + 3];
            args[0] = "serve";
            args[1] = "--state-dir";
            args[2] = state.toString();
            System.arraycopy(cases[i], 0, args, 3, cases[i].length);
            CairnProcesses.Result r = cairn.cli(args);
            assertThat(r.exit()).as(String.join(" ", cases[i])).isEqualTo(2);
            assertThat(r.err()).contains(expected[i]);
        }
        CairnProcesses.Result missing = cairn.cli("serve", "--state-dir", state.toString(), "--tls", "require",
                "--tls-certificates", tmp.resolve("nowhere").toString());
        assertThat(missing.exit()).isEqualTo(1);
        assertThat(missing.err()).contains("TLS credentials cannot be loaded", "nowhere");
    }

    @Test
    void x509RequireServesTlsOnlyAndSighupReloadsCertificates() throws Exception {
        Path certs = Files.createDirectories(tmp.resolve("certs"));
        for (String f : new String[] {"ca-cert.pem", "server-cert.pem", "server-key.pem"}) {
            Files.copy(files.pki.resolve(f), certs.resolve(f));
        }
        int port = CairnProcesses.freePort();
        CairnProcesses.Daemon d = cairn.serve(state, "--nbd-port", Integer.toString(port), "--tls", "require",
                "--tls-certificates", certs.toString());
        assertThat(d.process.isAlive()).as(d.log()).isTrue();
        String tcp = "nbds://localhost:" + port + "/vol0?tls-certificates=" + files.pki;
        String unix = "nbds+unix:///vol0?socket=" + state.resolve("nbd.sock") + "&tls-certificates=" + files.pki;
        assertThat(Tools.run(tmp, nbdinfo(), tcp).out()).as(d.log()).contains("newstyle-fixed with TLS", "export-size: 1073741824");
        assertThat(Tools.run(tmp, nbdinfo(), unix).out()).contains("newstyle-fixed with TLS");
        CairnProcesses.Result plain = Tools.run(tmp, nbdinfo(), "nbd://localhost:" + port + "/vol0");
        assertThat(plain.exit()).isNotZero();
        assertThat(plain.out()).contains("without TLS", "Operation not supported");

        // A certificate from a CA the client does not know replaces the good one: SIGHUP picks it up.
        for (String f : new String[] {"server-cert.pem", "server-key.pem"}) {
            Files.copy(files.expired.resolve(f), certs.resolve(f), StandardCopyOption.REPLACE_EXISTING);
        }
        Runtime.getRuntime().exec(new String[] {"kill", "-HUP", Long.toString(d.process.pid())}).waitFor();
        assertThat(Poll.until(() -> {
            try {
                return d.stderr().contains("TLS credentials reloaded");
            } catch (java.io.IOException e) {
                return false;
            }
        }, Duration.ofSeconds(30))).as(d.log()).isTrue();
        CairnProcesses.Result expired = Tools.run(tmp, nbdinfo(), tcp);
        assertThat(expired.exit()).isNotZero();
        assertThat(expired.out()).contains("certificate verification");
        assertThat(d.process.isAlive()).as("SIGHUP does not stop the daemon").isTrue();
        assertThat(d.stop()).isZero();
    }

    /**
     * {@code cairn tls reload}: bad files are refused with the reason and change nothing; good new files (a server
     * certificate from another CA) serve the next client; a libnbd connection opened before both keeps working.
     */
    @Test
    void tlsReloadVerbSwapsCertificatesWithoutDroppingConnections() throws Exception {
        Path certs = Files.createDirectories(tmp.resolve("certs"));
        for (String f : new String[] {"ca-cert.pem", "server-cert.pem", "server-key.pem"}) {
            Files.copy(files.pki.resolve(f), certs.resolve(f));
        }
        int port = CairnProcesses.freePort();
        CairnProcesses.Daemon d = cairn.serve(state, "--nbd-port", Integer.toString(port), "--tls", "require",
                "--tls-certificates", certs.toString());
        assertThat(d.process.isAlive()).as(d.log()).isTrue();
        String oldCa = "nbds://localhost:" + port + "/vol0?tls-certificates=" + files.pki;
        String newCa = "nbds://localhost:" + port + "/vol0?tls-certificates=" + files.otherServer;
        assertThat(Tools.run(tmp, nbdinfo(), oldCa).out()).as(d.log()).contains("newstyle-fixed with TLS");
        // Every URI the CLI prints is the TLS one, and works as printed.
        String tcpUri = "nbds://127.0.0.1:" + port + "/v2?tls-certificates=" + certs;
        String added = cairn.ok("export", "add", "vol0", "--as", "v2", "--state-dir", state.toString());
        assertThat(added).contains("v2\tdevice vol0, 1.0 GiB", "\t" + tcpUri + "\n",
                "\tnbds+unix:///v2?socket=" + state.resolve("nbd.sock") + "&tls-certificates=" + certs);
        assertThat(cairn.ok("export", "ls", "--json", "--state-dir", state.toString())).contains(
                "\"tcpUri\": \"" + tcpUri + "\"").doesNotContain("nbd://");
        assertThat(d.stdout()).contains("nbds://127.0.0.1:" + port + "/?tls-certificates=" + certs);
        assertThat(Tools.run(tmp, nbdinfo(), "--size", tcpUri).out()).isEqualTo("1073741824\n");

        // A libnbd client that stays connected: it writes a pattern, then waits for a line before each read.
        Process held = heldConnection(port, files.pki);
        java.io.BufferedReader heldOut = held.inputReader();
        java.io.Writer heldIn = held.outputWriter();
        assertThat(heldOut.readLine()).as("the held client connected and wrote").isEqualTo("connected");

        // Bad files: a key that is not PEM. The verb fails with the file named; the old certificate stays.
        Files.writeString(certs.resolve("server-key.pem"), "not a key\n");
        CairnProcesses.Result bad = cairn.cli("tls", "reload", "--state-dir", state.toString());
        assertThat(bad.exit()).as(bad.toString()).isEqualTo(1);
        assertThat(bad.err()).contains("server-key.pem", "the old credentials stay in use");
        assertThat(Tools.run(tmp, nbdinfo(), oldCa).out()).as("still the old certificate").contains("with TLS");
        assertThat(converse(heldIn, heldOut)).isEqualTo("read ok");

        // The swap: another CA's certificate. Until the reload new clients still get the old one.
        for (String f : new String[] {"ca-cert.pem", "server-cert.pem", "server-key.pem"}) {
            Files.copy(files.otherServer.resolve(f), certs.resolve(f), StandardCopyOption.REPLACE_EXISTING);
        }
        CairnProcesses.Result before = Tools.run(tmp, nbdinfo(), newCa);
        assertThat(before.exit()).isNotZero();
        assertThat(before.out()).contains("certificate verification");
        String json = cairn.ok("tls", "reload", "--json", "--state-dir", state.toString());
        assertThat(json).contains("\"mode\": \"require\"", "\"reloads\": 1");
        assertThat(Tools.run(tmp, nbdinfo(), newCa).out()).as(d.log()).contains("newstyle-fixed with TLS",
                "export-size: 1073741824");
        CairnProcesses.Result old = Tools.run(tmp, nbdinfo(), oldCa);
        assertThat(old.exit()).isNotZero();
        assertThat(old.out()).contains("certificate verification");
        // The connection from before both reloads was not dropped: same session, the pattern reads back.
        assertThat(converse(heldIn, heldOut)).isEqualTo("read ok");
        assertThat(cairn.ok("tls", "reload", "--state-dir", state.toString())).contains(
                "TLS credentials reloaded from X.509 " + certs, "--tls require", "2 reloads");
        heldIn.close();
        assertThat(held.waitFor(60, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        assertThat(held.exitValue()).isZero();
        assertThat(d.stop()).isZero();

        // A daemon without TLS: a clear error, exit 1.
        CairnProcesses.Daemon plain = cairn.serve(tmp.resolve("plain"), "--no-tcp");
        CairnProcesses.Result off = cairn.cli("tls", "reload", "--state-dir", tmp.resolve("plain").toString());
        assertThat(off.exit()).isEqualTo(1);
        assertThat(off.err()).contains("TLS is off on this daemon", "hint: restart it with --tls require");
        assertThat(plain.stop()).isZero();
    }

    /** libnbd's Python binding (python3-libnbd): connect over TLS, write 1 MiB of 0xab, then one read per line read. */
    private Process heldConnection(int port, Path pki) throws Exception {
        if (!Files.exists(Path.of("/usr/lib/python3/dist-packages/nbd.py"))) {
            fail("python3-libnbd is not installed: this test needs it (apt-get install -y python3-libnbd)");
        }
        String script = String.join("\n",
                "import sys, nbd",
                "h = nbd.NBD()",
                "h.set_tls(nbd.TLS_REQUIRE)",
                "h.set_tls_certificates(sys.argv[2])",
                "h.set_export_name('vol0')",
                "h.connect_tcp('localhost', sys.argv[1])",
                "assert h.get_tls_negotiated()",
                "h.pwrite(b'\\xab' * 1048576, 0)",
                "print('connected', flush=True)",
                "for line in sys.stdin:",
                "    ok = h.pread(1048576, 0) == b'\\xab' * 1048576",
                "    print('read ok' if ok else 'read MISMATCH', flush=True)",
                "h.shutdown()",
                "");
        return new ProcessBuilder("/usr/bin/python3", "-c", script, Integer.toString(port), pki.toString())
                .redirectError(tmp.resolve("held.err").toFile()).start();
    }

    private static String converse(java.io.Writer in, java.io.BufferedReader out) throws Exception {
        in.write("read\n");
        in.flush();
        return out.readLine();
    }

    @Test
    void pskRequire() throws Exception {
        CairnProcesses.Daemon d = cairn.serve(state, "--no-tcp", "--tls", "require", "--tls-psk", files.psk.toString());
        assertThat(d.process.isAlive()).as(d.log()).isTrue();
        String uri = "nbds+unix://alice@/vol0?socket=" + state.resolve("nbd.sock") + "&tls-psk-file=" + files.psk;
        assertThat(Tools.run(tmp, nbdinfo(), uri).out()).contains("newstyle-fixed with TLS", "export-size: 1073741824");
        CairnProcesses.Result wrong = Tools.run(tmp, nbdinfo(), "nbds+unix://alice@/vol0?socket=" + state.resolve("nbd.sock")
                + "&tls-psk-file=" + files.wrongPskDir.resolve("keys.psk"));
        assertThat(wrong.exit()).isNotZero();
        assertThat(wrong.out()).contains("gnutls_handshake");
        assertThat(d.stop()).isZero();
    }
}
