package dev.cairn.daemon;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.daemon.proto.DaemonProto;
import dev.cairn.daemon.proto.DeviceProto;
import dev.cairn.daemon.proto.ExportProto;
import dev.cairn.daemon.proto.SnapshotProto;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Issue 17's typed control protocol: records on both ends, the wire format of protocol 1, typed argument errors. */
class TypedProtocolTest {
    @TempDir Path tmp;
    private StateDir dir;
    private Daemon daemon;

    @BeforeEach
    void start() throws Exception {
        dir = new StateDir(tmp.resolve("s"));
        dir.create();
        new StateFile(dir.stateFile()).save(DaemonState.empty());
        daemon = Daemon.start(new Daemon.Config(dir, "127.0.0.1", -1, true,
                new PrintStream(PrintStream.nullOutputStream(), true, StandardCharsets.UTF_8)));
    }

    @AfterEach
    void stop() {
        daemon.stop();
    }

    @Test
    void aTypedRequestTravelsInTheDocumentedWireFormat() {
        assertThat(JsonCodec.write(Protocol.request(DeviceProto.CREATE.name(), new DeviceProto.Create("a", "0 8 zero\n", false))))
                .isEqualTo("{\"v\":1,\"verb\":\"create\",\"args\":{\"name\":\"a\",\"table\":\"0 8 zero\\n\",\"noExport\":false}}");
        // Absent optional arguments are left out, as protocol 1's CLI did; a Java keyword keeps its wire name.
        assertThat(JsonCodec.parseObject(JsonCodec.write(new SnapshotProto.Create("o", "s", null, null, null, true, false))))
                .containsOnlyKeys("origin", "name", "chunkSectors", "transient", "noExport")
                .containsEntry("transient", true).containsEntry("chunkSectors", 8L);
        assertThat(JsonCodec.write(Protocol.request(DaemonProto.PING.name(), new DaemonProto.Ping())))
                .isEqualTo("{\"v\":1,\"verb\":\"ping\",\"args\":{}}");
    }

    @Test
    void theClientGetsTypedRepliesFromTheDaemon() {
        try (ControlClient c = ControlClient.connect(dir)) {
            assertThat(c.call(DaemonProto.PING, new DaemonProto.Ping()).pid()).isEqualTo(ProcessHandle.current().pid());
            DeviceProto.DeviceSummary made = c.call(DeviceProto.CREATE, new DeviceProto.Create("z", "0 2048 zero\n", false));
            assertThat(made).isEqualTo(new DeviceProto.DeviceSummary("z", 2048, "ACTIVE", List.of("z")));
            ExportProto.Export e = c.call(ExportProto.LIST, new ExportProto.List_()).exports().getFirst();
            assertThat(e.unixUri()).isEqualTo("nbd+unix:///z?socket=" + dir.nbdSocket());
            assertThat(e.tcpUri()).isNull();
            DeviceProto.LsReply ls = c.call(DeviceProto.LS, new DeviceProto.Ls(true));
            assertThat(ls.tree()).extracting(DeviceProto.TreeNode::name).contains("z");
            assertThat(c.call(DeviceProto.LS, new DeviceProto.Ls(false)).tree()).isNull();
            assertThat(c.call(DaemonProto.VERSION, new DaemonProto.Version()).protocol()).isEqualTo(Protocol.VERSION);
            assertThatThrownBy(() -> c.call(DeviceProto.INFO, new DeviceProto.Info("nope")))
                    .isInstanceOfSatisfying(DaemonException.class, ex -> assertThat(ex.kind()).isEqualTo(ErrorKind.NOT_FOUND));
        }
    }

    @Test
    void everyVerbOfTheDocsIsRegisteredOnce() {
        assertThat(daemon.verbNames()).containsExactlyInAnyOrder("ping", "version", "stats", "wait", "create", "load", "reload",
                "clear", "suspend", "resume", "remove", "table", "status", "info", "deps", "ls", "message", "targets", "export-ls",
                "export-add", "export-rm", "snapshot-create", "snapshot-ls", "snapshot-merge", "snapshot-rm", "tls-reload",
                "pool-create", "thin-create");
    }

    @Test
    void badArgumentsAreUsageErrorsThatNameTheArgument() {
        assertThatThrownBy(() -> daemon.handle("create", Map.of("table", "0 8 zero\n")))
                .isInstanceOfSatisfying(DaemonException.class, e -> assertThat(e.kind()).isEqualTo(ErrorKind.USAGE))
                .hasMessage("argument name: missing (expected: a string)");
        assertThatThrownBy(() -> daemon.handle("create", Map.of("name", 5L, "table", "0 8 zero\n")))
                .isInstanceOfSatisfying(DaemonException.class, e -> assertThat(e.kind()).isEqualTo(ErrorKind.USAGE))
                .hasMessageStartingWith("create: argument name: ");
        assertThatThrownBy(() -> daemon.handle("suspend", Map.of("name", "a", "timeoutSeconds", "soon")))
                .hasMessageStartingWith("suspend: argument timeoutSeconds: ");
        assertThatThrownBy(() -> daemon.handle("remove", Map.of("name", "a", "forse", true)))
                .hasMessageContaining("argument forse: unknown (expected: one of");
        assertThatThrownBy(() -> daemon.handle("frobnicate", Map.of()))
                .isInstanceOfSatisfying(DaemonException.class, e -> assertThat(e.kind()).isEqualTo(ErrorKind.USAGE))
                .hasMessageContaining("verb: frobnicate");
        assertThat(daemon.registry().names()).isEmpty(); // nothing was created by the bad requests
    }

    @Test
    void aClientOfAnotherProtocolVersionIsToldToRestartTheDaemon() throws Exception {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(dir.controlSocket()));
            OutputStream out = Channels.newOutputStream(ch);
            out.write("{\"v\":2,\"verb\":\"ping\",\"args\":{}}\n".getBytes(StandardCharsets.UTF_8));
            out.flush();
            InputStream in = Channels.newInputStream(ch);
            Map<String, Object> reply = JsonCodec.parseObject(Protocol.readLine(in));
            assertThat(reply).containsEntry("ok", false);
            @SuppressWarnings("unchecked")
            Map<String, Object> error = (Map<String, Object>) reply.get("error");
            assertThat(error).containsEntry("kind", "usage");
            assertThat((String) error.get("message")).contains("this daemon speaks protocol 1, the CLI 2");
            assertThat((String) error.get("hint")).contains("restart the daemon");
        }
    }

    @Test
    void repliesSkipMembersANewerDaemonAdded() {
        assertThat(JsonCodec.replyOf("{\"ok\":true,\"result\":{\"pid\":7,\"uptimeSeconds\":3}}", DaemonProto.PingReply.class).pid())
                .isEqualTo(7);
        assertThatThrownBy(() -> JsonCodec.replyOf("{\"ok\":false,\"error\":{\"kind\":\"busy\",\"message\":\"m\",\"hint\":\"h\"}}",
                DaemonProto.PingReply.class)).isInstanceOfSatisfying(DaemonException.class, e -> {
                    assertThat(e.kind()).isEqualTo(ErrorKind.BUSY);
                    assertThat(e.hint()).isEqualTo("h");
                });
    }
}
