package dev.cairn.block.store;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.store.FileCapabilities.Capability;
import java.util.EnumSet;
import org.junit.jupiter.api.Test;

/** Refusals are remembered for good, one capability at a time, and only the first refusal reports itself. */
class FileCapabilitiesTest {
    @Test
    void aRefusalIsPermanentAndReportedOnce() {
        FileCapabilities caps = new FileCapabilities();
        assertThat(caps.refusedNow()).isEmpty();
        assertThat(caps.allows(Capability.DSYNC)).isTrue();
        assertThat(caps.refuse(Capability.DSYNC)).as("first refusal").isTrue();
        assertThat(caps.refuse(Capability.DSYNC)).as("second refusal").isFalse();
        assertThat(caps.allows(Capability.DSYNC)).isFalse();
        // the others are untouched
        for (Capability c : EnumSet.complementOf(EnumSet.of(Capability.DSYNC))) {
            assertThat(caps.allows(c)).as(c.name()).isTrue();
        }
        caps.refuse(Capability.SPLICE);
        assertThat(caps.refusedNow()).containsExactlyInAnyOrder(Capability.DSYNC, Capability.SPLICE);
    }

    @Test
    void probeRefusesWhatTheKernelLacks() {
        FileCapabilities caps = FileCapabilities.probe();
        assertThat(caps.allows(Capability.PUNCH_HOLE)).isEqualTo(Posix.hasFallocate());
        assertThat(caps.allows(Capability.ZERO_RANGE)).isEqualTo(Posix.hasFallocate());
        assertThat(caps.allows(Capability.DSYNC)).isEqualTo(Posix.hasPwritev2());
        assertThat(caps.allows(Capability.NOWAIT_WRITE)).isEqualTo(Posix.hasPwritev2());
        assertThat(caps.allows(Capability.NOWAIT_READ)).isEqualTo(Posix.hasPreadv2());
        assertThat(caps.allows(Capability.SPLICE)).isTrue();
    }
}
