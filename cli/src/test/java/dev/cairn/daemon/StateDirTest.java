package dev.cairn.daemon;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StateDirTest {
    @TempDir Path tmp;

    @Test
    void resolutionOrder() {
        Map<String, String> env = Map.of("CAIRN_HOME", "/c", "XDG_DATA_HOME", "/x");
        assertThat(StateDir.resolve(Path.of("/flag"), env, "/home/u").root()).isEqualTo(Path.of("/flag"));
        assertThat(StateDir.resolve(null, env, "/home/u").root()).isEqualTo(Path.of("/c"));
        assertThat(StateDir.resolve(null, Map.of("XDG_DATA_HOME", "/x"), "/home/u").root()).isEqualTo(Path.of("/x/cairn"));
        assertThat(StateDir.resolve(null, Map.of(), "/home/u").root()).isEqualTo(Path.of("/home/u/.local/share/cairn"));
        // A relative XDG_DATA_HOME is invalid per the spec and ignored; an empty CAIRN_HOME is unset.
        assertThat(StateDir.resolve(null, Map.of("CAIRN_HOME", "", "XDG_DATA_HOME", "rel"), "/h").root())
                .isEqualTo(Path.of("/h/.local/share/cairn"));
    }

    @Test
    void createsAPrivateDirectory() throws Exception {
        StateDir d = new StateDir(tmp.resolve("a/b/state"));
        d.create();
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(d.root()))).isEqualTo("rwx------");
        assertThat(d.imagesDir()).isDirectory();
        d.create(); // idempotent
    }

    @Test
    void refusesAFileWhereTheDirectoryShouldBe() throws Exception {
        Path file = Files.writeString(tmp.resolve("f"), "x");
        assertThatThrownBy(() -> new StateDir(file).create()).hasMessageContaining("is not a directory");
    }

    @Test
    void secondLockIsRefusedWithPidAndHint() throws Exception {
        StateDir d = new StateDir(tmp.resolve("s"));
        d.create();
        try (DaemonLock first = DaemonLock.acquire(d)) {
            assertThat(DaemonLock.isHeld(d)).isTrue();
            assertThatThrownBy(() -> DaemonLock.acquire(d)).isInstanceOf(DaemonException.class)
                    .hasMessageContaining("another cairn daemon (pid " + ProcessHandle.current().pid() + ")")
                    .hasMessageContaining("already running on state directory " + d.root())
                    .satisfies(e -> assertThat(((DaemonException) e).hint()).contains("--state-dir"));
        }
        // Released: the next one gets it.
        try (DaemonLock again = DaemonLock.acquire(d)) {
            assertThat(again.path()).exists();
        }
    }
}
