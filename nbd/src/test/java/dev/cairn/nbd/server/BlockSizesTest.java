package dev.cairn.nbd.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.QueueLimits;
import dev.cairn.nbd.protocol.BlockSizeConstraints;
import org.junit.jupiter.api.Test;

/** NBD_INFO_BLOCK_SIZE from a device's queue limits: the optimal I/O size becomes the preferred size. */
class BlockSizesTest {
    private static final int MAX_PAYLOAD = 32 << 20;

    private static BlockSizeConstraints sizes(QueueLimits limits) {
        return NbdExport.of("x", new TestDevice("x", 1 << 20, limits)).blockSizes(MAX_PAYLOAD);
    }

    @Test
    void withoutAHintPreferredIsTheLargerOf4KAndThePhysicalBlock() {
        assertThat(sizes(QueueLimits.defaults())).isEqualTo(new BlockSizeConstraints(512, 4096, MAX_PAYLOAD));
        QueueLimits big = new QueueLimits(512, 65536, 0, 0, 0, 0, true, true, false);
        assertThat(sizes(big).preferredBytes()).isEqualTo(65536);
    }

    @Test
    void anRbdObjectSizeIsPreferred() {
        assertThat(sizes(QueueLimits.defaults().withOptimalIo(4 << 20)))
                .isEqualTo(new BlockSizeConstraints(512, 4 << 20, MAX_PAYLOAD));
    }

    @Test
    void aHintThatIsNotAPowerOfTwoGivesItsLargestPowerOfTwoFactor() {
        // three stripes of 64 KiB: 192 KiB is not a power of two; 64 KiB divides it.
        assertThat(sizes(QueueLimits.defaults().withOptimalIo(3 * 65536)).preferredBytes()).isEqualTo(65536);
    }

    @Test
    void aHintAboveTheMaximumPayloadIsNotPreferred() {
        assertThat(sizes(QueueLimits.defaults().withOptimalIo(64 << 20)).preferredBytes()).isEqualTo(4096);
    }
}
