package dev.cairn.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.dm.DeviceBusyException;
import org.junit.jupiter.api.Test;

/** Issue 17: the hint of a busy snapshot device named cairn remove --force, which is refused for it. */
class DmErrorsTest {
    @Test
    void aBusySnapshotDeviceIsNeverToldToUseRemoveForce() {
        DeviceBusyException busy = new DeviceBusyException("device: o-real (expected: not open; open count 1)");
        assertThat(DmErrors.of("snapshot rm", "o-real", busy).hint()).doesNotContain("remove --force")
                .contains("cairn info o-real");
        assertThat(DmErrors.of("remove", "low", busy).hint()).contains("cairn remove --force low");
    }
}
