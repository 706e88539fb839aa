package dev.cairn.dm.targets.error;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.BioStatus;
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

class ErrorTargetTest {

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    void everyIoTouchingTheErrorTargetFails(SubmitPolicy policy) throws Exception {
        try (StackBuilder stack = StackBuilder.create(policy); DeviceRegistry dm = new DeviceRegistry(stack.submitter())) {
            MappedDevice md = dm.create("e", "0 1024 linear mem:1M 0\n1024 1024 error\n2048 1024 zero");
            SplittableRandom r = new SplittableRandom(5);
            for (int i = 0; i < 300; i++) {
                int n = 1 + r.nextInt(1024);
                long s = r.nextLong(3072 - n + 1);
                boolean touches = s < 2048 && s + n > 1024;
                BioStatus expected = touches ? BioStatus.IOERR : BioStatus.OK;
                BioStatus got = switch (r.nextInt(4)) {
                    case 0 -> Io.write(stack.submitter(), md, s, Pattern.segment(s * 512, n * 512, 1));
                    case 1 -> Io.discard(stack.submitter(), md, s, n);
                    case 2 -> Io.writeZeroes(stack.submitter(), md, s, n, 0);
                    default -> Io.read(stack.submitter(), md, s, MemorySegment.ofArray(new byte[n * 512]));
                };
                assertThat(got).as("[%d, +%d)", s, n).isEqualTo(expected);
            }
            // The error target takes no flushes (it has no device), so a flush of the whole device works.
            assertThat(Io.flush(stack.submitter(), md)).isEqualTo(BioStatus.OK);
            assertThat(Io.extents(md, 1024, 1024)).containsExactly(new Io.Extent(1024, 1024, 0));
        }
    }
}
