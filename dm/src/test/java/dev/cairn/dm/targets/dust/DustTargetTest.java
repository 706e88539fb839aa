package dev.cairn.dm.targets.dust;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.BioStatus;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.dm.DeviceRegistry;
import dev.cairn.dm.DmException;
import dev.cairn.dm.FakeClock;
import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.RegistryOptions;
import dev.cairn.dm.StatusType;
import dev.cairn.dm.TableException;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.Pattern;
import dev.cairn.testkit.StackBuilder;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** dust: the kernel's messages, replies, status line and bad-block semantics. */
class DustTargetTest {
    private StackBuilder stack;
    private DeviceRegistry dm;
    private MappedDevice md;

    @BeforeEach
    void setUp() throws Exception {
        stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);
        dm = new DeviceRegistry(stack.submitter(), RegistryOptions.defaults().withClock(new FakeClock()));
        dm.addLeaf("lower", new MemoryStore("lower", 1 << 20));
        md = dm.create("d", "0 2048 dust lower 0 4096");
    }

    @AfterEach
    void tearDown() {
        dm.close();
        stack.close();
    }

    private String msg(String... words) throws DmException {
        return dm.message("d", 0, words);
    }

    private BioStatus read(long sector, int bytes) {
        return Io.read(stack.submitter(), md, sector, MemorySegment.ofArray(new byte[bytes]));
    }

    private BioStatus write(long sector, int bytes, int gen) {
        return Io.write(stack.submitter(), md, sector, Pattern.segment(sector * 512, bytes, gen));
    }

    @Test
    void repliesAndStatusAreTheKernels() throws Exception {
        assertThat(dm.status("d", StatusType.INFO).text()).isEqualTo("0 2048 dust lower bypass verbose\n");
        assertThat(dm.status("d", StatusType.TABLE).text()).isEqualTo("0 2048 dust lower 0 4096\n");
        assertThat(msg("listbadblocks")).isEqualTo("No blocks in badblocklist");
        assertThat(msg("addbadblock", "60")).isEmpty();
        assertThat(msg("addbadblock", "67", "2")).isEmpty();
        assertThat(msg("AddBadBlock", "72")).isEmpty();
        assertThat(msg("countbadblocks")).isEqualTo("countbadblocks: 3 badblock(s) found");
        assertThat(msg("listbadblocks")).isEqualTo("60\n67\n72");
        assertThat(msg("queryblock", "72")).isEqualTo("dust_query_block: block 72 found in badblocklist");
        assertThat(msg("queryblock", "73")).isEqualTo("dust_query_block: block 73 not found in badblocklist");
        assertThat(msg("removebadblock", "72")).isEmpty();
        assertThatThrownBy(() -> msg("removebadblock", "72")).hasMessage("dust: dust_remove_block: block 72 not found in badblocklist");
        assertThatThrownBy(() -> msg("addbadblock", "60")).hasMessage("dust: dust_add_block: block 60 already in badblocklist");
        // 1 MiB of 4 KiB blocks is 256 blocks; like the kernel, block 256 itself is accepted.
        assertThat(msg("addbadblock", "256")).isEmpty();
        assertThatThrownBy(() -> msg("addbadblock", "257")).hasMessageStartingWith("dust: selected block value out of range");
        assertThatThrownBy(() -> msg("addbadblock", "1", "256")).hasMessageStartingWith("dust: selected write fail count out of range");
        assertThatThrownBy(() -> msg("queryblock")).hasMessage("dust: queryblock requires an additional argument");
        assertThatThrownBy(() -> msg("frobnicate")).hasMessage("dust: unrecognized message 'frobnicate' received");
        assertThatThrownBy(() -> msg("a", "1", "2", "3")).hasMessage("dust: invalid number of arguments '4'");
        assertThat(msg("enable")).isEmpty();
        assertThat(msg("quiet")).isEmpty();
        assertThat(dm.status("d", StatusType.INFO).text()).isEqualTo("0 2048 dust lower fail_read_on_bad_block quiet\n");
        assertThat(msg("clearbadblocks")).isEqualTo("dust_clear_badblocks: badblocks cleared");
        assertThat(msg("clearbadblocks")).isEqualTo("dust_clear_badblocks: no badblocks found");
        assertThat(msg("countbadblocks")).isEqualTo("countbadblocks: 0 badblock(s) found");
    }

    @Test
    void badBlocksFailReadsOnlyWhenEnabledAndAWriteRemapsThem() throws Exception {
        assertThat(write(0, 65536, 1)).isEqualTo(BioStatus.OK);
        msg("addbadblock", "2");
        msg("addbadblock", "5", "1");
        // Bypass: the list is kept but ignored, and writes do not clear it.
        assertThat(read(16, 4096)).isEqualTo(BioStatus.OK);
        assertThat(write(16, 4096, 2)).isEqualTo(BioStatus.OK);
        assertThat(msg("countbadblocks")).isEqualTo("countbadblocks: 2 badblock(s) found");
        msg("enable");
        assertThat(read(16, 4096)).isEqualTo(BioStatus.IOERR);
        // A read across blocks 1..3 is split per block: the piece in block 2 fails, so the read fails.
        assertThat(read(8, 12288)).isEqualTo(BioStatus.IOERR);
        assertThat(read(24, 4096)).isEqualTo(BioStatus.OK);
        // A write to block 2 succeeds and takes it off the list; then reads work and see the new data.
        assertThat(write(16, 4096, 3)).isEqualTo(BioStatus.OK);
        assertThat(msg("queryblock", "2")).endsWith("not found in badblocklist");
        assertThat(Io.readOk(stack.submitter(), md, 16, 4096).toArray(ValueLayout.JAVA_BYTE))
                .isEqualTo(Pattern.segment(16 * 512, 4096, 3).toArray(ValueLayout.JAVA_BYTE));
        // Block 5 has a write-fail count of 1: the first write fails, the second clears it.
        assertThat(write(40, 4096, 4)).isEqualTo(BioStatus.IOERR);
        assertThat(msg("queryblock", "5")).endsWith(" found in badblocklist");
        assertThat(write(40, 4096, 4)).isEqualTo(BioStatus.OK);
        assertThat(msg("listbadblocks")).isEqualTo("No blocks in badblocklist");
        msg("addbadblock", "7");
        msg("disable");
        assertThat(read(56, 4096)).isEqualTo(BioStatus.OK);
        assertThat(Io.flush(stack.submitter(), md)).isEqualTo(BioStatus.OK);
    }

    @Test
    void blockNumbersCountFromTheLowerDevicesStartAsInTheKernel() throws Exception {
        dm.create("off", "0 1024 dust lower 1024 4096");
        dm.message("off", 0, "addbadblock", "128");
        dm.message("off", 0, "enable");
        // Target sector 0 is lower sector 1024 = 4 KiB block 128.
        assertThat(Io.read(stack.submitter(), dm.device("off"), 0, MemorySegment.ofArray(new byte[4096])))
                .isEqualTo(BioStatus.IOERR);
    }

    @Test
    void constructorChecksTheBlockSize() {
        assertThatThrownBy(() -> dm.create("x", "0 2048 dust lower 0 1000")).isInstanceOf(TableException.class)
                .hasMessageContaining("blksz: 1000 (expected: a power of 2)");
        assertThatThrownBy(() -> dm.create("x", "0 2048 dust lower 0 256")).isInstanceOf(TableException.class)
                .hasMessageContaining("blksz");
        assertThatThrownBy(() -> dm.create("x", "0 8 dust lower 0 8192")).isInstanceOf(TableException.class)
                .hasMessageContaining("at most the target's length");
        assertThatThrownBy(() -> dm.create("x", "0 8 dust lower 0")).isInstanceOf(TableException.class);
    }
}
