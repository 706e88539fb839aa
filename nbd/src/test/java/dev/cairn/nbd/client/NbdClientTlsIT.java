package dev.cairn.nbd.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.BioStatus;
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
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
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
        List<String> args = new ArrayList<>(List.of(tlsArgs));
        args.addAll(List.of("memory", "32M"));
        nbdkitTls(socket, args.toArray(String[]::new));
    }

    /** nbdkit with TLS required; {@code args} are TLS options, then filters, the plugin and its arguments. */
    private Process nbdkitTls(Path socket, String... args) throws Exception {
        // Wait for the pid file (written once nbdkit accepts connections), not the socket file (made at bind()).
        Path pidFile = dir.resolve("nbdkit-" + servers.size() + ".pid");
        List<String> cmd = new ArrayList<>(List.of(ExternalTools.require("nbdkit", "nbdkit"), "-f", "-U", socket.toString(),
                "-P", pidFile.toString(), "--tls=require"));
        cmd.addAll(List.of(args));
        Process p = ExternalTools.start(dir.resolve("nbdkit-" + servers.size() + ".log"), cmd.toArray(String[]::new));
        servers.add(p);
        assertThat(Poll.until(() -> NbdClientIT.hasPid(pidFile), Duration.ofSeconds(10))).as("nbdkit pid file " + pidFile).isTrue();
        return p;
    }

    /**
     * As NbdClientIT's plaintext case, over TLS: the request in flight fails, a new one waits for the reconnect,
     * and the reconnect does the TLS handshake again before it is served.
     */
    @Test
    void aTlsServerKilledAndRestarted() throws Exception {
        Path img = dir.resolve("disk.img");
        try (var f = java.nio.channels.FileChannel.open(img, java.nio.file.StandardOpenOption.CREATE_NEW,
                java.nio.file.StandardOpenOption.WRITE)) {
            f.write(java.nio.ByteBuffer.allocate(1), 16 * MIB - 1);
        }
        Path sock = dir.resolve("k.sock");
        String psk = "--tls-psk=" + files.psk;
        // Reads are held 60 s by the delay filter, so a read is certainly in flight when the server dies.
        Process first = nbdkitTls(sock, psk, "--filter=delay", "file", img.toString(), "rdelay=60");
        NbdClientDevice d = NbdClientDevice.open(NbdUri.parse(
                "nbds+unix://alice@/?socket=" + sock + "&tls-psk-file=" + files.psk,
                NbdClientConfig.defaults().withIoTimeout(Duration.ZERO).withReconnect(Duration.ofMillis(20), Duration.ofMillis(200))));
        closeables.add(d);
        MemorySegment data = Pattern.segment(0, 65536, 5);
        Io.writeOk(stack.submitter(), d, 0, data);
        assertThat(Io.flush(stack.submitter(), d)).isEqualTo(BioStatus.OK);

        var inFlight = CompletableFuture.supplyAsync(() ->
                Io.read(stack.submitter(), d, 0, MemorySegment.ofArray(new byte[4096])));
        assertThat(Poll.until(() -> d.stats().inFlightRequests() == 1, Duration.ofSeconds(10))).isTrue();
        first.destroyForcibly();
        assertThat(first.waitFor(10, TimeUnit.SECONDS)).isTrue();
        Files.deleteIfExists(sock);
        // Documented: a request in flight when its connection dies fails; it is not resent.
        assertThat(inFlight.get(10, TimeUnit.SECONDS)).isEqualTo(BioStatus.IOERR);
        assertThat(Poll.until(() -> d.stats().liveConnections() == 0, Duration.ofSeconds(10))).as(d.stats().toString()).isTrue();

        MemorySegment into = MemorySegment.ofArray(new byte[65536]);
        var waiting = CompletableFuture.supplyAsync(() -> Io.read(stack.submitter(), d, 0, into));
        assertThat(Poll.until(() -> d.stats().waitingRequests() == 1, Duration.ofSeconds(10))).as(d.stats().toString()).isTrue();
        nbdkitTls(sock, psk, "file", img.toString());
        assertThat(waiting.get(20, TimeUnit.SECONDS)).isEqualTo(BioStatus.OK);
        assertThat(into.mismatch(data)).isEqualTo(-1);
        assertThat(d.stats().reconnects()).isGreaterThanOrEqualTo(1);
        assertThat(d.stats().droppedConnections()).isGreaterThanOrEqualTo(1);
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
