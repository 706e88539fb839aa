package dev.cairn.daemon;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StateFileTest {
    @TempDir Path dir;

    private static DaemonState sample() {
        return DaemonState.empty()
                .withDevice(new DaemonState.Device("vol0-real", "0 8 linear file:/x 0\n", null, false, true, List.of()))
                .withDevice(new DaemonState.Device("vol0", "0 8 snapshot-origin vol0-real\n", "0 8 zero\n", true, false,
                        List.of("vol0-real")))
                .withExport(new DaemonState.Export("vol0", "vol0", false, "the first volume"))
                .withSnapshot(new DaemonState.Snapshot("s1", "vol0", "vol0-real", "/x.cow", true, true, 16, false));
    }

    @Test
    void missingFileMeansFirstStart() throws Exception {
        assertThat(new StateFile(dir.resolve("state.json")).load()).isNull();
    }

    @Test
    void savesAndLoadsEveryField() throws Exception {
        StateFile f = new StateFile(dir.resolve("state.json"));
        f.save(sample());
        assertThat(f.load()).isEqualTo(sample());
        assertThat(Files.readString(f.path())).contains("\"format\": \"cairn-state\"", "\"version\": 1");
    }

    @Test
    void writeIsAtomicAndLeavesNoTemporaryFile() throws Exception {
        StateFile f = new StateFile(dir.resolve("state.json"));
        f.save(DaemonState.empty());
        f.save(sample());
        assertThat(Files.exists(AtomicFiles.tempFor(f.path()))).isFalse();
        try (var files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString()).toList()).containsExactly("state.json");
        }
    }

    @Test
    void aCrashBeforeTheRenameLeavesTheOldStateIntact() throws Exception {
        StateFile f = new StateFile(dir.resolve("state.json"));
        f.save(sample());
        // What a crash between "write temp" and "rename" leaves behind: a half-written temp file.
        Files.writeString(AtomicFiles.tempFor(f.path()), "{\"format\": \"cairn-st");
        assertThat(f.load()).isEqualTo(sample());
        // The next save overwrites the stale temp file and succeeds.
        f.save(DaemonState.empty());
        assertThat(f.load()).isEqualTo(DaemonState.empty());
    }

    @Test
    void corruptFilesAreRefusedWithTheirPath() throws Exception {
        Path p = dir.resolve("state.json");
        StateFile f = new StateFile(p);
        String[][] cases = {
            {"{\"format\": \"cairn-state\", \"version\": 1, \"devi", "Unexpected end-of-input in field name at offset 45"},
            {"", "end-of-input"},
            {"[]", "expected a JSON object"},
            {"{\"format\": \"other\", \"version\": 1}", "format: \"other\""},
            {"{\"format\": \"cairn-state\", \"version\": 2, \"devices\": []}", "written by a newer cairn"},
            {"{\"format\": \"cairn-state\", \"version\": 1, \"exports\": [], \"snapshots\": []}", "devices: missing"},
            {"{\"format\": \"cairn-state\", \"version\": 1, \"devices\": [{\"name\": 3}], \"exports\": [], \"snapshots\": []}",
                "devices[0].name: a number (expected: a string)"},
            {"{\"format\": \"cairn-state\", \"version\": 1, \"devices\": [], \"exports\": [], \"snapshots\": [],}",
                "was expecting double-quote to start field name"},
        };
        for (String[] c : cases) {
            Files.writeString(p, c[0]);
            assertThatThrownBy(f::load).as(c[0]).isInstanceOf(DaemonException.class)
                    .hasMessageContaining("state file " + p + " is corrupt")
                    .hasMessageContaining(c[1])
                    .satisfies(e -> assertThat(((DaemonException) e).hint()).contains("will not guess", ".bad"));
        }
        Files.write(p, new byte[] {(byte) 0xff, (byte) 0xfe, 0});
        assertThatThrownBy(f::load).hasMessageContaining("not UTF-8");
    }

    @Test
    void duplicateDeviceNamesAreCorrupt() throws Exception {
        Path p = dir.resolve("state.json");
        String dev = "{\"name\": \"a\", \"table\": \"0 8 zero\", \"inactive\": null, \"suspended\": false, \"hidden\": false, \"deps\": []}";
        Files.writeString(p, "{\"format\": \"cairn-state\", \"version\": 1, \"devices\": [" + dev + "," + dev
                + "], \"exports\": [], \"snapshots\": []}", StandardCharsets.UTF_8);
        assertThatThrownBy(() -> new StateFile(p).load()).hasMessageContaining("devices: \"a\" appears twice");
    }
}
