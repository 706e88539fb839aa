package dev.cairn.dm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.QueueLimits;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.testkit.StackBuilder;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Every table rule that needs the registry: target names, each target's arguments, devices, ranges, alignment. */
class TableBuildTest {
    private StackBuilder stack;
    private DeviceRegistry dm;

    @BeforeEach
    void setUp() throws Exception {
        stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);
        dm = new DeviceRegistry(stack.submitter());
        dm.addLeaf("a", new MemoryStore("a", 1 << 20));
        dm.addLeaf("b", new MemoryStore("b", 1 << 20));
        dm.create("lower", "0 2048 linear a 0");
    }

    @AfterEach
    void tearDown() {
        dm.close();
        stack.close();
    }

    @ParameterizedTest
    @CsvSource(delimiterString = " => ", value = {
        // target names
        "0 8 nosuch => line 1: target: nosuch (expected: one of delay, dust, error, flakey, linear, log-writes, striped, zero)",
        "0 8 snapshot a file:/x P 8 => line 1: target: snapshot (expected: one of delay, dust, error, flakey, linear, log-writes, striped, zero; the snapshot targets are in dev.cairn:cairn-snapshot, which is not on the class path)",
        // linear
        "0 8 linear a => line 1: linear: argument count: 1 (expected: 2: <dev> <offset>)",
        "0 8 linear a x => line 1: linear: offset: x (expected: a sector number)",
        "0 8 linear nope 0 => line 1: linear: dev: nope (expected: an existing device, mem:SIZE or file:PATH)",
        "0 8 linear a 2044 => line 1: linear: a: range [2044, +8) (expected: inside the device's 2048 sectors)",
        "0 4096 linear a 0 => line 1: linear: a: range [0, +4096) (expected: inside the device's 2048 sectors)",
        "0 8 linear t 0 => line 1: linear: dev: t (expected: another device; a table cannot use its own device)",
        // zero, error
        "0 8 zero x => line 1: zero: extra argument: x (expected: no more arguments)",
        "0 8 error x => line 1: error: extra argument: x (expected: no more arguments)",
        // striped
        "0 64 striped 2 => line 1: striped: argument count: 1 (expected: at least 2: <#stripes> <chunk_sectors> (<dev> <offset>)+)",
        "0 64 striped 0 8 a 0 => line 1: striped: #stripes: 0 (expected: an integer from 1 to 65536)",
        "0 64 striped 2 3 a 0 b 0 => line 1: striped: chunk_sectors: 3 (expected: a power of two >= 8)",
        "0 64 striped 2 4 a 0 b 0 => line 1: striped: chunk_sectors: 4 (expected: a power of two >= 8)",
        "0 64 striped 2 12 a 0 b 0 => line 1: striped: chunk_sectors: 12 (expected: a power of two >= 8)",
        "0 64 striped 2 8 a 0 => line 1: striped: argument count: 4 (expected: 6 for 2 stripes: <#stripes> <chunk_sectors> (<dev> <offset>)+)",
        "0 64 striped 2 8 a 0 b 0 c 0 => line 1: striped: argument count: 8 (expected: 6 for 2 stripes: <#stripes> <chunk_sectors> (<dev> <offset>)+)",
        "0 72 striped 2 8 a 0 b 0 => line 1: striped: length: 72 (expected: a multiple of #stripes x chunk_sectors = 16)",
        // issue 22 item 4: #stripes x chunk_sectors wrapped to 0 (a division by zero)
        "0 64 striped 4 4611686018427387904 a 0 b 0 a 8 b 8 => line 1: striped: chunk_sectors: 4611686018427387904 (expected: #stripes x chunk_sectors at most 64, the length)",
        "0 64 striped 2 8 a 0 b z => line 1: striped: offset: z (expected: a sector number)",
        "0 64 striped 2 8 a 0 b 2040 => line 1: striped: b: range [2040, +32) (expected: inside the device's 2048 sectors)",
        // delay
        "0 8 delay a 0 => line 1: delay: argument count: 2 (expected: 3, 6 or 9: <dev> <offset> <delay_ms> [<wdev> <woffset> <wdelay_ms> [<fdev> <foffset> <fdelay_ms>]])",
        "0 8 delay a 0 5 b 0 => line 1: delay: argument count: 5 (expected: 3, 6 or 9: <dev> <offset> <delay_ms> [<wdev> <woffset> <wdelay_ms> [<fdev> <foffset> <fdelay_ms>]])",
        "0 8 delay a 0 -5 => line 1: delay: delay_ms: -5 (expected: an integer from 0 to 4294967295)",
        "0 8 delay a 0 5 b 0 x => line 1: delay: wdelay_ms: x (expected: an integer from 0 to 4294967295)",
        "0 8 delay a 0 5 b 0 5 nope 0 1 => line 1: delay: fdev: nope (expected: an existing device, mem:SIZE or file:PATH)",
        // flakey
        "0 8 flakey a 0 1 => line 1: flakey: argument count: 3 (expected: at least 4: <dev> <offset> <up_seconds> <down_seconds> [<#feat> <feat>...])",
        "0 8 flakey a 0 0 0 => line 1: flakey: up_seconds + down_seconds: 0 (expected: > 0)",
        "0 8 flakey a 0 4294967295 1 => line 1: flakey: up_seconds + down_seconds: 4294967296 (expected: <= 4294967295)",
        "0 8 flakey a 0 1 x => line 1: flakey: down_seconds: x (expected: an integer from 0 to 4294967295)",
        "0 8 flakey a 0 1 1 12 => line 1: flakey: #features: 12 (expected: an integer from 0 to 11)",
        "0 8 flakey a 0 1 1 2 drop_writes => line 1: flakey: #features: 2 (expected: at most 1, the arguments left)",
        "0 8 flakey a 0 1 1 1 bogus => line 1: flakey: feature: bogus (expected: one of error_reads, drop_writes, error_writes, corrupt_bio_byte, random_read_corrupt, random_write_corrupt)",
        "0 8 flakey a 0 1 1 2 drop_writes drop_writes => line 1: flakey: feature: drop_writes (expected: each feature at most once)",
        "0 8 flakey a 0 1 1 2 drop_writes error_writes => line 1: flakey: feature: error_writes (expected: not with drop_writes)",
        "0 8 flakey a 0 1 1 2 error_writes drop_writes => line 1: flakey: feature: drop_writes (expected: not with error_writes)",
        "0 8 flakey a 0 1 1 3 corrupt_bio_byte 1 r => line 1: flakey: corrupt_bio_byte: 2 parameters (expected: 4: <Nth_byte> <r|w> <value> <flags>)",
        "0 8 flakey a 0 1 1 5 corrupt_bio_byte 0 r 1 0 => line 1: flakey: Nth_byte: 0 (expected: an integer from 1 to 4294967295)",
        "0 8 flakey a 0 1 1 5 corrupt_bio_byte 1 x 1 0 => line 1: flakey: direction: x (expected: r or w)",
        "0 8 flakey a 0 1 1 5 corrupt_bio_byte 1 r 256 0 => line 1: flakey: value: 256 (expected: an integer from 0 to 255)",
        "0 8 flakey a 0 1 1 1 random_read_corrupt => line 1: flakey: random_read_corrupt: no parameter (expected: 1: <probability out of 1000000000>)",
        "0 8 flakey a 0 1 1 2 random_write_corrupt 1000000001 => line 1: flakey: probability: 1000000001 (expected: an integer from 0 to 1000000000)",
        "0 8 flakey a 0 1 1 6 drop_writes corrupt_bio_byte 1 w 1 0 => line 1: flakey: feature: drop_writes (expected: not with random_write_corrupt or corrupt_bio_byte w)",
        "0 8 flakey a 0 1 1 3 error_writes random_write_corrupt 5 => line 1: flakey: feature: error_writes (expected: not with random_write_corrupt or corrupt_bio_byte w)",
        "0 8 flakey a 0 1 1 3 error_reads random_read_corrupt 5 => line 1: flakey: feature: error_reads (expected: not with random_read_corrupt or corrupt_bio_byte r)",
        "0 8 flakey a 0 1 1 0 extra => line 1: flakey: extra argument: extra (expected: no more arguments)",
    })
    void targetRulesHaveExactMessages(String table, String message) throws Exception {
        dm.create("t");
        assertThatThrownBy(() -> dm.load("t", table)).isInstanceOf(TableException.class).hasMessage(message);
        assertThat(dm.info("t").inactiveTable()).isFalse();
    }

    @Test
    void lineNumbersCountFromTheTextIncludingComments() throws Exception {
        dm.create("t");
        assertThatThrownBy(() -> dm.load("t", "# header\n0 8 zero\n8 64 striped 2 3 a 0 b 0"))
                .hasMessage("line 3: striped: chunk_sectors: 3 (expected: a power of two >= 8)");
    }

    @Test
    void cyclesAreRefused() throws Exception {
        dm.create("upper", "0 2048 linear lower 0");
        assertThatThrownBy(() -> dm.load("lower", "0 2048 linear upper 0"))
                .hasMessage("line 1: linear: dev: upper (expected: a device that does not use lower; this would make a cycle)");
    }

    @Test
    void aBadTableChangesNothingAndReleasesWhatItOpened() throws Exception {
        MappedDevice t = dm.create("t", "0 8 linear a 0");
        String before = dm.status("t", StatusType.TABLE).text();
        assertThat(dm.info("lower").holders()).isEmpty();
        // Line 1 opens 'lower' and 'b' successfully; line 2 fails: both must be released again.
        assertThatThrownBy(() -> dm.load("t", "0 8 linear lower 0\n8 8 linear b 0\n16 8 striped 2 3 lower 0 b 0"))
                .isInstanceOf(TableException.class);
        assertThat(dm.status("t", StatusType.TABLE).text()).isEqualTo(before);
        assertThat(dm.info("t").inactiveTable()).isFalse();
        assertThat(dm.info("lower").holders()).isEmpty();
        assertThat(dm.info("lower").openCount()).isZero();
        dm.removeLeaf("b"); // not held any more
        assertThat(t.capacitySectors()).isEqualTo(8);
    }

    @Test
    void aBadLoadKeepsTheInactiveTableLoadedBefore() throws Exception {
        dm.create("t", "0 8 zero");
        dm.load("t", "0 16 zero");
        assertThatThrownBy(() -> dm.load("t", "0 16 bogus")).isInstanceOf(TableException.class);
        assertThat(dm.inactiveStatus("t", StatusType.TABLE).text()).isEqualTo("0 16 zero\n");
    }

    @Test
    void createWithABadTableCreatesNothing() {
        assertThatThrownBy(() -> dm.create("t", "0 8 linear nope 0")).isInstanceOf(TableException.class);
        assertThat(dm.names()).containsExactly("lower");
        assertThatThrownBy(() -> dm.create("t", "0 8 nope")).isInstanceOf(TableException.class);
        assertThat(dm.names()).containsExactly("lower");
    }

    @Test
    void linesMustBeAlignedToTheStackedLogicalBlockSize() throws Exception {
        QueueLimits big = QueueLimits.defaults();
        big = new QueueLimits(4096, 4096, 0, 4096, big.maxDiscardSectors(), big.maxWriteZeroesSectors(), false, true, false);
        dm.addLeaf("big", new RecordingDevice("big", 1 << 20, big, s -> { }));
        dm.create("t");
        assertThatThrownBy(() -> dm.load("t", "0 12 linear big 0"))
                .hasMessage("line 1: linear: range [0, +12) (expected: multiples of the logical block size, 8 sectors)");
        assertThatThrownBy(() -> dm.load("t", "0 8 linear big 4"))
                .hasMessage("line 1: linear: big: start sector 4 (expected: a multiple of the device's 4096-byte blocks)");
        dm.load("t", "0 8 linear big 8\n8 8 zero");
        dm.resume("t");
        assertThat(dm.device("t").limits().logicalBlockBytes()).isEqualTo(4096);
    }

    @Test
    void namesAreChecked() {
        assertThatThrownBy(() -> dm.create("a")).isInstanceOf(DeviceExistsException.class)
                .hasMessage("device: a (expected: a name not in use)");
        assertThatThrownBy(() -> dm.create("x y")).hasMessage(
                "name: \"x y\" (expected: 1 to 127 characters without whitespace, '/', ':' or '#')");
        assertThatThrownBy(() -> dm.create("mem:1M")).isInstanceOf(DmException.class);
        assertThatThrownBy(() -> dm.device("zz")).isInstanceOf(NoSuchDeviceException.class)
                .hasMessage("device: zz (expected: an existing device)");
    }

    @Test
    void targetTypesComeFromServiceLoader() {
        assertThat(TargetTypes.load().names()).contains("delay", "error", "flakey", "linear", "striped", "zero");
    }
}
