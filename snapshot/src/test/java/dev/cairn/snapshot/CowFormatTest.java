package dev.cairn.snapshot;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.testkit.Disk;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.random.RandomGenerator;
import java.util.random.RandomGeneratorFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Byte compatibility with Linux dm-snapshot, checked from the spec (docs/formats/cow.md and
 * dm-snap-persistent.c), not from Cairn's own classes: {@link SpecReader} below parses a COW
 * image with nothing but a {@link ByteBuffer}, and {@link SpecWriter} builds one byte by byte.
 */
class CowFormatTest {
    /** The origin's size where it does not matter: large enough for every old chunk these tests write. */
    private static final long ANY_ORIGIN_SECTORS = dev.cairn.block.Sectors.MAX_DEVICE_SECTORS;

    private final Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);

    @AfterEach
    void tearDown() {
        submitter.close();
    }

    /** An independent reader of the Linux persistent snapshot format, written from the spec. */
    static final class SpecReader {
        final int magic;
        final int valid;
        final int version;
        final int chunkSectors;
        final List<long[]> exceptions = new ArrayList<>();
        final long nextFree;
        final long lastArea;

        SpecReader(byte[] image) {
            ByteBuffer b = ByteBuffer.wrap(image).order(ByteOrder.LITTLE_ENDIAN);
            magic = b.getInt(0);
            valid = b.getInt(4);
            version = b.getInt(8);
            chunkSectors = b.getInt(12);
            int chunkBytes = chunkSectors * 512;
            for (int i = 16; i < chunkBytes; i++) {
                if (image[i] != 0) {
                    throw new AssertionError("header byte " + i + " is not zero");
                }
            }
            int perArea = chunkBytes / 16;
            long next = 2;
            long area = 0;
            outer:
            while (true) {
                long areaChunk = 1 + area * (perArea + 1L);
                int base = Math.toIntExact(areaChunk * chunkBytes);
                for (int i = 0; i < perArea; i++) {
                    long oldChunk = b.getLong(base + 16 * i);
                    long newChunk = b.getLong(base + 16 * i + 8);
                    if (newChunk == 0) {
                        break outer;
                    }
                    exceptions.add(new long[] {oldChunk, newChunk});
                    next = Math.max(next, newChunk + 1);
                }
                area++;
            }
            if (next % (perArea + 1L) == 1) {
                next++;
            }
            nextFree = next;
            lastArea = area;
        }
    }

    /** Builds a COW image from the spec, byte by byte. */
    static final class SpecWriter {
        final byte[] image;
        final int chunkBytes;
        final int perArea;

        SpecWriter(int imageBytes, int chunkSectors, int valid) {
            image = new byte[imageBytes];
            chunkBytes = chunkSectors * 512;
            perArea = chunkBytes / 16;
            // "SnAp", then valid, version 1 and the chunk size, each a little-endian u32.
            put32(0, 0x70416e53);
            assertThat(new byte[] {image[0], image[1], image[2], image[3]}).containsExactly('S', 'n', 'A', 'p');
            put32(4, valid);
            put32(8, 1);
            put32(12, chunkSectors);
        }

        void record(long area, int index, long oldChunk, long newChunk) {
            int base = Math.toIntExact((1 + area * (perArea + 1L)) * chunkBytes + 16L * index);
            put64(base, oldChunk);
            put64(base + 8, newChunk);
        }

        void put32(int at, int v) {
            for (int i = 0; i < 4; i++) {
                image[at + i] = (byte) (v >>> (8 * i));
            }
        }

        void put64(int at, long v) {
            for (int i = 0; i < 8; i++) {
                image[at + i] = (byte) (v >>> (8 * i));
            }
        }
    }

    @Test
    void aCowWrittenByCairnIsReadByTheSpecReaderWithTheSameExceptions() throws Exception {
        int chunkSectors = 2; // 64 records per area
        MemoryStore memory = new MemoryStore("cow", 1 << 20);
        PersistentExceptionStore store = new PersistentExceptionStore(submitter, memory, chunkSectors, false, 512, ANY_ORIGIN_SECTORS);
        store.readMetadata((o, n) -> { });
        RandomGenerator random = RandomGeneratorFactory.of("L64X128MixRandom").create(4242);
        Map<Long, Long> written = new LinkedHashMap<>();
        List<long[]> inFlight = new ArrayList<>();
        // 150 exceptions over three areas, committed in shuffled batches as copies would finish.
        for (int i = 0; i < 150; i++) {
            long oldChunk = random.nextLong(1 << 30);
            if (written.containsKey(oldChunk)) {
                continue;
            }
            inFlight.add(new long[] {oldChunk, store.prepareException()});
            if (inFlight.size() == 1 + random.nextInt(4)) {
                java.util.Collections.shuffle(inFlight, new java.util.Random(random.nextLong()));
                for (long[] e : inFlight) {
                    store.commitException(e[0], e[1], true, ok -> assertThat(ok).isTrue());
                    written.put(e[0], e[1]);
                }
                inFlight.clear();
            }
        }
        for (long[] e : inFlight) {
            store.commitException(e[0], e[1], true, ok -> { });
            written.put(e[0], e[1]);
        }

        SpecReader spec = new SpecReader(Disk.readAll(submitter, memory));

        assertThat(spec.magic).isEqualTo(0x70416e53);
        assertThat(spec.valid).isEqualTo(1);
        assertThat(spec.version).isEqualTo(1);
        assertThat(spec.chunkSectors).isEqualTo(chunkSectors);
        Map<Long, Long> parsed = new LinkedHashMap<>();
        spec.exceptions.forEach(e -> parsed.put(e[0], e[1]));
        assertThat(parsed).containsExactlyInAnyOrderEntriesOf(written);
        assertThat(parsed.values()).allSatisfy(n -> assertThat((n - 1) % 65).as("never a metadata chunk").isNotZero());
        assertThat(spec.nextFree).isEqualTo(store.nextFreeChunk());
        assertThat(spec.lastArea).isEqualTo(store.currentArea());
        assertThat(store.usage().metadataSectors()).isEqualTo((spec.lastArea + 2) * chunkSectors);

        CowInspector.CowInfo info = CowInspector.inspect(submitter, memory);
        assertThat(info.exceptions()).isEqualTo(written.size());
        assertThat(info.chunkSectors()).isEqualTo(chunkSectors);
        assertThat(info.statusLine()).isEqualTo(store.usage().allocatedSectors() + "/2048 " + store.usage().metadataSectors());
    }

    @Test
    void aCowBuiltByteByByteFromTheSpecLoadsWithTheExpectedExceptions() throws Exception {
        int chunkSectors = 1; // 32 records per area: area 0 at chunk 1, area 1 at 34, area 2 at 67
        SpecWriter image = new SpecWriter(64 * 1024, chunkSectors, 1);
        Map<Long, Long> expected = new LinkedHashMap<>();
        // Area 0 full, out of allocation order (as commits may be), area 1 full, area 2 with 3 records.
        for (int i = 0; i < 32; i++) {
            long newChunk = 33 - i;
            image.record(0, i, 5000 + i, newChunk);
            expected.put(5000L + i, newChunk);
        }
        for (int i = 0; i < 32; i++) {
            image.record(1, i, 7 * i, 35 + i);
            expected.put(7L * i, 35L + i);
        }
        image.record(2, 0, 900, 68);
        image.record(2, 1, 901, 70); // 69 left as a hole, as after a crash with out-of-order commits
        image.record(2, 2, 1L << 40, 69);
        expected.put(900L, 68L);
        expected.put(901L, 70L);
        expected.put(1L << 40, 69L);
        // A stale record after the end marker must not be loaded.
        image.record(2, 4, 123, 80);
        MemoryStore memory = new MemoryStore("cow", image.image.length);
        Disk.write(submitter, memory, 0, image.image);

        PersistentExceptionStore store = new PersistentExceptionStore(submitter, memory, 0, false, 512, ANY_ORIGIN_SECTORS);
        Map<Long, Long> loaded = new LinkedHashMap<>();
        assertThat(store.readMetadata(loaded::put)).isEqualTo(ExceptionStore.LoadResult.LOADED);

        assertThat(loaded).containsExactlyEntriesOf(expected);
        assertThat(store.chunkSectors()).as("taken from the header").isEqualTo(1);
        assertThat(store.nextFreeChunk()).isEqualTo(71);
        assertThat(store.usage()).isEqualTo(new ExceptionStore.Usage(128, 71, 4));
        assertThat(store.prepareException()).isEqualTo(71);

        CowInspector.CowInfo info = CowInspector.inspect(submitter, memory);
        assertThat(info.exceptions()).isEqualTo(67);
        assertThat(info.currentArea()).isEqualTo(2);
        assertThat(info.statusLine()).isEqualTo("71/128 4");
    }

    @Test
    void aNewStoreMatchesTheSpecByteForByte() throws Exception {
        MemoryStore memory = new MemoryStore("cow", 64 * 1024);
        new PersistentExceptionStore(submitter, memory, 8, false, 512, ANY_ORIGIN_SECTORS).readMetadata((o, n) -> { });
        SpecWriter expected = new SpecWriter(64 * 1024, 8, 1);
        assertThat(Disk.readAll(submitter, memory)).isEqualTo(expected.image);
    }

    @Test
    void anInvalidatedStoreMatchesTheSpecByteForByteInItsHeader() throws Exception {
        MemoryStore memory = new MemoryStore("cow", 64 * 1024);
        PersistentExceptionStore store = new PersistentExceptionStore(submitter, memory, 8, false, 512, ANY_ORIGIN_SECTORS);
        store.readMetadata((o, n) -> { });
        store.dropSnapshot();
        SpecWriter expected = new SpecWriter(64 * 1024, 8, 0);
        assertThat(Disk.read(submitter, memory, 0, 8 * 512)).isEqualTo(java.util.Arrays.copyOf(expected.image, 8 * 512));
        assertThat(CowInspector.inspect(submitter, memory).statusLine()).isEqualTo("Invalid");
    }

    @Test
    void theInspectorNeverWritesABlankDevice() throws Exception {
        MemoryStore memory = new MemoryStore("blank", 64 * 1024);
        CowInspector.CowInfo info = CowInspector.inspect(submitter, memory);
        assertThat(info.initialised()).isFalse();
        assertThat(memory.allocatedBytes()).isZero();
    }
}
