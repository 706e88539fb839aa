package dev.cairn.snapshot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.testkit.Disk;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Issue 22 item 6: a metadata record with {@code new_chunk = 0xFFFFFFFFFFFFFFF0} loaded as an active
 * snapshot (status {@code -120/65808 32}) whose chunk read the origin's current data, and an area of random
 * bytes failed with an {@code IllegalArgumentException} that did not name the COW. Every record is now
 * checked on load and a bad one refuses the store with {@code COW: exception record N in area A: ...}.
 *
 * <p>Layout here: 1-sector chunks (32 records per area, area {@code a} at chunk {@code 1 + 33a}), a COW of
 * 512 chunks, an origin of 100 chunks.
 */
class CorruptExceptionRecordsTest {
    private static final int CHUNK = 1;
    private static final long ORIGIN_SECTORS = 100;

    private final Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
    private final MemoryStore cow = new MemoryStore("cow.img", 256 * 1024);

    @AfterEach
    void tearDown() {
        submitter.close();
    }

    /** Writes a valid header and area 0 holding {@code records} as (old, new) pairs. */
    private void writeArea0(long... records) {
        Disk.write(submitter, cow, 0, PersistentExceptionStoreTest.header(CowLayout.MAGIC, 1, 1, CHUNK));
        ByteBuffer area = ByteBuffer.allocate(512).order(ByteOrder.LITTLE_ENDIAN);
        for (long r : records) {
            area.putLong(r);
        }
        Disk.write(submitter, cow, 1, area.array());
    }

    private PersistentExceptionStore store() {
        return new PersistentExceptionStore(submitter, cow, CHUNK, false, 512, ORIGIN_SECTORS);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        // the record: a chunk far past the COW's end
        "5 | -16 | 0 | new_chunk 18446744073709551600 (expected: a chunk below the COW's 512)",
        "5 | 512 | 0 | new_chunk 512 (expected: a chunk below the COW's 512)",
        // metadata chunks: area 0 (chunk 1) and area 1 (chunk 34) hold records, not data
        "5 | 1   | 0 | new_chunk 1 (expected: a data chunk, not the header or a metadata area)",
        "5 | 34  | 0 | new_chunk 34 (expected: a data chunk, not the header or a metadata area)",
        // old chunks outside the origin, including a negative one (random bytes)
        "100 | 2 | 0 | old_chunk 100 (expected: a chunk below the origin's 100)",
        "-7532721191142600545 | 2 | 0 | old_chunk 10914022882566951071 (expected: a chunk below the origin's 100)",
    })
    void corruptExceptionRecordsAreRefused(long oldChunk, long newChunk, int index, String problem) {
        writeArea0(7, 2, oldChunk, newChunk == 2 ? 3 : newChunk);
        Map<Long, Long> loaded = new LinkedHashMap<>();
        assertThatThrownBy(() -> store().readMetadata(loaded::put))
                .isInstanceOf(CowFormatException.class)
                .hasMessage("cow.img: exception record 1 in area 0: " + problem);
    }

    @Test
    void twoRecordsSharingACowChunkAreRefused() {
        writeArea0(7, 2, 8, 3, 9, 2);
        assertThatThrownBy(() -> store().readMetadata((o, n) -> { }))
                .isInstanceOf(CowFormatException.class)
                .hasMessage("cow.img: exception record 2 in area 0: new_chunk 2 (expected: a chunk no earlier record"
                        + " uses (record 0 in area 0 has it))");
    }

    @Test
    void twoRecordsForOneOriginChunkAreRefused() {
        writeArea0(7, 2, 8, 3, 7, 4);
        assertThatThrownBy(() -> store().readMetadata((o, n) -> { }))
                .isInstanceOf(CowFormatException.class)
                .hasMessage("cow.img: exception record 2 in area 0: old_chunk 7 (expected: a chunk no earlier record"
                        + " copies (record 0 in area 0 has it))");
    }

    @Test
    void aMetadataAreaOfRandomBytesIsRefusedNamingTheCow() {
        Disk.write(submitter, cow, 0, PersistentExceptionStoreTest.header(CowLayout.MAGIC, 1, 1, CHUNK));
        byte[] noise = new byte[512];
        new Random(22).nextBytes(noise);
        Disk.write(submitter, cow, 1, noise);
        assertThatThrownBy(() -> store().readMetadata((o, n) -> { }))
                .isInstanceOf(CowFormatException.class)
                .hasMessageStartingWith("cow.img: exception record 0 in area 0: ");
    }

    @Test
    void fullAreasUpToTheCowsEndAreRefused() {
        // 8-sector chunks: 256 records per area, area 1 at chunk 258, which is past a COW of 258 chunks.
        MemoryStore small = new MemoryStore("small.img", 258 * 4096);
        Disk.write(submitter, small, 0, PersistentExceptionStoreTest.header(CowLayout.MAGIC, 1, 1, 8));
        ByteBuffer area = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < 256; i++) {
            area.putLong(i).putLong(2 + i);
        }
        Disk.write(submitter, small, 8, area.array());
        assertThatThrownBy(() -> new PersistentExceptionStore(submitter, small, 8, false, 512, 256 * 8)
                .readMetadata((o, n) -> { }))
                .isInstanceOf(CowFormatException.class)
                .hasMessage("small.img: metadata area 1 at chunk 258 (expected: an area inside the COW's 258 chunks;"
                        + " the last area is full, so the exception table has no end marker)");
    }

    @Test
    void validRecordsStillLoad() throws Exception {
        writeArea0(7, 2, 99, 3, 0, 35);
        Map<Long, Long> loaded = new LinkedHashMap<>();
        PersistentExceptionStore store = store();
        assertThat(store.readMetadata(loaded::put)).isEqualTo(ExceptionStore.LoadResult.LOADED);
        assertThat(loaded).containsExactly(Map.entry(7L, 2L), Map.entry(99L, 3L), Map.entry(0L, 35L));
        assertThat(store.nextFreeChunk()).isEqualTo(36);
    }

    @Test
    void theCowInspectorRefusesTheSameRecords() {
        writeArea0(7, 2, 5, -16);
        assertThatThrownBy(() -> CowInspector.inspect(submitter, cow, null))
                .isInstanceOf(CowFormatException.class)
                .hasMessage("cow.img: exception record 1 in area 0: new_chunk 18446744073709551600 (expected: a chunk"
                        + " below the COW's 512)");
    }
}
