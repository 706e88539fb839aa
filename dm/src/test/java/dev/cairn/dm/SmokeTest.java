package dev.cairn.dm;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.SubmitPolicy;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.Pattern;
import dev.cairn.testkit.StackBuilder;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

class SmokeTest {
    @Test
    void linearOverMemory() throws Exception {
        try (StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);
                DeviceRegistry dm = new DeviceRegistry(stack.submitter())) {
            MappedDevice md = dm.create("a", "0 2048 linear mem:2M 0\n2048 2048 zero");
            assertThat(md.capacitySectors()).isEqualTo(4096);
            Io.writeOk(stack.submitter(), md, 1000, Pattern.segment(1000 * 512L, 4096 * 2, 3));
            MemorySegment back = Io.readOk(stack.submitter(), md, 1000, 8192);
            Pattern.check(back.asSlice(0, 8192), 1000 * 512L, 3);
            assertThat(dm.status("a", StatusType.TABLE).text()).isEqualTo("0 2048 linear mem:2M 0\n2048 2048 zero\n");
        }
    }
}
