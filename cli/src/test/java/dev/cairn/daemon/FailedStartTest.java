package dev.cairn.daemon;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Issue 17's rough edge: a serve that fails leaves nothing behind, and the next start is a first start. */
class FailedStartTest {
    @TempDir Path tmp;

    private static Daemon.Config config(StateDir dir, String host, int port, ByteArrayOutputStream banner) {
        return new Daemon.Config(dir, host, port, false, new PrintStream(banner, true, StandardCharsets.UTF_8));
    }

    @Test
    void aBusyPortLeavesNoStateImageOrLock() throws Exception {
        StateDir dir = new StateDir(tmp.resolve("state"));
        try (ServerSocket busy = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            assertThatThrownBy(() -> Daemon.start(config(dir, "127.0.0.1", busy.getLocalPort(), new ByteArrayOutputStream())))
                    .isInstanceOfSatisfying(DaemonException.class, e -> assertThat(e.hint()).contains("--nbd-port"));
        }
        assertThat(dir.root()).doesNotExist();
        ByteArrayOutputStream banner = new ByteArrayOutputStream();
        try (Daemon d = Daemon.start(config(dir, "127.0.0.1", 0, banner))) {
            assertThat(banner.toString(StandardCharsets.UTF_8)).contains("first start: created vol0");
        }
    }

    @Test
    void aHostThatIsNotOneIsAUsageErrorAndLeavesNothing() throws Exception {
        StateDir dir = new StateDir(tmp.resolve("state"));
        assertThatThrownBy(() -> Daemon.start(config(dir, "nonsense host", 1, new ByteArrayOutputStream())))
                .isInstanceOfSatisfying(DaemonException.class, e -> {
                    assertThat(e.kind()).isEqualTo(ErrorKind.USAGE);
                    assertThat(e.getMessage()).startsWith("--listen: nonsense host (expected: a host name or address");
                });
        assertThat(dir.root()).doesNotExist();
    }

    @Test
    void aFailedStartOfAnExistingStateDirectoryKeepsIt() throws Exception {
        StateDir dir = new StateDir(tmp.resolve("state"));
        try (Daemon d = Daemon.start(config(dir, "127.0.0.1", 0, new ByteArrayOutputStream()))) {
            assertThat(d.state().devices()).hasSize(1);
        }
        try (ServerSocket busy = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            assertThatThrownBy(() -> Daemon.start(config(dir, "127.0.0.1", busy.getLocalPort(), new ByteArrayOutputStream())))
                    .isInstanceOf(DaemonException.class);
        }
        assertThat(dir.stateFile()).exists();
        assertThat(dir.imagesDir().resolve("vol0.img")).exists();
    }

    @Test
    void aStateDirectoryWithASpaceSaysWhyThereIsNoVol0AndNothingElse() throws Exception {
        StateDir dir = new StateDir(tmp.resolve("my state"));
        ByteArrayOutputStream banner = new ByteArrayOutputStream();
        try (Daemon d = Daemon.start(config(dir, "127.0.0.1", 0, banner))) {
            String text = banner.toString(StandardCharsets.UTF_8);
            assertThat(text).doesNotContain("first start: created", "argument count")
                    .contains("PROBLEM: vol0: not created: the state directory's image path", "U+0020", "without spaces");
            assertThat(d.state().devices()).isEmpty();
            assertThat(dir.imagesDir().resolve("vol0.img")).doesNotExist();
        }
    }
}
