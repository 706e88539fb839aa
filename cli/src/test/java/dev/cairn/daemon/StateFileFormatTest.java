package dev.cairn.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.daemon.proto.DeviceProto;
import dev.cairn.daemon.proto.ExportProto;
import dev.cairn.daemon.proto.SnapshotProto;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A state file of today's format (version 1), copied from a real daemon's state directory after
 * {@code create}, two {@code snapshot create}s (one transient), {@code export add --read-only},
 * {@code load} and {@code suspend}; its directory written as {@code @STATE_DIR@}. It must keep
 * loading, and a daemon must come up on it with the same devices, exports and snapshots.
 */
class StateFileFormatTest {
    @TempDir Path tmp;

    private StateDir stateDirFromResource() throws Exception {
        StateDir dir = new StateDir(tmp.resolve("s"));
        dir.create();
        String text;
        try (InputStream in = StateFileFormatTest.class.getResourceAsStream("/state/state-v1.json")) {
            text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        Files.writeString(dir.stateFile(), text.replace("@STATE_DIR@", dir.root().toString()));
        return dir;
    }

    @Test
    void todaysFileLoadsAsItWasWritten() throws Exception {
        StateDir dir = stateDirFromResource();
        DaemonState s = new StateFile(dir.stateFile()).load();
        assertThat(s.devices()).extracting(DaemonState.Device::name).containsExactly("vol0", "base", "vol0-real", "s1", "t1", "top");
        assertThat(s.device("vol0-real").hidden()).isTrue();
        assertThat(s.device("top").suspended()).isTrue();
        assertThat(s.device("top").inactive()).isEqualTo("0 1024 linear base 0\n");
        assertThat(s.export("s1-ro").readOnly()).isTrue();
        assertThat(s.snapshot("s1").chunkSectors()).isEqualTo(16);
        assertThat(s.snapshot("t1").persistent()).isFalse();
        assertThat(s.intent()).isNull();
        // Written back, it is the same file (nothing to migrate).
        String before = Files.readString(dir.stateFile());
        new StateFile(dir.stateFile()).save(s);
        assertThat(Files.readString(dir.stateFile())).isEqualTo(before);
    }

    @Test
    void aDaemonComesUpOnTodaysFile() throws Exception {
        StateDir dir = stateDirFromResource();
        // The images it names: vol0's data and a fresh (all-zero header: new) persistent COW for s1.
        Images.createSparse(dir.imagesDir().resolve("vol0.img"), 1L << 30);
        Images.createSparse(dir.imagesDir().resolve("s1.cow"), 16L << 20);
        ByteArrayOutputStream banner = new ByteArrayOutputStream();
        Daemon daemon = Daemon.start(new Daemon.Config(dir, "127.0.0.1", -1, true, new PrintStream(banner, true, StandardCharsets.UTF_8)));
        try {
            assertThat(banner.toString(StandardCharsets.UTF_8)).contains("transient snapshot t1 of vol0 did not survive the restart");
            assertThat(daemon.call(DeviceProto.LS, new DeviceProto.Ls(false)).devices()).extracting(DeviceProto.LsDevice::name)
                    .containsExactlyInAnyOrder("vol0", "base", "vol0-real", "s1", "top");
            DeviceProto.DeviceInfo top = daemon.call(DeviceProto.INFO, new DeviceProto.Info("top")).devices().getFirst();
            assertThat(top.state()).isEqualTo("SUSPENDED");
            assertThat(top.inactiveTable()).isTrue();
            assertThat(daemon.call(ExportProto.LIST, new ExportProto.List_()).exports()).extracting(ExportProto.Export::name)
                    .containsExactly("s1", "s1-ro", "top", "vol0");
            SnapshotProto.Snapshot s1 = daemon.call(SnapshotProto.LIST, new SnapshotProto.Ls("s1", true)).snapshots().getFirst();
            assertThat(s1.state()).isEqualTo("active");
            assertThat(s1.chunkSectors()).isEqualTo(16);
        } finally {
            daemon.stop();
        }
    }
}
