package dev.cairn.dm.example;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.SubmitPolicy;
import dev.cairn.dm.DeviceRegistry;
import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.RegistryOptions;
import dev.cairn.dm.StatusType;
import dev.cairn.dm.TargetTypes;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.Pattern;
import dev.cairn.testkit.StackBuilder;
import org.junit.jupiter.api.Test;

/** The SPI example from docs/dm.md works as the document says. */
class OffsetTargetTest {
    @Test
    void theDocumentedExampleWorks() throws Exception {
        try (StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);
                DeviceRegistry dm = new DeviceRegistry(stack.submitter(),
                        RegistryOptions.defaults().withTargetTypes(TargetTypes.load().with(new OffsetTargetType())))) {
            dm.create("base", "0 4096 linear mem:2M 0");
            MappedDevice md = dm.create("off", "0 1024 offset base 2048");
            Io.writeOk(stack.submitter(), md, 0, Pattern.segment(0, 8192, 1));
            Pattern.check(Io.readOk(stack.submitter(), dm.device("base"), 2048, 8192), 0, 1);
            assertThat(dm.status("off", StatusType.INFO).text()).isEqualTo("0 1024 offset 1\n");
            assertThat(dm.status("off", StatusType.TABLE).text()).isEqualTo("0 1024 offset base 2048\n");
            dm.message("off", 0, "reset");
            assertThat(dm.status("off", StatusType.INFO).text()).isEqualTo("0 1024 offset 0\n");
            assertThatThrownBy(() -> dm.message("off", 0, "bogus")).hasMessage("offset: message: bogus (expected: reset)");
            assertThatThrownBy(() -> dm.create("bad", "0 8 offset base"))
                    .hasMessage("line 1: offset: argument count: 1 (expected: 2: <dev> <offset>)");
        }
    }
}
