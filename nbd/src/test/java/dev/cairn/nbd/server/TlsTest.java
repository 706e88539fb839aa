package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.testkit.TlsFiles;
import dev.cairn.nbd.server.TestClient.OptionReply;
import dev.cairn.testkit.Poll;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The server's TLS at the byte level: FORCEDTLS answers before STARTTLS, the upgrade with the JDK's TLS client
 * (1.3 and 1.2, with and without a client certificate), state reset after STARTTLS, hostile clients (garbage,
 * plaintext and silence after STARTTLS), certificate reload, and the refusal of plaintext beyond loopback.
 * Certificates are made with certtool (gnutls-bin).
 */
class TlsTest {
    @TempDir
    static Path dir;
    static TlsFiles files;

    private Submitter submitter;
    private NbdServer server;
    private ServerTls tls;
    private final MemoryStore disk = new MemoryStore("disk", 8 << 20);

    @BeforeAll
    static void certificates() {
        files = TlsFiles.create(dir);
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close();
            assertThat(server.internalErrors()).isZero();
        }
        if (submitter != null) {
            submitter.close();
        }
    }

    private NbdServer start(TlsMode mode, TlsConfig.Credentials creds, Duration timeout) throws IOException {
        tls = ServerTls.load(new TlsConfig(mode, creds, timeout));
        submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
        server = NbdServer.builder().submitter(submitter).tcp("127.0.0.1", 0).tls(tls).build();
        server.addExport(NbdExport.of("disk", disk).description("secret description"));
        server.start();
        return server;
    }

    private NbdServer startX509(TlsMode mode) throws IOException {
        return start(mode, new TlsConfig.X509(files.pki, false), Duration.ofSeconds(10));
    }

    private SSLContext trusting() {
        return TlsTestClient.context(files.pki, null, "TLS");
    }

    @Test
    void requireRefusesEveryOptionButStartTlsAndAbortBeforeTheUpgrade() throws Exception {
        tls = ServerTls.load(new TlsConfig(TlsMode.REQUIRE, new TlsConfig.X509(files.pki, false)));
        try (ServerFixture f = new ServerFixture(b -> b.tls(tls)).export(NbdExport.of("disk", disk))) {
            try (TestClient c = TestClient.connect(f.server)) {
                c.hello();
                for (int opt : new int[] {OPT_LIST, OPT_STRUCTURED_REPLY, OPT_LIST_META_CONTEXT, OPT_SET_META_CONTEXT, 42}) {
                    OptionReply r = c.option(opt, new byte[0]).getFirst();
                    assertThat(r.type()).as("option %d", opt).isEqualTo(REP_ERR_TLS_REQD);
                    assertThat(r.text()).contains("not permitted before STARTTLS");
                }
                for (int opt : new int[] {OPT_INFO, OPT_GO}) {
                    List<OptionReply> r = c.option(opt, TestClient.infoData("disk", INFO_NAME, INFO_DESCRIPTION));
                    assertThat(r).as("nothing described before TLS").singleElement()
                            .extracting(OptionReply::type).isEqualTo(REP_ERR_TLS_REQD);
                }
                // Too big an option is refused for TLS too, not for its size.
                assertThat(c.option(OPT_LIST, new byte[Handshake.MAX_OPTION_BYTES + 1]).getFirst().type())
                        .isEqualTo(REP_ERR_TLS_REQD);
                assertThat(c.option(OPT_STARTTLS, new byte[1]).getFirst().type()).isEqualTo(REP_ERR_INVALID);
                assertThat(c.option(OPT_ABORT, new byte[0]).getFirst().type()).isEqualTo(REP_ACK);
                assertThat(c.closedByServer()).isTrue();
            }
            try (TestClient c = TestClient.connect(f.server)) {
                c.hello();
                c.sendOption(OPT_EXPORT_NAME, "disk".getBytes());
                assertThat(c.closedByServer()).as("EXPORT_NAME cannot be refused: the client is dropped").isTrue();
            }
            f.assertQuiescent();
        }
    }

    @Test
    void offRefusesStartTlsByPolicy() {
        try (ServerFixture f = new ServerFixture().export(NbdExport.of("disk", disk));
                TestClient c = TestClient.connect(f.server)) {
            c.hello();
            OptionReply r = c.option(OPT_STARTTLS, new byte[0]).getFirst();
            assertThat(r.type()).isEqualTo(REP_ERR_POLICY);
            assertThat(r.text()).contains("TLS is off");
            assertThat(c.option(OPT_GO, TestClient.infoData("disk")).getLast().type()).isEqualTo(REP_ACK);
        }
    }

    @Test
    void x509Tls13ThenListGoReadWriteAndASecondStartTlsIsInvalid() throws Exception {
        startX509(TlsMode.REQUIRE);
        try (TlsTestClient c = new TlsTestClient(server.tcpPort()).hello()) {
            SSLSocket s = c.startTls(trusting());
            assertThat(s.getSession().getProtocol()).isEqualTo("TLSv1.3");
            List<TlsTestClient.Reply> list = c.option(OPT_LIST, new byte[0]);
            assertThat(list.getFirst().type()).isEqualTo(REP_SERVER);
            assertThat(c.option(OPT_STARTTLS, new byte[0]).getFirst().type()).isEqualTo(REP_ERR_INVALID);
            assertThat(c.option(OPT_STRUCTURED_REPLY, new byte[0]).getLast().type()).isEqualTo(REP_ACK);
            goAndMoveData(c, true);
        }
        assertThat(Poll.until(() -> server.connectionCount() == 0, Duration.ofSeconds(10))).isTrue();
        assertThat(tls.stats().handshakesCompleted()).isEqualTo(1);
        assertThat(tls.stats().negotiated()).containsOnlyKeys("TLSv1.3 TLS_AES_256_GCM_SHA384");
    }

    @Test
    void tls12AndStateFromBeforeStartTlsIsForgotten() throws Exception {
        startX509(TlsMode.ON);
        try (TlsTestClient c = new TlsTestClient(server.tcpPort()).hello()) {
            // Plaintext is allowed with "on"; structured replies agreed now must not survive the upgrade.
            assertThat(c.option(OPT_STRUCTURED_REPLY, new byte[0]).getLast().type()).isEqualTo(REP_ACK);
            SSLSocket s = c.startTls(TlsTestClient.context(files.pki, null, "TLSv1.2"));
            assertThat(s.getSession().getProtocol()).isEqualTo("TLSv1.2");
            goAndMoveData(c, false);
        }
        try (TlsTestClient c = new TlsTestClient(server.tcpPort()).hello()) {
            assertThat(c.option(OPT_LIST, new byte[0]).getFirst().type()).as("on: plaintext still served").isEqualTo(REP_SERVER);
            goAndMoveData(c, false);
        }
    }

    /** GO on "disk", then a 1 MiB pattern written and read back (simple or structured replies), then DISC. */
    private void goAndMoveData(TlsTestClient c, boolean structured) throws IOException {
        List<TlsTestClient.Reply> go = c.option(OPT_GO, TestClient.infoData("disk"));
        assertThat(go.getLast().type()).isEqualTo(REP_ACK);
        byte[] data = new byte[1 << 20];
        new Random(42).nextBytes(data);
        DataOutputStream out = c.out();
        DataInputStream in = c.in();
        out.writeInt(REQUEST_MAGIC);
        out.writeShort(0);
        out.writeShort(CMD_WRITE);
        out.writeLong(1);
        out.writeLong(4096);
        out.writeInt(data.length);
        out.write(data);
        out.writeInt(REQUEST_MAGIC);
        out.writeShort(0);
        out.writeShort(CMD_READ);
        out.writeLong(2);
        out.writeLong(4096);
        out.writeInt(data.length);
        out.flush();
        byte[] back = new byte[data.length];
        boolean sawStructured = false;
        for (int replies = 0; replies < 2; ) {
            int magic = in.readInt();
            if (!structured || magic == SIMPLE_REPLY_MAGIC) {
                assertThat(magic).as("simple reply").isEqualTo(SIMPLE_REPLY_MAGIC);
                assertThat(in.readInt()).isZero();
                long cookie = in.readLong();
                if (cookie == 2) {
                    in.readFully(back);
                }
                replies++;
                continue;
            }
            assertThat(magic).as("structured reply").isEqualTo(STRUCTURED_REPLY_MAGIC);
            sawStructured = true;
            int flags = in.readUnsignedShort();
            int type = in.readUnsignedShort();
            long cookie = in.readLong();
            int length = in.readInt();
            if (type == REPLY_TYPE_OFFSET_DATA) {
                long offset = in.readLong();
                in.readFully(back, (int) (offset - 4096), length - 8);
            } else {
                assertThat(type).isIn(REPLY_TYPE_NONE);
                in.skipNBytes(length);
            }
            if ((flags & REPLY_FLAG_DONE) != 0) {
                assertThat(cookie).isIn(1L, 2L);
                replies++;
            }
        }
        assertThat(back).isEqualTo(data);
        assertThat(sawStructured).isEqualTo(structured);
        out.writeInt(REQUEST_MAGIC);
        out.writeShort(0);
        out.writeShort(CMD_DISC);
        out.writeLong(3);
        out.writeLong(0);
        out.writeInt(0);
        out.flush();
        assertThat(c.closedByServer()).isTrue();
    }

    @Test
    void verifyPeerNeedsAClientCertificateFromTheCa() throws Exception {
        start(TlsMode.REQUIRE, new TlsConfig.X509(files.pki, true), Duration.ofSeconds(10));
        try (TlsTestClient c = new TlsTestClient(server.tcpPort()).hello()) {
            assertThatThrownBy(() -> {
                c.startTls(trusting());
                c.option(OPT_LIST, new byte[0]);
            }).isInstanceOf(IOException.class);
        }
        try (TlsTestClient c = new TlsTestClient(server.tcpPort()).hello()) {
            c.startTls(TlsTestClient.context(files.pki, files.qemuClient, "TLS"));
            assertThat(c.option(OPT_LIST, new byte[0]).getFirst().type()).isEqualTo(REP_SERVER);
        }
        assertThat(Poll.until(() -> tls.stats().handshakesFailed() == 1, Duration.ofSeconds(10))).isTrue();
    }

    @Test
    void aClientCertificateRevokedByTheCrlIsRefused() throws Exception {
        start(TlsMode.REQUIRE, new TlsConfig.X509(files.unrevoked, true), Duration.ofSeconds(10));
        try (TlsTestClient c = new TlsTestClient(server.tcpPort()).hello()) {
            c.startTls(TlsTestClient.context(files.pki, files.qemuClient, "TLS"));
            assertThat(c.option(OPT_LIST, new byte[0]).getFirst().type()).as("a CRL that revokes nothing").isEqualTo(REP_SERVER);
        }
        server.close();
        submitter.close();
        start(TlsMode.REQUIRE, new TlsConfig.X509(files.revoked, true), Duration.ofSeconds(10));
        try (TlsTestClient c = new TlsTestClient(server.tcpPort()).hello()) {
            assertThatThrownBy(() -> {
                c.startTls(TlsTestClient.context(files.pki, files.qemuClient, "TLS"));
                c.option(OPT_LIST, new byte[0]);
            }).isInstanceOf(IOException.class);
        }
        assertThat(Poll.until(() -> tls.stats().handshakesFailed() == 1, Duration.ofSeconds(10))).isTrue();
        assertThat(tls.stats().handshakesCompleted()).isZero();
    }

    @Test
    void garbageOrPlaintextAfterStartTlsDropsTheClientAndNothingElse() throws Exception {
        startX509(TlsMode.REQUIRE);
        try (TlsTestClient ok = new TlsTestClient(server.tcpPort()).hello()) {
            ok.startTls(trusting());
            try (TlsTestClient c = new TlsTestClient(server.tcpPort()).hello()) {
                assertThat(c.option(OPT_STARTTLS, new byte[0]).getFirst().type()).isEqualTo(REP_ACK);
                c.sendRaw(new byte[64]);
                assertThat(c.closedByServer()).isTrue();
            }
            try (TlsTestClient c = new TlsTestClient(server.tcpPort()).hello()) {
                assertThat(c.option(OPT_STARTTLS, new byte[0]).getFirst().type()).isEqualTo(REP_ACK);
                c.sendOption(OPT_LIST, new byte[0]);
                assertThat(c.closedByServer()).isTrue();
            }
            assertThat(Poll.until(() -> tls.stats().handshakesFailed() == 2, Duration.ofSeconds(10))).isTrue();
            // The established session is undisturbed.
            assertThat(ok.option(OPT_LIST, new byte[0]).getFirst().type()).isEqualTo(REP_SERVER);
        }
        assertThat(tls.stats().handshakesCompleted()).isEqualTo(1);
    }

    @Test
    void aHandshakeThatNeverFinishesIsDroppedAfterTheTimeout() throws Exception {
        start(TlsMode.REQUIRE, new TlsConfig.X509(files.pki, false), Duration.ofMillis(300));
        try (TlsTestClient c = new TlsTestClient(server.tcpPort()).hello()) {
            assertThat(c.option(OPT_STARTTLS, new byte[0]).getFirst().type()).isEqualTo(REP_ACK);
            // Half a ClientHello's record header, then silence.
            c.sendRaw(new byte[] {22, 3, 1});
            assertThat(c.closedByServer()).isTrue();
        }
        assertThat(Poll.until(() -> server.connectionCount() == 0, Duration.ofSeconds(10))).isTrue();
        assertThat(tls.stats().handshakesTimedOut()).isEqualTo(1);
        assertThat(tls.stats().handshakesFailed()).isZero();
    }

    @Test
    void everyHostileClientTestPassesAgainstARequireServerThroughTls() throws Exception {
        tls = ServerTls.load(new TlsConfig(TlsMode.REQUIRE, new TlsConfig.X509(files.pki, false)));
        submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
        server = NbdServer.builder().submitter(submitter).tcp("127.0.0.1", 0).tls(tls).build();
        // The port exists only after start, which attackAndCheck does: bind the relay lazily to it.
        Path relaySocket = dir.resolve("relay-" + System.nanoTime() + ".sock");
        NbdServer s = server;
        try (TlsRelay relay = new TlsRelay(relaySocket, () -> s.tcpPort(), trusting())) {
            HostileClientTest.attackAndCheck(server, relay.socket());
        }
        // Every attack but the two that never get past the client flags went through a TLS session.
        assertThat(tls.stats().handshakesCompleted()).isGreaterThanOrEqualTo(30);
    }

    /** Bouncy Castle's PSK client: TLS 1.2 twice (its key exchange zeroes the key it is given) and TLS 1.3. */
    @Test
    void pskWithTls12AndTls13Clients() throws Exception {
        start(TlsMode.REQUIRE, new TlsConfig.Psk(files.psk), Duration.ofSeconds(10));
        String line = Files.readAllLines(files.psk).getFirst();
        byte[] key = java.util.HexFormat.of().parseHex(line.substring(line.indexOf(':') + 1));
        var crypto = new org.bouncycastle.tls.crypto.impl.jcajce.JcaTlsCryptoProvider().create(new java.security.SecureRandom());
        for (int round = 0; round < 3; round++) {
            boolean tls13 = round == 2;
            try (TlsTestClient c = new TlsTestClient(server.tcpPort()).hello()) {
                assertThat(c.option(OPT_STARTTLS, new byte[0]).getFirst().type()).isEqualTo(REP_ACK);
                var socket = c.plainSocket();
                var protocol = new org.bouncycastle.tls.TlsClientProtocol(socket.getInputStream(), socket.getOutputStream());
                protocol.connect(new org.bouncycastle.tls.PSKTlsClient(crypto,
                        new org.bouncycastle.tls.BasicTlsPSKIdentity("alice", key.clone())) {
                    @Override
                    protected org.bouncycastle.tls.ProtocolVersion[] getSupportedVersions() {
                        return tls13 ? org.bouncycastle.tls.ProtocolVersion.TLSv13.only()
                                : org.bouncycastle.tls.ProtocolVersion.TLSv12.only();
                    }

                    @Override
                    protected int[] getSupportedCipherSuites() {
                        return tls13 ? new int[] {org.bouncycastle.tls.CipherSuite.TLS_AES_128_GCM_SHA256}
                                : super.getSupportedCipherSuites();
                    }

                    @Override
                    public java.util.Vector<org.bouncycastle.tls.TlsPSKExternal> getExternalPSKs() {
                        java.util.Vector<org.bouncycastle.tls.TlsPSKExternal> v = new java.util.Vector<>();
                        if (tls13) {
                            v.add(new org.bouncycastle.tls.BasicTlsPSKExternal("alice".getBytes(),
                                    getCrypto().createSecret(key.clone()), org.bouncycastle.tls.PRFAlgorithm.tls13_hkdf_sha256));
                        }
                        return v;
                    }
                });
                c.useStreams(protocol.getInputStream(), protocol.getOutputStream());
                assertThat(c.option(OPT_LIST, new byte[0]).getFirst().type()).isEqualTo(REP_SERVER);
                goAndMoveData(c, false);
            }
        }
        assertThat(tls.stats().negotiated()).containsOnlyKeys("TLSv1.2 TLS_DHE_PSK_WITH_AES_128_GCM_SHA256",
                "TLSv1.3 TLS_AES_128_GCM_SHA256");
        assertThat(tls.stats().negotiated().get("TLSv1.2 TLS_DHE_PSK_WITH_AES_128_GCM_SHA256")).isEqualTo(2);
    }

    @Test
    void theInFlightBoundHoldsUnderTls() throws Exception {
        tls = ServerTls.load(new TlsConfig(TlsMode.REQUIRE, new TlsConfig.X509(files.pki, false)));
        submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
        server = NbdServer.builder().submitter(submitter).tcp("127.0.0.1", 0).tls(tls)
                .maxInFlightRequestsPerConnection(4).build();
        TestDevice device = new TestDevice("held", 8 << 20);
        server.addExport(NbdExport.of("held", device));
        server.start();
        try (TlsRelay relay = new TlsRelay(dir.resolve("bound-" + System.nanoTime() + ".sock"), server::tcpPort, trusting());
                TestClient c = TestClient.connectUnix(relay.socket())) {
            c.go("held", false, false);
            device.holdIf(b -> true);
            ByteBuffer requests = ByteBuffer.allocate(12 * REQUEST_HEADER_BYTES);
            for (int i = 0; i < 12; i++) {
                dev.cairn.nbd.protocol.NbdWire.putRequest(requests, 0, CMD_READ, i, i * 65536L, 65536);
            }
            c.send(requests.flip());
            assertThat(Poll.until(() -> device.heldCount() == 4, Duration.ofSeconds(10))).isTrue();
            device.releaseHeld(); // from now on nothing is held: maxHeld counts only what was held before
            for (int i = 0; i < 12; i++) {
                assertThat(c.readSimple().error()).isZero();
                c.read(65536);
            }
            assertThat(device.maxHeld.get()).as("READs at the device at once (the bound is 4)").isEqualTo(4);
            c.disconnect();
            assertThat(c.closedByServer()).isTrue();
        }
    }

    @Test
    void reloadServesNewCertificatesToNewClientsAndKeepsOpenSessions() throws Exception {
        Path certs = dir.resolve("reload");
        Files.createDirectories(certs);
        for (String f : new String[] {"ca-cert.pem", "server-cert.pem", "server-key.pem"}) {
            Files.copy(files.pki.resolve(f), certs.resolve(f), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        start(TlsMode.REQUIRE, new TlsConfig.X509(certs, false), Duration.ofSeconds(10));
        try (TlsTestClient before = new TlsTestClient(server.tcpPort()).hello()) {
            SSLSocket s1 = before.startTls(trusting());
            var cert1 = (java.security.cert.X509Certificate) s1.getSession().getPeerCertificates()[0];
            // The expired certificate (same CA) replaces the good one; a broken file is refused first.
            Files.writeString(certs.resolve("server-key.pem"), "not a key");
            assertThatThrownBy(tls::reload).hasMessageContaining("server-key.pem");
            for (String f : new String[] {"server-cert.pem", "server-key.pem"}) {
                Files.copy(files.expired.resolve(f), certs.resolve(f), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
            tls.reload();
            assertThat(tls.stats().reloads()).isEqualTo(1);
            try (TlsTestClient after = new TlsTestClient(server.tcpPort()).hello()) {
                SSLSocket s2 = after.startTls(TlsTestClient.context(files.pki, null, "TLS"));
                // The JDK client refuses expired certificates only while verifying; SSLSocket has done so.
                throw new AssertionError("expected the expired certificate to be refused, got " + s2.getSession());
            } catch (javax.net.ssl.SSLHandshakeException expected) {
                assertThat(expected.getMessage()).containsAnyOf("expired", "validity", "NotAfter");
            }
            assertThat(cert1.getNotAfter()).isInTheFuture();
            assertThat(before.option(OPT_LIST, new byte[0]).getFirst().type()).as("old session goes on").isEqualTo(REP_SERVER);
        }
    }

    @Test
    void plaintextBeyondLoopbackIsRefusedUnlessTlsIsRequiredOrAllowed() throws Exception {
        Submitter s = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
        try {
            assertThatThrownBy(() -> NbdServer.builder().submitter(s).tcp("0.0.0.0", 0).build())
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("plaintext");
            ServerTls on = ServerTls.load(new TlsConfig(TlsMode.ON, new TlsConfig.X509(files.pki, false)));
            assertThatThrownBy(() -> NbdServer.builder().submitter(s).tcp("0.0.0.0", 0).tls(on).build())
                    .isInstanceOf(IllegalStateException.class);
            ServerTls require = ServerTls.load(new TlsConfig(TlsMode.REQUIRE, new TlsConfig.X509(files.pki, false)));
            NbdServer.builder().submitter(s).tcp("0.0.0.0", 0).tls(require).build().close();
            NbdServer.builder().submitter(s).tcp("0.0.0.0", 0).allowPlaintextRemote(true).build().close();
            NbdServer.builder().submitter(s).tcp("localhost", 0).build().close();
        } finally {
            s.close();
        }
    }

    @Test
    void badCredentialsFailToLoadWithTheFileNamed() throws Exception {
        assertThatThrownBy(() -> ServerTls.load(new TlsConfig(TlsMode.REQUIRE, new TlsConfig.X509(dir.resolve("none"), false))))
                .hasMessageContaining("expected: a directory");
        assertThatThrownBy(() -> ServerTls.load(new TlsConfig(TlsMode.REQUIRE, new TlsConfig.X509(files.otherCa, false))))
                .hasMessageContaining("server-cert.pem");
        Path mismatch = Files.createDirectories(dir.resolve("mismatch"));
        Files.copy(files.pki.resolve("ca-cert.pem"), mismatch.resolve("ca-cert.pem"));
        Files.copy(files.pki.resolve("server-cert.pem"), mismatch.resolve("server-cert.pem"));
        Files.copy(files.pki.resolve("client-key.pem"), mismatch.resolve("server-key.pem"));
        assertThatThrownBy(() -> ServerTls.load(new TlsConfig(TlsMode.REQUIRE, new TlsConfig.X509(mismatch, false))))
                .hasMessageContaining("does the key belong to the certificate?");
        Path bad = dir.resolve("bad.psk");
        Files.writeString(bad, "alice:zz\n");
        assertThatThrownBy(() -> ServerTls.load(new TlsConfig(TlsMode.REQUIRE, new TlsConfig.Psk(bad))))
                .hasMessageContaining("bad.psk:1");
        assertThatThrownBy(() -> new TlsConfig(TlsMode.REQUIRE, null)).isInstanceOf(IllegalArgumentException.class);
    }
}
