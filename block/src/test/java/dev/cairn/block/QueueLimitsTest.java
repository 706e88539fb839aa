package dev.cairn.block;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** The optimal I/O size and its stacking rule (Linux {@code blk_stack_limits}: {@code lcm_not_zero}). */
class QueueLimitsTest {
    private static final QueueLimits PLAIN = QueueLimits.defaults();

    @Test
    void noHintStacksOntoAHintAsTheHint() {
        assertThat(PLAIN.optimalIoBytes()).isZero();
        assertThat(PLAIN.stack(PLAIN.withOptimalIo(4 << 20)).optimalIoBytes()).isEqualTo(4 << 20);
        assertThat(PLAIN.withOptimalIo(4 << 20).stack(PLAIN).optimalIoBytes()).isEqualTo(4 << 20);
    }

    @Test
    void twoHintsStackToTheirLeastCommonMultiple() {
        QueueLimits objects = PLAIN.withOptimalIo(4 << 20);
        QueueLimits threeStripes = PLAIN.withOptimalIo(3 * 65536);
        assertThat(objects.stack(threeStripes).optimalIoBytes()).isEqualTo(12 << 20);
        assertThat(objects.stack(PLAIN.withOptimalIo(1 << 20)).optimalIoBytes()).isEqualTo(4 << 20);
    }

    @Test
    void aHintThatIsNotAMultipleOfTheStackedPhysicalBlockIsDropped() {
        QueueLimits big = new QueueLimits(512, 65536, 0, 0, 0, 0, false, false, false);
        assertThat(PLAIN.withOptimalIo(3 * 4096).stack(big).optimalIoBytes()).isZero();
    }

    @Test
    void aLeastCommonMultipleBeyondAnIntMeansNoHint() {
        QueueLimits a = PLAIN.withOptimalIo(1 << 30);
        QueueLimits b = PLAIN.withOptimalIo(3 * 4096);
        assertThat(a.stack(b).optimalIoBytes()).isZero();
    }

    @Test
    void otherChangesKeepTheHint() {
        QueueLimits l = PLAIN.withOptimalIo(1 << 20);
        assertThat(l.withReadOnly(true).withMaxSectors(8).withDiscard(0, 0).withWriteZeroes(0).withCache(false, false)
                .optimalIoBytes()).isEqualTo(1 << 20);
    }

    @Test
    void aHintMustBeAMultipleOfThePhysicalBlock() {
        assertThatThrownBy(() -> PLAIN.withOptimalIo(6144))
                .hasMessage("optimalIoBytes: 6144 (expected: 0 or a multiple of physicalBlockBytes 4096)");
        assertThatThrownBy(() -> PLAIN.withOptimalIo(-4096)).hasMessageStartingWith("optimalIoBytes: -4096");
    }
}
