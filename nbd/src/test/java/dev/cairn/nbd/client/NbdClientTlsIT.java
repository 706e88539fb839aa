package dev.cairn.nbd.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.dm.DeviceRegistry;
import dev.cairn.dm.MappedDevice;
import dev.cairn.nbd.server.NbdExport;
import dev.cairn.nbd.server.NbdServer;
import dev.cairn.nbd.server.ServerTls;
import dev.cairn.nbd.server.TlsConfig;
import dev.cairn.nbd.server.TlsMode;
import dev.cairn.testkit.DeviceConformance;
import dev.cairn.testkit.ExternalTools;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.Pattern;
import dev.cairn.testkit.Poll;
import dev.cairn.testkit.StackBuilder;
import dev.cairn.testkit.TlsFiles;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The {@code nbds:} leaf (STARTTLS in the Java NBD client) against Cairn's own TLS server and against
 * {@code nbdkit --tls=require}, with X.509 certificates and psktool keys made by certtool and psktool; a wrong
 * key, an unknown CA and a plaintext URI to a TLS-only server are refused.
 */
class NbdClientTlsIT {
    private static final long MIB = 1 << 20;

    @TempDir
    static Path pkiRoot;
    static TlsFiles files;

    @TempDir
    Path dir;

    private final StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);
    private final List<Process> servers = new ArrayList<>();
    private final List<AutoCloseable> closeables = new ArrayList<>();

    @BeforeAll
    static void credentials() {
        files = TlsFiles.create(pkiRoot);
    }

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : closeables.reversed()) {
            c.close();
        }
        servers.forEach(ExternalTools::kill);
        stack.close();
    }

    private NbdClientDevice open(String uri) throws Exception {
        NbdClientDevice d = NbdClientDevice.open(NbdUri.parse(uri, NbdClientConfig.defaults().withConnections(2)));
        closeables.add(d);
        return d;
    }

    private ServerTls cairnTls(TlsConfig.Credentials creds) throws Exception {
        return ServerTls.load(new TlsConfig(TlsMode.REQUIRE, creds));
    }

    private NbdServer cairn(MemoryStore store, ServerTls tls, Path unixSocket) throws Exception {
        NbdServer.Builder b = NbdServer.builder().submitter(stack.submitter()).tls(tls);
        b = unixSocket == null ? b.tcp("127.0.0.1", 0) : b.unix(unixSocket);
        NbdServer server = b.build();
        closeables.add(server);
        server.addExport(NbdExport.of("disk", store));
        server.start();
        return server;
    }

    private void nbdkit(Path socket, String... tlsArgs) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(ExternalTools.require("nbdkit", "nbdkit"), "-f", "-U", socket.toString(),
                "--tls=require"));
        cmd.addAll(List.of(tlsArgs));
        cmd.addAll(List.of("memory", "32M"));
        servers.add(ExternalTools.start(dir.resolve("nbdkit-" + servers.size() + ".log"), cmd.toArray(String[]::new)));
        assertThat(Poll.until(() -> Files.exists(socket), Duration.ofSeconds(10))).as("nbdkit socket " + socket).isTrue();
    }

    @Test
    void x509AgainstCairnOverTcpPassesConformanceAndWritesReachTheStore() throws Exception {
        MemoryStore store = stack.memoryStore("remote", 32 * MIB);
        ServerTls tls = cairnTls(new TlsConfig.X509(files.pki, true));
        NbdServer server = cairn(store, tls, null);
        NbdClientDevice d = open("nbds://127.0.0.1:" + server.tcpPort() + "/disk?tls-certificates=" + files.pki);
        DeviceConformance.check(stack.submitter(), d, DeviceConformance.Options.defaults().withOps(200));
        MemorySegment data = Pattern.segment(4096, 65536, 21);
        Io.writeOk(stack.submitter(), d, 8, data);
        assertThat(Io.readOk(stack.submitter(), store, 8, 65536).mismatch(data)).isEqualTo(-1);
        // Every connection went through TLS (the server requires it and verified the client certificate).
        assertThat(tls.stats().handshakesCompleted()).isGreaterThanOrEqualTo(1);
        assertThat(tls.stats().handshakesFailed()).isZero();
    }

    @Test
    void pskAgainstCairnOverAUnixSocketInADmTable() throws Exception {
        MemoryStore store = stack.memoryStore("remote", 16 * MIB);
        Path sock = dir.resolve("cairn.sock");
        ServerTls tls = cairnTls(new TlsConfig.Psk(files.psk));
        cairn(store, tls, sock);
        DeviceRegistry dm = new DeviceRegistry(stack.submitter());
        closeables.add(dm);
        String uri = "nbds+unix:///disk?socket=" + sock + "&tls-psk-file=" + files.psk + "&tls-username=alice";
        MappedDevice md = dm.create("remote", "0 32768 linear " + uri + " 0");
        MemorySegment data = Pattern.segment(0, (int) MIB, 3);
        Io.writeOk(stack.submitter(), md, 2048, data);
        assertThat(Io.readOk(stack.submitter(), md, 2048, (int) MIB).mismatch(data)).isEqualTo(-1);
        assertThat(Io.readOk(stack.submitter(), store, 2048, (int) MIB).mismatch(data)).isEqualTo(-1);
        assertThat(tls.stats().negotiated().keySet()).allSatisfy(k -> assertThat(k).startsWith("TLSv1.3 "));
    }

    @Test
    void x509AndPskAgainstNbdkitWithTlsRequired() throws Exception {
        Path x509 = dir.resolve("x509.sock");
        nbdkit(x509, "--tls-certificates=" + files.pki, "--tls-verify-peer");
        NbdClientDevice d = open("nbds+unix:///?socket=" + x509 + "&tls-certificates=" + files.pki);
        assertThat(d.capacitySectors()).isEqualTo(32 * MIB / 512);
        DeviceConformance.check(stack.submitter(), d, DeviceConformance.Options.defaults().withOps(150));

        Path psk = dir.resolve("psk.sock");
        nbdkit(psk, "--tls-psk=" + files.psk);
        NbdClientDevice p = open("nbds+unix://alice@/?socket=" + psk + "&tls-psk-file=" + files.psk);
        MemorySegment data = Pattern.segment(0, 262144, 9);
        Io.writeOk(stack.submitter(), p, 100, data);
        assertThat(Io.readOk(stack.submitter(), p, 100, 262144).mismatch(data)).isEqualTo(-1);
        // What the Java client wrote over PSK, nbdkit's own client library reads back over PSK.
        Path out = dir.resolve("psk.raw");
        ExternalTools.run(Duration.ofSeconds(60), ExternalTools.require("nbdcopy", "libnbd-bin"),
                "nbds+unix://alice@/?socket=" + psk + "&tls-psk-file=" + files.psk, out.toString()).ok();
        byte[] copied = Files.readAllBytes(out);
        assertThat(MemorySegment.ofArray(copied).asSlice(100 * 512, 262144).mismatch(data)).isEqualTo(-1);
    }

    @Test
    void aWrongKeyAnUnknownCaAndPlaintextAreRefused() throws Exception {
        Path psk = dir.resolve("psk.sock");
        nbdkit(psk, "--tls-psk=" + files.psk);
        Path wrong = files.wrongPskDir.resolve("keys.psk");
        assertThatThrownBy(() -> open("nbds+unix:///?socket=" + psk + "&tls-psk-file=" + wrong + "&tls-username=alice"))
                .hasMessageContaining("TLS handshake failed");
        assertThatThrownBy(() -> open("nbds+unix:///?socket=" + psk + "&tls-psk-file=" + files.psk + "&tls-username=bob"))
                .hasMessageContaining("has no key for user 'bob'");
        assertThatThrownBy(() -> open("nbd+unix:///?socket=" + psk)).hasMessageContaining("ERR_TLS_REQD");

        MemoryStore store = stack.memoryStore("remote", 8 * MIB);
        ServerTls tls = cairnTls(new TlsConfig.X509(files.pki, false));
        NbdServer server = cairn(store, tls, null);
        assertThatThrownBy(() -> open("nbds://127.0.0.1:" + server.tcpPort() + "/disk?tls-certificates=" + files.otherCa))
                .hasMessageContaining("TLS handshake failed");
        // A plaintext server asked for TLS: an error, never a fallback to plaintext.
        NbdServer plain = NbdServer.builder().submitter(stack.submitter()).tcp("127.0.0.1", 0).build();
        closeables.add(plain);
        plain.addExport(NbdExport.of("disk", store));
        plain.start();
        assertThatThrownBy(() -> open("nbds://127.0.0.1:" + plain.tcpPort() + "/disk?tls-certificates=" + files.pki))
                .hasMessageContaining("the server does not do TLS");
    }
}
