package dev.cairn.nbd.server;

import dev.cairn.testkit.ExternalTools;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.testkit.TlsFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real GnuTLS clients against the server's TLS: libnbd's nbdinfo and nbdcopy ({@code nbds://} URIs), qemu-img
 * and qemu-io ({@code --object tls-creds-x509|tls-creds-psk}), with X.509 and PSK, moving pattern data (nbdcopy
 * with its default four connections: multi-conn; 32 MiB reads: large replies under TLS). Refusals: a wrong
 * key, an unknown CA, an expired certificate, a plaintext client against {@code require}; after each, a good
 * client still works. Each test prints the protocol and cipher suite each client negotiated (server stats and
 * {@code LIBNBD_DEBUG}). Certificates and keys come from certtool/psktool; a missing tool fails the test.
 */
class TlsRealClientsIT {
    private static final Duration T = Duration.ofSeconds(180);
    private static final long MIB = 1 << 20;

    @TempDir
    static Path dir;
    static TlsFiles files;
    @TempDir
    Path work;

    private Submitter submitter;
    private NbdServer server;
    private ServerTls tls;
    private Path socket;

    @BeforeAll
    static void certificates() {
        files = TlsFiles.create(dir);
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
            assertThat(server.internalErrors()).isZero();
            System.out.println("negotiated: " + tls.stats());
        }
        if (submitter != null) {
            submitter.close();
        }
    }

    private void start(TlsConfig.Credentials creds) throws IOException {
        tls = ServerTls.load(new TlsConfig(TlsMode.REQUIRE, creds));
        socket = work.resolve("nbd.sock");
        submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
        server = NbdServer.builder().submitter(submitter).unix(socket).tcp("127.0.0.1", 0).tls(tls).build();
        server.addExport(NbdExport.of("disk", new MemoryStore("disk", 256 * MIB)).description("scratch"));
        server.start();
    }

    private static String nbdinfo() {
        return ExternalTools.require("nbdinfo", "libnbd-bin");
    }

    private static String nbdcopy() {
        return ExternalTools.require("nbdcopy", "libnbd-bin");
    }

    private static String qemuImg() {
        return ExternalTools.require("qemu-img", "qemu-utils");
    }

    private static String qemuIo() {
        return ExternalTools.require("qemu-io", "qemu-utils");
    }

    private String x509Uri() {
        return "nbds+unix:///disk?socket=" + socket + "&tls-certificates=" + files.pki;
    }

    private String pskUri(Path pskFile) {
        return "nbds+unix://alice@/disk?socket=" + socket + "&tls-psk-file=" + pskFile;
    }

    private String tcpUri(Path caDir) {
        return "nbds://localhost:" + server.tcpPort() + "/disk?tls-certificates=" + caDir;
    }

    /** Prints libnbd's "connection is using TLS: cipher ..." line and returns nbdinfo's output. */
    private ExternalTools.Result nbdinfoDebug(String uri) {
        ExternalTools.Result r = ExternalTools.run(T, Map.of("LIBNBD_DEBUG", "1"), nbdinfo(), uri);
        r.stderr().lines().filter(l -> l.contains("connection is using TLS"))
                .forEach(l -> System.out.println("nbdinfo: " + l.replaceAll(".*connection is using TLS", "TLS")));
        return r;
    }

    private List<String> qemuImage(String credsObject, boolean x509) {
        List<String> opts = new ArrayList<>(List.of("--object", credsObject, "--image-opts",
                "driver=nbd,server.type=unix,server.path=" + socket + ",export=disk,tls-creds=tls0"
                        + (x509 ? ",tls-hostname=localhost" : "")));
        return opts;
    }

    private String x509ClientCreds(Path d) {
        return "tls-creds-x509,id=tls0,dir=" + d + ",endpoint=client";
    }

    private String pskClientCreds(Path d) {
        return "tls-creds-psk,id=tls0,dir=" + d + ",username=alice,endpoint=client";
    }

    /** A file of {@code bytes} seeded random bytes. */
    private Path pattern(long bytes, int seed) throws IOException {
        Path p = work.resolve("pattern-" + seed);
        byte[] b = new byte[(int) bytes];
        new Random(seed).nextBytes(b);
        Files.write(p, b);
        return p;
    }

    private static void assertSamePrefix(Path expected, Path actual) throws IOException {
        byte[] e = Files.readAllBytes(expected);
        byte[] a = new byte[e.length];
        try (var ch = Files.newByteChannel(actual)) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(a);
            while (b.hasRemaining() && ch.read(b) >= 0) {
                // fill
            }
        }
        assertThat(a).as("data read back over TLS").isEqualTo(e);
    }

    /** nbdcopy a pattern in (four connections: multi-conn), then back out with 32 MiB reads, and compare. */
    private void nbdcopyPattern(String uri) throws IOException {
        Path in = pattern(64 * MIB, 7);
        Path out = work.resolve("out.img");
        ExternalTools.run(T, nbdcopy(), in.toString(), uri).ok();
        ExternalTools.run(T, nbdcopy(), "--request-size=33554432", uri, out.toString()).ok();
        assertThat(Files.size(out)).isEqualTo(256 * MIB);
        assertSamePrefix(in, out);
    }

    private void qemuIoPattern(String creds, boolean x509) {
        List<String> cmd = new ArrayList<>(List.of(qemuIo()));
        cmd.addAll(qemuImage(creds, x509));
        cmd.addAll(List.of("-c", "write -P 0xab 96M 1M", "-c", "read -P 0xab 96M 1M", "-c", "write -P 0x3c 100M 32M",
                "-c", "read -P 0x3c 100M 32M", "-c", "flush"));
        ExternalTools.Result r = ExternalTools.run(T, cmd.toArray(String[]::new)).ok();
        assertThat(r.all()).doesNotContain("Pattern verification failed", "error", "failed");
        List<String> info = new ArrayList<>(List.of(qemuImg(), "info"));
        info.addAll(qemuImage(creds, x509));
        assertThat(ExternalTools.run(T, info.toArray(String[]::new)).ok().stdout()).contains("virtual size: 256 MiB");
    }

    @Test
    void x509WithNbdinfoNbdcopyQemuImgAndQemuIo() throws IOException {
        start(new TlsConfig.X509(files.pki, false));
        ExternalTools.Result info = nbdinfoDebug(x509Uri()).ok();
        assertThat(info.stdout()).contains("newstyle-fixed with TLS, using structured packets", "can_multi_conn: true");
        assertThat(ExternalTools.run(T, nbdinfo(), "--list", x509Uri()).ok().stdout()).contains("export=\"disk\"", "scratch");
        nbdcopyPattern(x509Uri());
        qemuIoPattern(x509ClientCreds(files.qemuClient), true);
        // Over TCP libnbd checks the certificate against the CA and the host name.
        assertThat(ExternalTools.run(T, nbdinfo(), "--size", tcpUri(files.pki)).ok().stdout().trim()).isEqualTo("268435456");
        // The kernel's client tool: Debian's nbd-client 3.24 has TLS (-certfile/-keyfile/-cacertfile); -l lists
        // exports without the kernel module, which these machines lack.
        String nbdClient = ExternalTools.require("nbd-client", "nbd-client");
        ExternalTools.Result list = ExternalTools.run(T, nbdClient, "-l", "-cacertfile", files.pki.resolve("ca-cert.pem").toString(),
                "-certfile", files.pki.resolve("client-cert.pem").toString(), "-keyfile",
                files.pki.resolve("client-key.pem").toString(), "-tlshostname", "localhost", "127.0.0.1",
                Integer.toString(server.tcpPort())).ok();
        assertThat(list.stdout().lines().toList()).contains("disk: scratch");
        ExternalTools.Result plainList = ExternalTools.run(T, nbdClient, "-l", "127.0.0.1", Integer.toString(server.tcpPort()));
        System.out.println("nbd-client -l, plaintext: " + plainList.all());
        assertThat(plainList.exitCode()).isNotZero();
        assertThat(plainList.all()).contains("TLS required");
        assertThat(tls.stats().handshakesFailed()).isZero();
        // libnbd and qemu take TLS 1.3; nbd-client 3.24 TLS 1.2 (recorded in docs/nbd.md).
        assertThat(tls.stats().negotiated()).containsOnlyKeys("TLSv1.3 TLS_AES_256_GCM_SHA384",
                "TLSv1.2 TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384");
    }

    @Test
    void pskWithNbdinfoNbdcopyQemuImgAndQemuIo() throws IOException {
        start(new TlsConfig.Psk(files.psk));
        ExternalTools.Result info = nbdinfoDebug(pskUri(files.psk)).ok();
        assertThat(info.stdout()).contains("newstyle-fixed with TLS, using structured packets");
        nbdcopyPattern(pskUri(files.psk));
        qemuIoPattern(pskClientCreds(files.pskDir), false);
        assertThat(tls.stats().negotiated()).containsKey("TLSv1.3 TLS_AES_128_GCM_SHA256");
        assertThat(tls.stats().handshakesFailed()).isZero();
    }

    @Test
    void verifyPeerWithQemuAndLibnbdClientCertificates() throws IOException {
        start(new TlsConfig.X509(files.pki, true));
        // libnbd sends client-cert.pem from the same directory; qemu from its client directory.
        assertThat(ExternalTools.run(T, nbdinfo(), "--size", x509Uri()).ok().stdout().trim()).isEqualTo("268435456");
        qemuIoPattern(x509ClientCreds(files.qemuClient), true);
        Path noCert = work.resolve("ca-only");
        Files.createDirectories(noCert);
        Files.copy(files.pki.resolve("ca-cert.pem"), noCert.resolve("ca-cert.pem"));
        ExternalTools.Result r = ExternalTools.run(T, nbdinfo(), "--size", "nbds+unix:///disk?socket=" + socket + "&tls-certificates=" + noCert);
        System.out.println("no client certificate: " + r.stderr());
        assertThat(r.exitCode()).isNotZero();
        assertThat(tls.stats().handshakesFailed()).isEqualTo(1);
        server.close();
        submitter.close();
        server = null;

        // The CA's CRL revokes the client certificate libnbd and qemu present.
        start(new TlsConfig.X509(files.revoked, true));
        ExternalTools.Result revoked = ExternalTools.run(T, nbdinfo(), "--size", x509Uri());
        System.out.println("nbdinfo, revoked client certificate: " + revoked.stderr());
        assertThat(revoked.exitCode()).isNotZero();
        List<String> qemu = new ArrayList<>(List.of(qemuImg(), "info"));
        qemu.addAll(qemuImage(x509ClientCreds(files.qemuClient), true));
        ExternalTools.Result qemuRevoked = ExternalTools.run(T, qemu.toArray(String[]::new));
        System.out.println("qemu-img, revoked client certificate: " + qemuRevoked.stderr());
        assertThat(qemuRevoked.exitCode()).isNotZero();
        assertThat(tls.stats().handshakesFailed()).isEqualTo(2);
        assertThat(tls.stats().handshakesCompleted()).isZero();
    }

    @Test
    void wrongKeyUnknownCaExpiredCertificateAndPlaintextAreRefused() throws IOException {
        start(new TlsConfig.Psk(files.psk));
        ExternalTools.Result wrongKey = ExternalTools.run(T, nbdinfo(), pskUri(files.wrongPskDir.resolve("keys.psk")));
        System.out.println("nbdinfo, wrong PSK: " + wrongKey.stderr());
        assertThat(wrongKey.exitCode()).isNotZero();
        assertThat(wrongKey.stderr()).contains("gnutls_handshake");
        List<String> qemu = new ArrayList<>(List.of(qemuImg(), "info"));
        qemu.addAll(qemuImage(pskClientCreds(files.wrongPskDir), false));
        ExternalTools.Result qemuWrongKey = ExternalTools.run(T, qemu.toArray(String[]::new));
        System.out.println("qemu-img, wrong PSK: " + qemuWrongKey.stderr());
        assertThat(qemuWrongKey.exitCode()).isNotZero();
        ExternalTools.Result plain = ExternalTools.run(T, nbdinfo(), "nbd+unix:///disk?socket=" + socket);
        System.out.println("nbdinfo, plaintext: " + plain.all());
        assertThat(plain.exitCode()).isNotZero();
        assertThat(plain.all()).contains("without TLS");
        ExternalTools.Result qemuPlain = ExternalTools.run(T, qemuImg(), "info", "--image-opts",
                "driver=nbd,server.type=unix,server.path=" + socket + ",export=disk");
        System.out.println("qemu-img, plaintext: " + qemuPlain.stderr());
        assertThat(qemuPlain.exitCode()).isNotZero();
        assertThat(qemuPlain.stderr()).contains("TLS negotiation required");
        assertThat(tls.stats().handshakesFailed()).isEqualTo(2);
        // Nothing else was disturbed.
        assertThat(ExternalTools.run(T, nbdinfo(), "--size", pskUri(files.psk)).ok().stdout().trim()).isEqualTo("268435456");
        server.close();
        submitter.close();
        server = null;

        start(new TlsConfig.X509(files.pki, false));
        ExternalTools.Result unknownCa = ExternalTools.run(T, nbdinfo(), "--size", tcpUri(files.otherCa));
        System.out.println("nbdinfo, unknown CA: " + unknownCa.stderr());
        assertThat(unknownCa.exitCode()).isNotZero();
        assertThat(unknownCa.stderr()).contains("certificate verification");
        List<String> qemuCa = new ArrayList<>(List.of(qemuImg(), "info"));
        qemuCa.addAll(qemuImage(x509ClientCreds(files.otherCa), true));
        ExternalTools.Result qemuUnknownCa = ExternalTools.run(T, qemuCa.toArray(String[]::new));
        System.out.println("qemu-img, unknown CA: " + qemuUnknownCa.stderr());
        assertThat(qemuUnknownCa.stderr()).contains("known issuer");
        assertThat(ExternalTools.run(T, nbdinfo(), "--size", tcpUri(files.pki)).ok().stdout().trim()).isEqualTo("268435456");
        server.close();
        server = null;
        submitter.close();

        start(new TlsConfig.X509(files.expired, false));
        ExternalTools.Result expired = ExternalTools.run(T, nbdinfo(), "--size", tcpUri(files.pki));
        System.out.println("nbdinfo, expired certificate: " + expired.stderr());
        assertThat(expired.exitCode()).isNotZero();
        assertThat(expired.stderr()).contains("certificate verification");
        List<String> qemuExp = new ArrayList<>(List.of(qemuImg(), "info"));
        qemuExp.addAll(qemuImage(x509ClientCreds(files.qemuClient), true));
        ExternalTools.Result qemuExpired = ExternalTools.run(T, qemuExp.toArray(String[]::new));
        System.out.println("qemu-img, expired certificate: " + qemuExpired.stderr());
        assertThat(qemuExpired.exitCode()).isNotZero();
        assertThat(qemuExpired.stderr()).contains("certificate is not trusted");
    }
}
