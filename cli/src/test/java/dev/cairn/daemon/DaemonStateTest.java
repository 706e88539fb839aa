package dev.cairn.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class DaemonStateTest {
    private static DaemonState.Device dev(String name, String... deps) {
        return new DaemonState.Device(name, "0 8 zero\n", null, false, false, List.of(deps));
    }

    @Test
    void restoresBottomUpWhateverTheCreationOrder() {
        // "top" was reloaded to stack on "late", which was created after it.
        DaemonState s = DaemonState.empty()
                .withDevice(dev("base"))
                .withDevice(dev("top", "late", "base"))
                .withDevice(dev("mid", "base"))
                .withDevice(dev("late", "mid"));
        assertThat(s.inDependencyOrder()).extracting(DaemonState.Device::name).containsExactly("base", "mid", "late", "top");
    }

    @Test
    void unknownDependenciesAreLeaves() {
        DaemonState s = DaemonState.empty().withDevice(dev("a", "file:/x", "gone"));
        assertThat(s.inDependencyOrder()).extracting(DaemonState.Device::name).containsExactly("a");
    }

    @Test
    void aCycleDoesNotLoop() {
        DaemonState s = DaemonState.empty().withDevice(dev("a", "b")).withDevice(dev("b", "a"));
        assertThat(s.inDependencyOrder()).extracting(DaemonState.Device::name).containsExactlyInAnyOrder("a", "b");
    }

    @Test
    void removingADeviceDropsItsExports() {
        DaemonState s = DaemonState.empty().withDevice(dev("a"))
                .withExport(new DaemonState.Export("a", "a", false, ""))
                .withExport(new DaemonState.Export("a-ro", "a", true, ""));
        assertThat(s.withoutDevice("a").exports()).isEmpty();
    }

    @Test
    void replacingADeviceKeepsItsPlace() {
        DaemonState s = DaemonState.empty().withDevice(dev("a")).withDevice(dev("b"));
        s = s.withDevice(dev("a", "b"));
        assertThat(s.devices()).extracting(DaemonState.Device::name).containsExactly("a", "b");
        assertThat(s.device("a").deps()).containsExactly("b");
    }
}
