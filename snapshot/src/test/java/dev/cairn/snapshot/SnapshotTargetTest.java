package dev.cairn.snapshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.BioStatus;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.TableException;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.Pattern;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The three targets through dm core: data paths, status lines, reload, overflow and argument errors. */
@Timeout(60)
class SnapshotTargetTest {
    private static final int ORIGIN_BYTES = 1 << 20; // 2048 sectors
    private static final int COW_BYTES = 512 << 10; // 1024 sectors

    private final SnapStack stack = new SnapStack(SubmitPolicy.FLUSH_ON_BLOCK);
    private final MemoryStore originStore = new MemoryStore("origin-store", ORIGIN_BYTES);
    private final MemoryStore cowStore = new MemoryStore("cow-store", COW_BYTES);

    @AfterEach
    void tearDown() {
        stack.close();
    }

    private void fillOrigin(int generation) {
        Io.writeOk(stack.submitter, originStore, 0, Pattern.segment(0, ORIGIN_BYTES, generation));
    }

    private MappedDevice origin() throws Exception {
        stack.leaf("real", originStore);
        stack.leaf("cow", cowStore);
        return stack.create("origin", "0 2048 snapshot-origin real");
    }

    private void writeGen(MappedDevice dev, long sector, int sectors, int generation) {
        Io.writeOk(stack.submitter, dev, sector, Pattern.segment(sector * 512, sectors * 512, generation));
    }

    private void checkGen(dev.cairn.block.BlockDevice dev, long sector, int sectors, int generation) {
        Pattern.check(Io.readOk(stack.submitter, dev, sector, sectors * 512), sector * 512, generation);
    }

    @Test
    void theSnapshotKeepsTheDataOfWhenItWasTaken() throws Exception {
        fillOrigin(1);
        MappedDevice origin = origin();
        MappedDevice snap = stack.create("snap", "0 2048 snapshot real cow P 8");

        writeGen(origin, 0, 8, 2); // whole chunk 0
        writeGen(origin, 13, 3, 2); // inside chunk 1
        writeGen(origin, 30, 20, 2); // chunks 3..6, cut at chunk boundaries by the origin target
        writeGen(origin, 13, 3, 3); // chunk 1 again: already copied, goes straight through

        checkGen(snap, 0, 2048, 1);
        checkGen(origin, 0, 8, 2);
        checkGen(origin, 13, 3, 3);
        checkGen(origin, 30, 20, 2);
        checkGen(origin, 50, 1998, 1);
        assertThat(stack.snapshot("snap").completedExceptions()).isEqualTo(6);
        // next_free = 2 + 6 chunks of 8 sectors; metadata = header + area 0.
        assertThat(stack.info("snap")).isEqualTo("0 2048 snapshot 64/1024 16");
        assertThat(stack.info("origin")).isEqualTo("0 2048 snapshot-origin");
        assertThat(stack.table("origin")).isEqualTo("0 2048 snapshot-origin real");
    }

    @Test
    void snapshotWritesNeverChangeTheOrigin() throws Exception {
        fillOrigin(1);
        MappedDevice origin = origin();
        MappedDevice snap = stack.create("snap", "0 2048 snapshot real cow P 8");

        writeGen(snap, 100, 8, 5); // chunk-aligned whole chunk: no copy
        writeGen(snap, 203, 2, 5); // partial chunk: copy first, then the write
        writeGen(snap, 100, 1, 6);

        checkGen(snap, 100, 1, 6);
        checkGen(snap, 101, 7, 5);
        checkGen(snap, 200, 3, 1);
        checkGen(snap, 203, 2, 5);
        checkGen(snap, 205, 3, 1);
        checkGen(origin, 0, 2048, 1);
        checkGen(originStore, 0, 2048, 1);
    }

    @Test
    void theTableStatusRoundTripsAndAPersistentSnapshotSurvivesARestart() throws Exception {
        fillOrigin(1);
        MappedDevice origin = origin();
        stack.create("snap", "0 2048 snapshot real cow p 0 1 discard_zeroes_cow");
        assertThat(stack.table("snap")).isEqualTo("0 2048 snapshot real cow P 32 1 discard_zeroes_cow");
        writeGen(origin, 64, 4, 2);
        writeGen(stack.dm.device("snap"), 256, 4, 7);
        String before = stack.info("snap");
        assertThat(before).isEqualTo("0 2048 snapshot 128/1024 64");

        String table = stack.dm.status("snap", dev.cairn.dm.StatusType.TABLE).text();
        stack.dm.remove("snap", false);
        MappedDevice again = stack.create("snap", table);
        assertThat(stack.table("snap")).isEqualTo(table.strip());
        assertThat(stack.info("snap")).isEqualTo(before);
        checkGen(again, 0, 64, 1);
        checkGen(again, 64, 4, 1);
        checkGen(again, 256, 4, 7);
        checkGen(again, 260, 1788, 1);
        checkGen(origin, 64, 4, 2);
    }

    @Test
    void severalSnapshotsWithDifferentChunkSizesEachKeepTheirMoment() throws Exception {
        MemoryStore cow2 = new MemoryStore("cow2-store", COW_BYTES);
        MemoryStore cow3 = new MemoryStore("cow3-store", COW_BYTES);
        fillOrigin(1);
        MappedDevice origin = origin();
        stack.leaf("cow2", cow2);
        stack.leaf("cow3", cow3);
        MappedDevice s1 = stack.create("s1", "0 2048 snapshot real cow P 8");
        writeGen(origin, 10, 30, 2);
        MappedDevice s2 = stack.create("s2", "0 2048 snapshot real cow2 P 32");
        writeGen(origin, 20, 40, 3);
        MappedDevice s3 = stack.create("s3", "0 2048 snapshot real cow3 N 16");
        writeGen(origin, 0, 100, 4);

        checkGen(s1, 0, 2048, 1);
        checkGen(s2, 0, 10, 1);
        checkGen(s2, 10, 30, 2);
        checkGen(s2, 40, 2008, 1);
        checkGen(s3, 0, 10, 1);
        checkGen(s3, 10, 10, 2);
        checkGen(s3, 20, 40, 3);
        checkGen(s3, 60, 1988, 1);
        checkGen(origin, 0, 100, 4);
        assertThat(stack.info("s3")).isEqualTo("0 2048 snapshot " + 7 * 16 + "/1024 0");
        assertThat(stack.table("s3")).isEqualTo("0 2048 snapshot real cow3 N 16");
    }

    @Test
    void aFullPersistentSnapshotIsInvalidatedAndTheOriginKeepsWorking() throws Exception {
        MemoryStore tiny = new MemoryStore("tiny", 8 * 4096); // 64 sectors: header, area, 6 data chunks of 8
        fillOrigin(1);
        MappedDevice origin = origin();
        stack.leaf("tiny", tiny);
        MappedDevice snap = stack.create("snap", "0 2048 snapshot real tiny P 8");

        writeGen(origin, 0, 8 * 6, 2);
        assertThat(stack.info("snap")).isEqualTo("0 2048 snapshot 64/64 16");
        writeGen(origin, 8 * 6, 8, 2); // the seventh chunk does not fit
        assertThat(stack.info("snap")).isEqualTo("0 2048 snapshot Invalid");
        assertThat(Io.read(stack.submitter, snap, 0, MemorySegment.ofArray(new byte[512]))).isEqualTo(BioStatus.IOERR);
        assertThat(Io.write(stack.submitter, snap, 0, MemorySegment.ofArray(new byte[512]))).isEqualTo(BioStatus.IOERR);
        writeGen(origin, 100, 50, 3);
        checkGen(origin, 0, 56, 2);
        checkGen(origin, 100, 50, 3);
        assertThat(CowInspector.inspect(stack.submitter, tiny).valid()).as("invalid on disk too").isFalse();

        stack.dm.remove("snap", false);
        stack.create("snap", "0 2048 snapshot real tiny P 8");
        assertThat(stack.info("snap")).as("stays invalid after a reload").isEqualTo("0 2048 snapshot Invalid");
    }

    @Test
    void aFullPoSnapshotOverflowsOnSnapshotWritesButStaysReadable() throws Exception {
        MemoryStore tiny = new MemoryStore("tiny", 8 * 4096);
        fillOrigin(1);
        MappedDevice origin = origin();
        stack.leaf("tiny", tiny);
        MappedDevice snap = stack.create("snap", "0 2048 snapshot real tiny PO 8");

        writeGen(snap, 0, 8 * 6, 2);
        assertThat(Io.write(stack.submitter, snap, 8 * 6, Pattern.segment(48 * 512, 512, 2))).isEqualTo(BioStatus.IOERR);
        assertThat(stack.info("snap")).isEqualTo("0 2048 snapshot Overflow");
        checkGen(snap, 0, 48, 2);
        checkGen(snap, 48, 2000, 1);
        assertThat(Io.write(stack.submitter, snap, 0, Pattern.segment(0, 512, 3))).as("no more writes").isEqualTo(BioStatus.IOERR);
        assertThat(stack.table("snap")).isEqualTo("0 2048 snapshot real tiny PO 8");
        writeGen(origin, 0, 8, 4); // chunk 0 already copied: fine
        checkGen(origin, 0, 8, 4);
        checkGen(snap, 0, 8, 2);
    }

    @Test
    void discardsZeroCopiedChunksOnlyWithTheFeatureAndCanPassDownToTheOrigin() throws Exception {
        fillOrigin(1);
        MappedDevice origin = origin();
        stack.leaf("cow2", new MemoryStore("cow2-store", COW_BYTES));
        stack.leaf("cow3", new MemoryStore("cow3-store", COW_BYTES));
        MappedDevice plain = stack.create("plain", "0 2048 snapshot real cow P 8");
        MappedDevice zeroes = stack.create("zeroes", "0 2048 snapshot real cow2 P 8 1 discard_zeroes_cow");
        MappedDevice both = stack.create("both", "0 2048 snapshot real cow3 P 8 2 discard_zeroes_cow discard_passdown_origin");
        assertThat(plain.limits().supportsDiscard()).isFalse();
        assertThat(Io.discard(stack.submitter, plain, 0, 8)).isEqualTo(BioStatus.NOTSUPP);

        writeGen(zeroes, 16, 8, 4); // chunk 2 copied (whole-chunk write)
        assertThat(Io.discard(stack.submitter, zeroes, 16, 8)).isEqualTo(BioStatus.OK);
        assertThat(Io.readOk(stack.submitter, zeroes, 16, 8 * 512).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE))
                .as("the COW copy is zeroed").containsOnly(0);
        assertThat(Io.discard(stack.submitter, zeroes, 40, 8)).isEqualTo(BioStatus.OK);
        checkGen(zeroes, 40, 8, 1); // uncopied: nothing to discard, no copy-out
        assertThat(stack.snapshot("zeroes").lookup(5)).isEqualTo(-1);
        assertThat(stack.table("zeroes")).isEqualTo("0 2048 snapshot real cow2 P 8 1 discard_zeroes_cow");

        assertThat(Io.discard(stack.submitter, both, 80, 8)).isEqualTo(BioStatus.OK);
        assertThat(Io.readOk(stack.submitter, originStore, 80, 8 * 512).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE))
                .as("passed down to the origin").containsOnly(0);
        assertThat(stack.table("both")).isEqualTo("0 2048 snapshot real cow3 P 8 2 discard_zeroes_cow discard_passdown_origin");
        checkGen(origin, 0, 80, 1);
    }

    @Test
    void constructorArgumentsAreValidatedWithPreciseErrors() throws Exception {
        origin();
        assertThatThrownBy(() -> stack.create("s", "0 2048 snapshot real cow X 8"))
                .isInstanceOf(TableException.class).hasMessage("line 1: snapshot: store: X (expected: P, PO or N)");
        assertThatThrownBy(() -> stack.create("s", "0 2048 snapshot real cow P 12"))
                .isInstanceOf(TableException.class).hasMessage("line 1: snapshot: chunk_sectors: 12 (expected: 0 or a power of two)");
        assertThatThrownBy(() -> stack.create("s", "0 2048 snapshot real cow P 8 1 discard_passdown_origin"))
                .isInstanceOf(TableException.class)
                .hasMessage("line 1: snapshot: feature: discard_passdown_origin (expected: discard_zeroes_cow as well)");
        assertThatThrownBy(() -> stack.create("s", "0 2048 snapshot real real P 8"))
                .isInstanceOf(TableException.class).hasMessage("line 1: snapshot: cow: real (expected: a device other than the origin)");
        assertThatThrownBy(() -> stack.create("s", "0 2048 snapshot real cow N 0"))
                .isInstanceOf(TableException.class).hasMessageContaining("chunk_sectors: 0 (expected: a power of two");
        assertThatThrownBy(() -> stack.create("s", "0 2048 snapshot real cow P"))
                .isInstanceOf(TableException.class).hasMessageContaining("argument count: 3 (expected: at least 4");
        assertThatThrownBy(() -> stack.create("s", "0 2048 snapshot-merge real cow N 8"))
                .isInstanceOf(TableException.class).hasMessageContaining("store: N (expected: P or PO");
        Io.writeOk(stack.submitter, cowStore, 0, padded(new byte[] {1, 2, 3, 4}));
        assertThatThrownBy(() -> stack.create("s", "0 2048 snapshot real cow P 8"))
                .isInstanceOf(TableException.class)
                .hasMessageContaining("magic: 0x04030201")
                .hasMessageContaining("invalid or corrupt snapshot");
    }

    private static MemorySegment padded(byte[] head) {
        byte[] b = new byte[512];
        System.arraycopy(head, 0, b, 0, head.length);
        return MemorySegment.ofArray(b);
    }
}
