package dev.cairn.daemon;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.testkit.Poll;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ControlServerTest {
    @TempDir Path tmp;
    private ControlServer server;

    @AfterEach
    void stop() {
        if (server != null) {
            server.close(Duration.ofSeconds(5));
        }
    }

    private StateDir start(ControlServer.Handler handler) throws Exception {
        StateDir dir = new StateDir(tmp.resolve("s"));
        dir.create();
        server = ControlServer.start(dir.controlSocket(), handler);
        return dir;
    }

    private static ControlServer.Handler echo() {
        return (verb, args, cancel) -> switch (verb) {
            case "echo" -> args;
            case "missing" -> throw new DaemonException(ErrorKind.NOT_FOUND, "device: x (expected: an existing device)", "cairn ls");
            case "usage" -> throw new DaemonException(ErrorKind.USAGE, "argument name: missing (expected: a string)");
            case "bug" -> throw new IllegalStateException("boom");
            default -> null;
        };
    }

    @Test
    void socketIsPrivate() throws Exception {
        StateDir dir = start(echo());
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.controlSocket()))).isEqualTo("rw-------");
    }

    @Test
    void requestsAndTypedErrorsRoundTrip() throws Exception {
        StateDir dir = start(echo());
        try (ControlClient c = ControlClient.connect(dir)) {
            Map<String, Object> args = Map.of("name", "vol0", "n", 3L, "list", List.of("a"));
            assertThat(c.call("echo", args)).isEqualTo(args);
            assertThat(c.call("nothing", Map.of())).isNull();
            assertThatThrownBy(() -> c.call("missing", Map.of())).isInstanceOf(DaemonException.class)
                    .hasMessage("device: x (expected: an existing device)")
                    .satisfies(e -> {
                        assertThat(((DaemonException) e).kind()).isEqualTo(ErrorKind.NOT_FOUND);
                        assertThat(((DaemonException) e).hint()).isEqualTo("cairn ls");
                    });
            assertThatThrownBy(() -> c.call("usage", Map.of()))
                    .satisfies(e -> assertThat(((DaemonException) e).kind()).isEqualTo(ErrorKind.USAGE));
            assertThatThrownBy(() -> c.call("bug", Map.of()))
                    .hasMessageContaining("internal error in bug: java.lang.IllegalStateException: boom")
                    .satisfies(e -> assertThat(((DaemonException) e).kind()).isEqualTo(ErrorKind.INTERNAL));
            // The connection survives errors.
            assertThat(c.call("echo", Map.of("k", true))).isEqualTo(Map.of("k", true));
        }
    }

    private static String rawExchange(Path socket, byte[] request) throws Exception {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(socket));
            OutputStream out = Channels.newOutputStream(ch);
            out.write(request);
            out.flush();
            InputStream in = Channels.newInputStream(ch);
            return Protocol.readLine(in);
        }
    }

    @Test
    void malformedRequestsGetUsageErrors() throws Exception {
        StateDir dir = start(echo());
        Path s = dir.controlSocket();
        assertThat(rawExchange(s, "not json\n".getBytes(StandardCharsets.UTF_8)))
                .contains("\"kind\":\"usage\"", "malformed request");
        assertThat(rawExchange(s, "{\"args\":{}}\n".getBytes(StandardCharsets.UTF_8))).contains("no \\\"verb\\\" string");
        assertThat(rawExchange(s, "{\"verb\":\"echo\",\"args\":[]}\n".getBytes(StandardCharsets.UTF_8)))
                .contains("\\\"args\\\" is not an object");
    }

    @Test
    void anOversizedLineIsRefusedAndTheConnectionDropped() throws Exception {
        StateDir dir = start(echo());
        byte[] huge = new byte[Protocol.MAX_LINE_BYTES + 10];
        java.util.Arrays.fill(huge, (byte) 'x');
        String reply;
        try {
            reply = rawExchange(dir.controlSocket(), huge);
        } catch (java.io.IOException e) {
            reply = "dropped: " + e; // the server may close before we finish writing
        }
        assertThat(reply).satisfiesAnyOf(r -> assertThat(r).contains("longer than"), r -> assertThat(r).startsWith("dropped"));
        // The server itself is fine.
        try (ControlClient c = ControlClient.connect(dir)) {
            assertThat(c.call("echo", Map.of())).isEqualTo(Map.of());
        }
    }

    @Test
    void closeWaitsForARequestInProgress() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        StateDir dir = start((verb, args, cancel) -> {
            entered.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return "done";
        });
        AtomicReference<Object> result = new AtomicReference<>();
        Thread client = Thread.ofVirtual().start(() -> {
            try (ControlClient c = ControlClient.connect(dir)) {
                result.set(c.call("slow", Map.of()));
            }
        });
        assertThat(entered.await(5, TimeUnit.SECONDS)).isTrue();
        Thread closer = Thread.ofVirtual().start(() -> server.close(Duration.ofSeconds(10)));
        // the closer reaches its wait for the request in progress (or, wrongly, ends)
        assertThat(Poll.until(() -> !closer.isAlive() || closer.getState() == Thread.State.TIMED_WAITING,
                Duration.ofSeconds(10))).isTrue();
        assertThat(closer.isAlive()).as("close waits for the request").isTrue();
        release.countDown();
        closer.join(5000);
        client.join(5000);
        assertThat(result.get()).isEqualTo("done");
        assertThat(dir.controlSocket()).doesNotExist();
        server = null;
    }

    @Test
    void noDaemonSaysHowToStartOne() throws Exception {
        StateDir dir = new StateDir(tmp.resolve("none"));
        assertThatThrownBy(() -> ControlClient.connect(dir)).isInstanceOf(DaemonException.class)
                .hasMessageContaining("no cairn daemon is running on state directory " + dir.root())
                .satisfies(e -> assertThat(((DaemonException) e).hint())
                        .isEqualTo("start one with: bin/cairn serve --state-dir " + dir.root()));
        // A stale socket file (daemon killed with -9) is reported the same way, not as a hang.
        dir.create();
        Files.createFile(dir.controlSocket());
        assertThatThrownBy(() -> ControlClient.connect(dir)).hasMessageContaining("cannot reach the cairn daemon")
                .hasMessageContaining("no daemon holds that state directory");
    }

    @Test
    void refusesASocketPathTooLongForUnix() {
        Path longPath = tmp.resolve("x".repeat(120)).resolve("control.sock");
        assertThatThrownBy(() -> ControlServer.start(longPath, echo())).isInstanceOf(DaemonException.class)
                .hasMessageContaining("at most 107 bytes");
    }

    /** Issue 22 item 10 (and item 2's connection bound): unfinished lines are bounded in all and released on close. */
    @Test
    void controlMemoryAndConnectionsAreBoundedAndReleasedOnClose() throws Exception {
        StateDir dir = new StateDir(tmp.resolve("b"));
        dir.create();
        ControlServer.Limits limits = new ControlServer.Limits(4, 64 << 10, 128 << 10);
        server = ControlServer.start(dir.controlSocket(), echo(), limits);
        List<SocketChannel> open = new java.util.ArrayList<>();
        try {
            byte[] partial = new byte[60 << 10];
            java.util.Arrays.fill(partial, (byte) 'x');
            for (int i = 0; i < 4; i++) {
                SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
                ch.connect(UnixDomainSocketAddress.of(dir.controlSocket()));
                open.add(ch);
                OutputStream out = Channels.newOutputStream(ch);
                out.write(partial); // an unterminated line
                out.flush();
                if (i < 2) {
                    long expected = (i + 1L) * (64 << 10);
                    assertThat(dev.cairn.testkit.Poll.until(() -> server.memoryInUseBytes() == expected, Duration.ofSeconds(10)))
                            .as("line " + i + " holds 64 KiB of the budget").isTrue();
                } else {
                    // The budget is full: this one is told why and closed.
                    assertThat(Protocol.readLine(Channels.newInputStream(ch)))
                            .contains("\"kind\":\"usage\"", "too much unfinished control input");
                }
            }
            int refused = 0;
            assertThat(dev.cairn.testkit.Poll.until(() -> server.connectionCount() == 2, Duration.ofSeconds(10))).isTrue();
            assertThat(server.memoryInUseBytes()).isEqualTo(128 << 10);
            // A fifth connection is over the connection limit only when four are open: open two more first.
            try (SocketChannel a = SocketChannel.open(StandardProtocolFamily.UNIX);
                    SocketChannel b = SocketChannel.open(StandardProtocolFamily.UNIX);
                    SocketChannel c = SocketChannel.open(StandardProtocolFamily.UNIX)) {
                a.connect(UnixDomainSocketAddress.of(dir.controlSocket()));
                b.connect(UnixDomainSocketAddress.of(dir.controlSocket()));
                assertThat(dev.cairn.testkit.Poll.until(() -> server.connectionCount() == 4, Duration.ofSeconds(10))).isTrue();
                c.connect(UnixDomainSocketAddress.of(dir.controlSocket()));
                String line = Protocol.readLine(Channels.newInputStream(c));
                assertThat(line).contains("\"kind\":\"busy\"", "4 control connections open (its limit)");
                refused++;
            }
            assertThat(refused).isEqualTo(1);
        } finally {
            for (SocketChannel ch : open) {
                ch.close();
            }
        }
        assertThat(dev.cairn.testkit.Poll.until(() -> server.memoryInUseBytes() == 0 && server.connectionCount() == 0,
                Duration.ofSeconds(10))).as("everything released after the clients closed").isTrue();
        try (ControlClient c = ControlClient.connect(dir)) {
            assertThat(c.call("echo", Map.of("a", "b"))).isEqualTo(Map.of("a", "b"));
        }
    }
}
