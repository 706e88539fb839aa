package dev.cairn.nbd.client;

import static dev.cairn.nbd.protocol.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.QueueLimits;
import org.junit.jupiter.api.Test;

/** The queue limits of an {@code nbd:} leaf from what the server negotiated. */
class ClientLimitsTest {
    private static QueueLimits limits(int min, int preferred, int max) {
        return NbdClientDevice.limitsOf(new NegotiatedExport(1 << 30, TF_HAS_FLAGS | TF_SEND_FLUSH, true, -1,
                min, preferred, max));
    }

    @Test
    void aPreferredSizeAboveThePhysicalBlockIsTheOptimalIo() {
        QueueLimits l = limits(512, 4 << 20, 32 << 20);
        assertThat(l.physicalBlockBytes()).isEqualTo(65536);
        assertThat(l.optimalIoBytes()).isEqualTo(4 << 20);
    }

    @Test
    void aPlainPreferredSizeIsOnlyThePhysicalBlock() {
        QueueLimits l = limits(512, 4096, 32 << 20);
        assertThat(l.physicalBlockBytes()).isEqualTo(4096);
        assertThat(l.optimalIoBytes()).isZero();
    }
}
