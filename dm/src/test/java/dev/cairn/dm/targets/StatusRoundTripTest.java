package dev.cairn.dm.targets;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.dm.DeviceRegistry;
import dev.cairn.dm.FakeClock;
import dev.cairn.dm.RegistryOptions;
import dev.cairn.dm.StatusType;
import dev.cairn.testkit.StackBuilder;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The TABLE status of every target, in every argument form, is exactly what Linux prints and feeds
 * back through the constructor to the same target (same TABLE and INFO).
 */
class StatusRoundTripTest {

    @ParameterizedTest(name = "{0}")
    @CsvSource(delimiterString = " => ", value = {
        "0 64 linear a 16 => 0 64 linear a 16 => 0 64 linear",
        "0 64 zero => 0 64 zero => 0 64 zero",
        "0 64 error => 0 64 error => 0 64 error",
        "0 64 striped 2 16 a 0 b 32 => 0 64 striped 2 16 a 0 b 32 => 0 64 striped 2 a b 1 AA",
        "0 96 striped 3 8 a 0 b 8 mem:64K 0 => 0 96 striped 3 8 a 0 b 8 mem:64K 0 => 0 96 striped 3 a b mem:64K 1 AAA",
        "0 64 delay a 0 100 => 0 64 delay a 0 100 => 0 64 delay 0 0 0",
        "0 64 delay a 0 100 b 8 200 => 0 64 delay a 0 100 b 8 200 => 0 64 delay 0 0 0",
        "0 64 delay a 0 100 b 8 200 a 64 0 => 0 64 delay a 0 100 b 8 200 a 64 0 => 0 64 delay 0 0 0",
        "0 64 flakey a 0 10 5 => 0 64 flakey a 0 10 5 2 error_reads error_writes => 0 64 flakey",
        "0 64 flakey a 0 10 5 0 => 0 64 flakey a 0 10 5 2 error_reads error_writes => 0 64 flakey",
        "0 64 flakey a 8 1 2 1 DROP_WRITES => 0 64 flakey a 8 1 2 1 drop_writes => 0 64 flakey",
        "0 64 flakey a 8 1 2 2 error_writes error_reads => 0 64 flakey a 8 1 2 2 error_reads error_writes => 0 64 flakey",
        "0 64 flakey a 0 1 2 6 corrupt_bio_byte 32 r 1 0 drop_writes => 0 64 flakey a 0 1 2 6 drop_writes corrupt_bio_byte 32 r 1 0 => 0 64 flakey",
        "0 64 flakey a 0 1 2 9 random_write_corrupt 500 corrupt_bio_byte 1 W 255 4 random_read_corrupt 7 => 0 64 flakey a 0 1 2 9 corrupt_bio_byte 1 w 255 4 random_read_corrupt 7 random_write_corrupt 500 => 0 64 flakey",
        "0 64 log-writes a mem:64K => 0 64 log-writes a mem:64K => 0 64 log-writes 0 0",
        "0 64 dust a 8 4096 => 0 64 dust a 8 4096 => 0 64 dust a bypass verbose",
    })
    void tableStatusRoundTrips(String table, String expectedTable, String expectedInfo) throws Exception {
        try (StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);
                DeviceRegistry dm = new DeviceRegistry(stack.submitter(), RegistryOptions.defaults().withClock(new FakeClock()))) {
            dm.addLeaf("a", new MemoryStore("a", 1 << 20));
            dm.addLeaf("b", new MemoryStore("b", 1 << 20));
            dm.create("first", table);
            String tableStatus = dm.status("first", StatusType.TABLE).text();
            assertThat(tableStatus).isEqualTo(expectedTable + "\n");
            String info = dm.status("first", StatusType.INFO).text();
            assertThat(info).isEqualTo(expectedInfo + "\n");
            // Feed the TABLE form back through the constructor: same TABLE, same INFO.
            dm.create("second", tableStatus);
            assertThat(dm.status("second", StatusType.TABLE).text()).isEqualTo(tableStatus);
            assertThat(dm.status("second", StatusType.INFO).text()).isEqualTo(info);
        }
    }
}
