package dev.cairn.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class SnapshotsTest {
    @Test
    void defaultCowIsCowLayoutsRequiredSize() {
        // 1 GiB origin, 4 KiB chunks: 262144 data chunks, 256 exceptions per area -> 1025 areas (the last one empty), plus the header.
        assertThat(Snapshots.fullSizeBytes(2097152, 8)).isEqualTo((1 + 1025 + 262144) * 4096L);
        assertThat(Snapshots.fullSizeBytes(9, 8)).isEqualTo((1 + 1 + 2) * 4096L);
    }

    @Test
    void droppingATransientSnapshotPutsTheOriginTableBack() {
        DaemonState s = DaemonState.empty()
                .withDevice(new DaemonState.Device("o", "0 8 snapshot-origin o-real\n", null, false, false, List.of("o-real")))
                .withDevice(new DaemonState.Device("o-real", "0 8 linear file:/x 0\n", null, false, true, List.of()))
                .withDevice(new DaemonState.Device("t", "0 8 snapshot o-real file:/t.cow N 8\n", null, false, false, List.of("o-real")))
                .withExport(new DaemonState.Export("t", "t", false, ""))
                .withSnapshot(new DaemonState.Snapshot("t", "o", "o-real", "/nonexistent/t.cow", false, false, 8, false));
        List<String> problems = new ArrayList<>();
        DaemonState next = Snapshots.dropTransient(s, problems);
        assertThat(problems).singleElement().asString().contains("transient snapshot t of o");
        assertThat(next.devices()).extracting(DaemonState.Device::name).containsExactly("o");
        assertThat(next.device("o").table()).isEqualTo("0 8 linear file:/x 0\n");
        assertThat(next.exports()).isEmpty();
        assertThat(next.snapshots()).isEmpty();
    }
}
