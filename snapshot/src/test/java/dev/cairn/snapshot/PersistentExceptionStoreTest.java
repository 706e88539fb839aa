package dev.cairn.snapshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.testkit.Disk;
import dev.cairn.testkit.RecordingDevice;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The persistent store's rules, checked on the bytes and on the I/O it issues. A 1-sector chunk
 * keeps areas small: 32 records per area, area {@code a} at chunk {@code 1 + 33a}.
 */
class PersistentExceptionStoreTest {
    /** The origin's size where it does not matter: large enough for every old chunk these tests write. */
    private static final long ANY_ORIGIN_SECTORS = dev.cairn.block.Sectors.MAX_DEVICE_SECTORS;

    private static final int CHUNK = 1;
    private static final int EPA = 32;

    private final Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
    private final MemoryStore memory = new MemoryStore("cow", 256 * 1024);
    private final RecordingDevice cow = new RecordingDevice(memory);

    @AfterEach
    void tearDown() {
        submitter.close();
    }

    private PersistentExceptionStore open(int chunkSectors) throws Exception {
        PersistentExceptionStore store = new PersistentExceptionStore(submitter, cow, chunkSectors, false, 512, ANY_ORIGIN_SECTORS);
        return store;
    }

    private static Map<Long, Long> load(PersistentExceptionStore store) throws Exception {
        Map<Long, Long> out = new LinkedHashMap<>();
        assertThat(store.readMetadata(out::put)).isEqualTo(ExceptionStore.LoadResult.LOADED);
        return out;
    }

    private ByteBuffer chunkBytes(long chunk, int chunkSectors) {
        return ByteBuffer.wrap(Disk.read(submitter, memory, chunk * chunkSectors, chunkSectors * 512))
                .order(ByteOrder.LITTLE_ENDIAN);
    }

    @Test
    void newStoreWritesTheHeaderThenZeroesAreaZero() throws Exception {
        Disk.write(submitter, memory, 16, filled(16 * 512, (byte) 0x77));
        cow.clear();
        PersistentExceptionStore store = open(16);

        assertThat(store.readMetadata((o, n) -> { })).isEqualTo(ExceptionStore.LoadResult.NEW);

        byte[] header = Disk.read(submitter, memory, 0, 16 * 512);
        assertThat(java.util.Arrays.copyOf(header, 16)).containsExactly(
                0x53, 0x6E, 0x41, 0x70, 1, 0, 0, 0, 1, 0, 0, 0, 16, 0, 0, 0);
        for (int i = 16; i < header.length; i++) {
            assertThat(header[i]).as("header byte %d", i).isZero();
        }
        assertThat(Disk.read(submitter, memory, 16, 16 * 512)).as("area 0 zeroed").containsOnly(0);
        assertThat(cow.ops()).extracting(RecordingDevice.Op::op, RecordingDevice.Op::sector, RecordingDevice.Op::sectors)
                .containsExactly(
                        org.assertj.core.groups.Tuple.tuple(BioOp.READ, 0L, 16),
                        org.assertj.core.groups.Tuple.tuple(BioOp.WRITE, 0L, 16),
                        org.assertj.core.groups.Tuple.tuple(BioOp.WRITE, 16L, 16));
        assertThat(store.tableArgs()).isEqualTo("P 16");
        assertThat(store.usage()).isEqualTo(new ExceptionStore.Usage(512, 2 * 16, 2 * 16));
    }

    @Test
    void defaultChunkSizeIs32SectorsForANewStore() throws Exception {
        PersistentExceptionStore store = open(0);
        assertThat(store.readMetadata((o, n) -> { })).isEqualTo(ExceptionStore.LoadResult.NEW);
        assertThat(store.chunkSectors()).isEqualTo(32);
        assertThat(store.exceptionsPerArea()).isEqualTo(1024);
        assertThat(chunkBytes(0, 32).getInt(12)).isEqualTo(32);
    }

    @Test
    void allocationSkipsMetadataChunks() throws Exception {
        PersistentExceptionStore store = open(CHUNK);
        store.readMetadata((o, n) -> { });
        List<Long> chunks = new ArrayList<>();
        for (int i = 0; i < 2 * EPA + 2; i++) {
            chunks.add(store.prepareException());
        }
        // area 0 at 1, data 2..33, area 1 at 34, data 35..66, area 2 at 67, data 68..
        assertThat(chunks.subList(0, EPA)).containsExactlyElementsOf(range(2, 33));
        assertThat(chunks.subList(EPA, 2 * EPA)).containsExactlyElementsOf(range(35, 66));
        assertThat(chunks.subList(2 * EPA, 2 * EPA + 2)).containsExactly(68L, 69L);
        assertThat(chunks).noneMatch(c -> CowLayout.isMetadataChunk(c, EPA));
    }

    private static List<Long> range(long from, long toInclusive) {
        List<Long> out = new ArrayList<>();
        for (long c = from; c <= toInclusive; c++) {
            out.add(c);
        }
        return out;
    }

    @Test
    void commitsAreBatchedWhileOtherExceptionsAreInFlight() throws Exception {
        PersistentExceptionStore store = open(CHUNK);
        store.readMetadata((o, n) -> { });
        long a = store.prepareException();
        long b = store.prepareException();
        long c = store.prepareException();
        cow.clear();
        List<String> done = new ArrayList<>();

        store.commitException(10, a, true, ok -> done.add("a" + ok));
        store.commitException(11, c, true, ok -> done.add("c" + ok));
        assertThat(cow.ops()).as("nothing written while b is still copying").isEmpty();
        assertThat(done).isEmpty();

        store.commitException(12, b, true, ok -> done.add("b" + ok));
        assertThat(done).containsExactly("atrue", "ctrue", "btrue");
        assertThat(cow.ops()).singleElement().satisfies(op -> {
            assertThat(op.op()).isEqualTo(BioOp.WRITE);
            assertThat(op.sector()).isEqualTo(1);
            assertThat(op.has(BioFlags.PREFLUSH)).isTrue();
            assertThat(op.has(BioFlags.FUA)).isTrue();
        });
        ByteBuffer area = chunkBytes(1, CHUNK);
        assertThat(new long[] {area.getLong(0), area.getLong(8), area.getLong(16), area.getLong(24), area.getLong(32),
                area.getLong(40), area.getLong(56)}).containsExactly(10, a, 11, c, 12, b, 0);
    }

    @Test
    void aFullAreaZeroesTheNextAreaBeforeItIsWritten() throws Exception {
        PersistentExceptionStore store = open(CHUNK);
        store.readMetadata((o, n) -> { });
        Disk.write(submitter, memory, 34, filled(512, (byte) 0x5a));
        cow.clear();
        for (int i = 0; i < EPA; i++) {
            long n = store.prepareException();
            store.commitException(100 + i, n, true, ok -> assertThat(ok).isTrue());
        }
        List<RecordingDevice.Op> writes = cow.ops().stream().filter(RecordingDevice.Op::isWrite).toList();
        assertThat(writes).hasSize(EPA + 1);
        RecordingDevice.Op zero = writes.get(EPA - 1);
        RecordingDevice.Op full = writes.get(EPA);
        assertThat(zero.sector()).as("area 1 zeroed first").isEqualTo(34);
        assertThat(zero.has(BioFlags.FUA)).isFalse();
        assertThat(full.sector()).as("then area 0 committed").isEqualTo(1);
        assertThat(full.has(BioFlags.PREFLUSH) && full.has(BioFlags.FUA)).isTrue();
        assertThat(Disk.read(submitter, memory, 34, 512)).containsOnly(0);
        assertThat(store.currentArea()).isEqualTo(1);
        assertThat(store.usage().metadataSectors()).isEqualTo(3);

        long next = store.prepareException();
        assertThat(next).isEqualTo(35);
        store.commitException(7, next, true, ok -> { });
        assertThat(chunkBytes(34, CHUNK).getLong(8)).isEqualTo(35);
    }

    private static byte[] filled(int n, byte value) {
        byte[] b = new byte[n];
        java.util.Arrays.fill(b, value);
        return b;
    }

    @Test
    void reloadingRestoresEveryCommittedException() throws Exception {
        PersistentExceptionStore store = open(CHUNK);
        store.readMetadata((o, n) -> { });
        Map<Long, Long> expected = new LinkedHashMap<>();
        for (int i = 0; i < 2 * EPA + 5; i++) {
            long n = store.prepareException();
            store.commitException(1000 - i, n, true, ok -> { });
            expected.put(1000L - i, n);
        }

        PersistentExceptionStore again = open(CHUNK);
        Map<Long, Long> loaded = load(again);
        assertThat(loaded).containsExactlyEntriesOf(expected);
        assertThat(again.loadedExceptions()).isEqualTo(2 * EPA + 5);
        assertThat(again.currentArea()).isEqualTo(2);
        assertThat(again.nextFreeChunk()).isEqualTo(store.nextFreeChunk());
        assertThat(again.usage()).isEqualTo(store.usage());

        long n = again.prepareException();
        assertThat(n).isEqualTo(73);
        again.commitException(5, n, true, ok -> { });
        Map<Long, Long> third = load(open(CHUNK));
        assertThat(third).hasSize(2 * EPA + 6).containsEntry(5L, 73L);
    }

    @Test
    void anUnknownMagicIsRefusedWithAClearError() throws Exception {
        Disk.write(submitter, memory, 0, header(0x12345678, 1, 1, 8));
        assertThatThrownBy(() -> open(8).readMetadata((o, n) -> { }))
                .isInstanceOf(CowFormatException.class)
                .hasMessageContaining("magic: 0x12345678 (bytes 78 56 34 12)")
                .hasMessageContaining("expected: 0x70416e53 (bytes 53 6e 41 70) \"SnAp\"");
    }

    @Test
    void anUnknownVersionIsRefusedWithAClearError() throws Exception {
        Disk.write(submitter, memory, 0, header(CowLayout.MAGIC, 1, 2, 8));
        assertThatThrownBy(() -> open(8).readMetadata((o, n) -> { }))
                .isInstanceOf(CowFormatException.class)
                .hasMessage("cow: version: 2 (expected: 1): unsupported snapshot disk version".replace("cow", cow.name()));
    }

    @Test
    void theHeaderChunkSizeWinsOverTheTable() throws Exception {
        PersistentExceptionStore first = open(16);
        first.readMetadata((o, n) -> { });
        long n = first.prepareException();
        first.commitException(3, n, true, ok -> { });

        PersistentExceptionStore second = open(8);
        assertThat(load(second)).containsExactly(Map.entry(3L, n));
        assertThat(second.chunkSectors()).isEqualTo(16);
        assertThat(second.tableArgs()).isEqualTo("P 16");
    }

    @Test
    void anImpossibleHeaderChunkSizeIsRefused() throws Exception {
        Disk.write(submitter, memory, 0, header(CowLayout.MAGIC, 1, 1, 24));
        assertThatThrownBy(() -> open(8).readMetadata((o, n) -> { }))
                .isInstanceOf(CowFormatException.class)
                .hasMessageContaining("chunk_sectors: 24 (expected: a power of two)");
    }

    @Test
    void anInvalidatedHeaderLoadsAsInvalidWithoutExceptions() throws Exception {
        PersistentExceptionStore first = open(CHUNK);
        first.readMetadata((o, n) -> { });
        first.commitException(1, first.prepareException(), true, ok -> { });
        first.dropSnapshot();
        assertThat(chunkBytes(0, CHUNK).getInt(4)).as("valid = 0 on disk").isZero();
        assertThat(chunkBytes(0, CHUNK).getInt(0)).isEqualTo(CowLayout.MAGIC);

        List<Long> seen = new ArrayList<>();
        assertThat(open(CHUNK).readMetadata((o, n) -> seen.add(o))).isEqualTo(ExceptionStore.LoadResult.INVALID);
        assertThat(seen).isEmpty();
    }

    @Test
    void aFullCowRefusesAllocation() throws Exception {
        MemoryStore small = new MemoryStore("small", 4096);
        PersistentExceptionStore store = new PersistentExceptionStore(submitter, small, CHUNK, true, 512, ANY_ORIGIN_SECTORS);
        store.readMetadata((o, n) -> { });
        List<Long> got = new ArrayList<>();
        long n;
        while ((n = store.prepareException()) >= 0) {
            got.add(n);
        }
        assertThat(got).containsExactlyElementsOf(range(2, 7));
        assertThat(store.tableArgs()).isEqualTo("PO 1");
        assertThat(store.userspaceSupportsOverflow()).isTrue();
    }

    @Test
    void aFailedAreaWriteInvalidatesAndFailsEveryBatchedCallback() throws Exception {
        PersistentExceptionStore store = open(CHUNK);
        store.readMetadata((o, n) -> { });
        long a = store.prepareException();
        long b = store.prepareException();
        cow.failWhen(op -> op.isWrite() && op.has(BioFlags.FUA));
        List<Boolean> results = new ArrayList<>();
        store.commitException(1, a, true, results::add);
        store.commitException(2, b, true, results::add);
        assertThat(results).containsExactly(false, false);
        assertThat(store.isValid()).isFalse();
    }

    @Test
    void aFailedCopyInvalidatesTheStore() throws Exception {
        PersistentExceptionStore store = open(CHUNK);
        store.readMetadata((o, n) -> { });
        List<Boolean> results = new ArrayList<>();
        store.commitException(1, store.prepareException(), false, results::add);
        assertThat(results).containsExactly(false);
        assertThat(chunkBytes(1, CHUNK).getLong(8)).as("no area written once invalid").isZero();
    }

    @Test
    void mergeTakesConsecutiveRunsFromTheEndAndSurvivesAReload() throws Exception {
        PersistentExceptionStore store = open(CHUNK);
        store.readMetadata((o, n) -> { });
        // area 0 full with old chunks 0..31 -> new 2..33 (one run), area 1 with 3 records.
        for (int i = 0; i < EPA; i++) {
            store.commitException(i, store.prepareException(), true, ok -> { });
        }
        store.commitException(100, store.prepareException(), true, ok -> { }); // 35
        store.commitException(50, store.prepareException(), true, ok -> { });  // 36
        store.commitException(51, store.prepareException(), true, ok -> { });  // 37

        ExceptionStore.MergeRun run = store.prepareMerge();
        assertThat(run).isEqualTo(new ExceptionStore.MergeRun(51, 37, 2));
        assertThat(run.firstOldChunk()).isEqualTo(50);
        assertThat(run.firstNewChunk()).isEqualTo(36);
        store.commitMerge(2);
        assertThat(store.usage().allocatedSectors()).isEqualTo(36);

        Map<Long, Long> afterFirst = load(open(CHUNK));
        assertThat(afterFirst).hasSize(EPA + 1).containsEntry(100L, 35L).doesNotContainKeys(50L, 51L);

        assertThat(store.prepareMerge()).isEqualTo(new ExceptionStore.MergeRun(100, 35, 1));
        store.commitMerge(1);
        assertThat(store.prepareMerge()).as("back into area 0: one run of 32").isEqualTo(new ExceptionStore.MergeRun(31, 33, 32));
        store.commitMerge(32);
        assertThat(store.prepareMerge()).isNull();
        ExceptionStore.Usage usage = store.usage();
        assertThat(usage.allocatedSectors()).as("merge done: allocated == metadata").isEqualTo(usage.metadataSectors());

        PersistentExceptionStore reloaded = open(CHUNK);
        assertThat(load(reloaded)).isEmpty();
        assertThat(reloaded.prepareMerge()).isNull();
    }

    @Test
    void badTableChunkSizesAreRefused() {
        assertThatThrownBy(() -> open(3)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("chunk_sectors: 3 (expected: a power of two)");
        assertThat(ChunkSize.check(4, 4096, 512)).isEqualTo(
                "chunk_sectors: 4 (expected: a multiple of the logical block size of origin (4096 bytes) and COW (512 bytes))");
        assertThat(ChunkSize.check(8, 4096, 512)).isNull();
        assertThat(ChunkSize.check(1L << 23, 512, 512)).isEqualTo("chunk_sectors: 8388608 (expected: <= 4194303)");
    }

    static byte[] header(int magic, int valid, int version, int chunkSectors) {
        ByteBuffer b = ByteBuffer.allocate(512).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(magic).putInt(valid).putInt(version).putInt(chunkSectors);
        return b.array();
    }
}
