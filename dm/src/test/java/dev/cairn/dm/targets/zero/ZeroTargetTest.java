package dev.cairn.dm.targets.zero;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.BioStatus;
import dev.cairn.block.Extents;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.dm.DeviceRegistry;
import dev.cairn.dm.MappedDevice;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.Pattern;
import dev.cairn.testkit.StackBuilder;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class ZeroTargetTest {

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    void readsAreZerosWhateverWasWritten(SubmitPolicy policy) throws Exception {
        try (StackBuilder stack = StackBuilder.create(policy); DeviceRegistry dm = new DeviceRegistry(stack.submitter())) {
            MappedDevice md = dm.create("z", "0 8192 zero");
            SplittableRandom r = new SplittableRandom(11);
            for (int i = 0; i < 300; i++) {
                int n = 1 + r.nextInt(2048);
                long s = r.nextLong(8192 - n + 1);
                switch (r.nextInt(4)) {
                    case 0 -> assertThat(Io.write(stack.submitter(), md, s, Pattern.segment(s * 512, n * 512, 1 + i)))
                            .isEqualTo(BioStatus.OK);
                    case 1 -> assertThat(Io.discard(stack.submitter(), md, s, n)).isEqualTo(BioStatus.OK);
                    case 2 -> assertThat(Io.writeZeroes(stack.submitter(), md, s, n, 0)).isEqualTo(BioStatus.OK);
                    default -> {
                        MemorySegment back = MemorySegment.ofArray(new byte[n * 512]);
                        back.fill((byte) 0x5a); // a read must overwrite every byte
                        assertThat(Io.read(stack.submitter(), md, s, back)).isEqualTo(BioStatus.OK);
                        assertThat(back.mismatch(MemorySegment.ofArray(new byte[n * 512]))).isEqualTo(-1);
                    }
                }
            }
            assertThat(Io.flush(stack.submitter(), md)).isEqualTo(BioStatus.OK);
            assertThat(Io.extents(md, 0, 8192)).containsExactly(new Io.Extent(0, 8192, Extents.HOLE | Extents.ZERO));
            assertThat(md.limits().supportsDiscard()).isTrue();
        }
    }
}
