package dev.cairn.block.store;

import static dev.cairn.block.store.StoreModel.HOLE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

@Timeout(60)
class MemoryStoreTest {
    private final Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);

    @AfterEach
    void tearDown() {
        submitter.close();
    }

    @ParameterizedTest
    @EnumSource(StoreModel.Memory.class)
    void randomIoMatchesTheModel(StoreModel.Memory memory) {
        MemoryStore store = new MemoryStore("mem", 4 << 20);
        StoreModel model = new StoreModel(StoreModel.seed(), 0, (int) store.capacitySectors(), 1, memory);
        model.run(submitter, store, 1200, 1024);
        model.verifyAll(submitter, store);
    }

    @Test
    void memoryFollowsWhatIsWrittenAndHolesAreReported() {
        MemoryStore store = new MemoryStore("mem", 1 << 20);
        long all = store.capacitySectors();
        assertThat(store.allocatedBytes()).isZero();
        assertThat(StoreModel.extents(store, 0, all)).containsExactly(new long[] {0, all, HOLE});
        assertThat(StoreModel.io(submitter, store, BioOp.WRITE, 0, 9, MemorySegment.ofArray(new byte[4096 + 512])))
                .isEqualTo(BioStatus.OK); // sectors 9..17: touches pages 1 and 2
        assertThat(store.allocatedBytes()).isEqualTo(8192);
        assertThat(StoreModel.extents(store, 0, all)).containsExactly(
                new long[] {0, 8, HOLE}, new long[] {8, 16, 0}, new long[] {24, all - 24, HOLE});
        assertThat(StoreModel.range(submitter, store, BioOp.DISCARD, 0, 8, 8)).isEqualTo(BioStatus.OK);
        assertThat(store.allocatedBytes()).isEqualTo(4096);
        assertThat(StoreModel.range(submitter, store, BioOp.WRITE_ZEROES, BioFlags.NOUNMAP, 64, 8)).isEqualTo(BioStatus.OK);
        assertThat(store.allocatedBytes()).isEqualTo(8192);
        assertThat(StoreModel.extents(store, 64, 8)).containsExactly(new long[] {64, 8, 0});
        assertThat(StoreModel.read(submitter, store, 64, 4096)).containsOnly(0);
        assertThat(StoreModel.range(submitter, store, BioOp.WRITE_ZEROES, 0, 0, (int) all)).isEqualTo(BioStatus.OK);
        assertThat(store.allocatedBytes()).isZero();
    }

    @Test
    void capacityMustBeWholePages() {
        assertThatThrownBy(() -> new MemoryStore("m", 1000))
                .hasMessage("capacityBytes: 1000 (expected: a positive multiple of 4096)");
        assertThatThrownBy(() -> new MemoryStore("m", 0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void outOfRangeAndMisalignedIoIsInvalidAndWritesNothing() {
        MemoryStore store = new MemoryStore("mem", 1 << 20);
        long end = store.capacitySectors();
        assertThat(StoreModel.io(submitter, store, BioOp.WRITE, 0, end - 1, MemorySegment.ofArray(new byte[1024])))
                .isEqualTo(BioStatus.INVALID);
        assertThat(StoreModel.io(submitter, store, BioOp.WRITE, 0, 0, MemorySegment.ofArray(new byte[100])))
                .isEqualTo(BioStatus.INVALID);
        assertThat(StoreModel.range(submitter, store, BioOp.WRITE_ZEROES, BioFlags.NOUNMAP, end, 1))
                .isEqualTo(BioStatus.INVALID);
        // and when a bio reaches the store without the submitter's checks
        assertThat(direct(store, Bio.alloc().setOp(BioOp.WRITE).setSector(end - 1)
                .setData(MemorySegment.ofArray(new byte[1024])))).isEqualTo(BioStatus.INVALID);
        assertThat(direct(store, Bio.alloc().setOp(BioOp.WRITE_ZEROES).setFlags(BioFlags.NOUNMAP).setSector(end - 1)
                .setSizeBytes(4096))).isEqualTo(BioStatus.INVALID);
        assertThat(direct(store, Bio.alloc().setOp(BioOp.READ).setSector(end)
                .setData(MemorySegment.ofArray(new byte[512])))).isEqualTo(BioStatus.INVALID);
        assertThat(store.allocatedBytes()).isZero();
    }

    private static BioStatus direct(MemoryStore store, Bio bio) {
        AtomicReference<BioStatus> status = new AtomicReference<>();
        bio.setDevice(store).setEndIo(b -> status.set(b.status()));
        store.submitBio(bio); // completes inline
        return status.get();
    }

    @Test
    void concurrentRandomIoFromManyThreadsOnDisjointRanges() throws Exception {
        MemoryStore store = new MemoryStore("mem", 16 << 20);
        long seed = StoreModel.seed();
        int threads = 8;
        int perThread = (int) (store.capacitySectors() / threads);
        List<StoreModel> models = new ArrayList<>();
        List<Thread> workers = new ArrayList<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        for (int t = 0; t < threads; t++) {
            // ranges that share pages at their edges: offset by 3 sectors
            StoreModel m = new StoreModel(seed + t, (long) t * perThread + 3, perThread - 8, 1,
                    StoreModel.Memory.values()[t % StoreModel.Memory.values().length]);
            models.add(m);
            workers.add(Thread.ofPlatform().start(() -> {
                try {
                    m.run(submitter, store, 1500, 128);
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }));
        }
        for (Thread w : workers) {
            w.join();
        }
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
        for (StoreModel m : models) {
            m.verifyAll(submitter, store);
        }
    }

    @ParameterizedTest
    @EnumSource(StoreModel.Memory.class)
    void runsAcrossDirectoryBlocksAndSlabsMatchTheModel(StoreModel.Memory memory) {
        // 16 MiB of device per directory block: the model's range straddles the first boundary, misaligned by
        // 3 sectors, and bios up to 3 MiB cross it and the pool's 2 MiB slabs
        MemoryStore store = new MemoryStore("mem", 40 << 20);
        long boundarySector = (16 << 20) / 512;
        StoreModel model = new StoreModel(StoreModel.seed(), boundarySector - 6 * 2048 + 3, 12 * 2048, 1, memory);
        model.run(submitter, store, 300, 6 * 1024);
        model.verifyAll(submitter, store);
    }

    @Test
    void aLargeWriteIsOneRunAndReadsBackAcrossSlabAndBlockBoundariesFromMixedMemory() {
        MemoryStore store = new MemoryStore("mem", 40 << 20);
        int length = 5 << 20;
        long sector = (16 << 20) / 512 - 3 * 2048 + 1; // starts mid-page, ends 2 MiB past the block boundary
        byte[] data = new byte[length];
        new java.util.SplittableRandom(StoreModel.seed()).nextBytes(data);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment nativePart = arena.allocate(length - 12345 - 4096 - 100);
            MemorySegment.copy(MemorySegment.ofArray(data), 12345 + 4096 + 100, nativePart, 0, nativePart.byteSize());
            // heap, native, heap, native: pieces that do not line up with pages
            MemorySegment[] pieces = {MemorySegment.ofArray(java.util.Arrays.copyOfRange(data, 0, 12345)),
                    arena.allocate(4096).copyFrom(MemorySegment.ofArray(data).asSlice(12345, 4096)),
                    MemorySegment.ofArray(java.util.Arrays.copyOfRange(data, 12345 + 4096, 12345 + 4096 + 100)),
                    nativePart};
            assertThat(StoreModel.io(submitter, store, BioOp.WRITE, 0, sector, pieces)).isEqualTo(BioStatus.OK);
            assertThat(store.allocatedBytes()).isEqualTo(length + 4096); // 1281 pages: 512 bytes over at each end
            assertThat(StoreModel.read(submitter, store, sector, length)).isEqualTo(data);
            // a read from a different layout: odd native pieces around the same range, including the zeros around it
            byte[] expected = new byte[length + 1024];
            System.arraycopy(data, 0, expected, 512, length);
            MemorySegment a = arena.allocate(777 * 512 + 1);
            MemorySegment b = MemorySegment.ofArray(new byte[expected.length - 777 * 512 - 1]);
            assertThat(StoreModel.io(submitter, store, BioOp.READ, 0, sector - 1, a, b)).isEqualTo(BioStatus.OK);
            byte[] back = new byte[expected.length];
            MemorySegment.copy(a, 0, MemorySegment.ofArray(back), 0, a.byteSize());
            MemorySegment.copy(b, 0, MemorySegment.ofArray(back), a.byteSize(), b.byteSize());
            assertThat(back).isEqualTo(expected);
        }
        assertThat(StoreModel.extents(store, sector - 1, length / 512 + 2)).containsExactly(
                new long[] {sector - 1, length / 512 + 2, 0});
    }

    @Test
    void writingAndDiscardingRepeatedlyReusesMemoryAndAFullDiscardGivesSlabsBack() {
        MemoryStore store = new MemoryStore("mem", 64 << 20);
        byte[] chunk = new byte[1 << 20];
        java.util.SplittableRandom random = new java.util.SplittableRandom(StoreModel.seed());
        for (int round = 0; round < 40; round++) {
            // 8 MiB written at a different place each round (1 MiB bios), then discarded: at most 8 MiB is live
            long base = (long) random.nextInt(56) << 20;
            for (int i = 0; i < 8; i++) {
                random.nextBytes(chunk);
                assertThat(StoreModel.io(submitter, store, BioOp.WRITE, 0, (base + ((long) i << 20)) / 512,
                        MemorySegment.ofArray(chunk))).isEqualTo(BioStatus.OK);
            }
            assertThat(StoreModel.read(submitter, store, (base + (7 << 20)) / 512, chunk.length)).isEqualTo(chunk);
            assertThat(store.reservedBytes()).isLessThanOrEqualTo((8 << 20) + 2 * NativePagePool.SLAB_BYTES);
            // a 4 KiB page kept at every other 64 KiB: the rest is dropped, fragmenting the free pages
            for (int i = 0; i < 8 * 16; i += 2) {
                assertThat(StoreModel.range(submitter, store, BioOp.DISCARD, 0, (base + ((long) i << 16)) / 512 + 8,
                        120)).isEqualTo(BioStatus.OK);
            }
            assertThat(StoreModel.range(submitter, store, BioOp.WRITE_ZEROES, 0, base / 512, 8 << 11))
                    .isEqualTo(BioStatus.OK);
            assertThat(store.allocatedBytes()).isZero();
        }
        assertThat(store.reservedBytes()).isLessThanOrEqualTo(2 * NativePagePool.SLAB_BYTES);
        assertThat(StoreModel.read(submitter, store, 0, 4096)).containsOnly(0);
    }

    /**
     * The reuse hazard: a page dropped by a discard while another thread's write or read still holds it must not
     * be handed to other device data before that bio is done. Writers fill pages with words that name their
     * device page; discarders drop and rewrite the same pages; readers check that no page ever shows a word
     * naming another page (a write sent into a reused page, or a read of one). Each thread also owns pages
     * that nobody else touches and checks them exactly. Seeded; bounded by a count of operations.
     */
    @Test
    void aDroppedPageIsNeverReusedWhileABioMayStillHoldIt() throws Exception {
        int contested = 40; // pages 0..95: written and discarded by everyone
        int threads = 6;
        int ownedPerThread = 32; // pages after the contested ones, one block of them per thread
        MemoryStore store = new MemoryStore("mem", (long) (contested + threads * ownedPerThread) * 4096);
        long seed = StoreModel.seed();
        List<Thread> workers = new ArrayList<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        for (int t = 0; t < threads; t++) {
            int me = t;
            workers.add(Thread.ofPlatform().start(() -> {
                try {
                    hammer(store, new java.util.SplittableRandom(seed + me), me, contested,
                            contested + me * ownedPerThread, ownedPerThread, 6000);
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }));
        }
        for (Thread w : workers) {
            w.join();
        }
        if (failure.get() != null) {
            throw new AssertionError("seed " + seed, failure.get());
        }
        // nothing in flight now: every page still reads as its own
        checkOwnPatterns(store, 0, contested + threads * ownedPerThread, null, 0);
    }

    private static void hammer(MemoryStore store, java.util.SplittableRandom random, int thread, int contested,
            int ownedFirst, int owned, int ops) {
        long[] ownedModel = new long[owned]; // generation last written to each owned page, 0: a hole
        int generation = thread << 24;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buffer = arena.allocate(8 * 4096L);
            for (int op = 0; op < ops; op++) {
                boolean mine = random.nextInt(4) == 0;
                int first = mine ? ownedFirst + random.nextInt(owned) : random.nextInt(contested);
                int limit = mine ? ownedFirst + owned : contested;
                int pages = Math.min(1 + random.nextInt(8), limit - first);
                // heap or native bio memory, whole or split at an odd byte
                MemorySegment data = random.nextBoolean() ? buffer.asSlice(0, pages * 4096L)
                        : MemorySegment.ofArray(new byte[pages * 4096]);
                int kind = random.nextInt(10);
                if (kind < 4) {
                    generation++;
                    for (int p = 0; p < pages; p++) {
                        for (int w = 0; w < 512; w++) {
                            data.set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, p * 4096L + w * 8L,
                                    word(first + p, generation));
                        }
                    }
                    int cut = 1 + random.nextInt(pages * 4096 - 1);
                    Bio bio = Bio.alloc().setOp(BioOp.WRITE).setSector(first * 8L)
                            .setData(data.asSlice(0, cut), data.asSlice(cut));
                    assertThat(direct(store, bio)).isEqualTo(BioStatus.OK);
                    if (mine) {
                        for (int p = 0; p < pages; p++) {
                            ownedModel[first + p - ownedFirst] = generation;
                        }
                    }
                } else if (kind < 7) {
                    BioOp discard = random.nextBoolean() ? BioOp.DISCARD : BioOp.WRITE_ZEROES;
                    Bio bio = Bio.alloc().setOp(discard).setSector(first * 8L).setSizeBytes(pages * 4096);
                    assertThat(direct(store, bio)).isEqualTo(BioStatus.OK);
                    if (mine) {
                        for (int p = 0; p < pages; p++) {
                            ownedModel[first + p - ownedFirst] = 0;
                        }
                    }
                } else {
                    Bio bio = Bio.alloc().setOp(BioOp.READ).setSector(first * 8L).setData(data);
                    assertThat(direct(store, bio)).isEqualTo(BioStatus.OK);
                    checkPages(data, first, pages, mine ? ownedModel : null, first - ownedFirst);
                }
            }
        }
    }

    private static long word(int page, int generation) {
        return ((long) (page + 1) << 32) | (generation & 0xffffffffL);
    }

    /** Every word of each page is 0 or names that page; with a model, is exactly what the owner wrote last. */
    private static void checkPages(MemorySegment data, int firstPage, int pages, long[] model, int modelIndex) {
        for (int p = 0; p < pages; p++) {
            for (int w = 0; w < 512; w++) {
                long v = data.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, p * 4096L + w * 8L);
                int page = firstPage + p;
                if (model != null) {
                    long expected = model[modelIndex + p] == 0 ? 0 : word(page, (int) model[modelIndex + p]);
                    if (v != expected) {
                        throw new AssertionError("owned page " + page + " word " + w + ": 0x" + Long.toHexString(v)
                                + " (expected: 0x" + Long.toHexString(expected) + ")");
                    }
                } else if (v != 0 && (v >>> 32) != page + 1) {
                    throw new AssertionError("page " + page + " word " + w + " holds page " + ((v >>> 32) - 1)
                            + "'s data: 0x" + Long.toHexString(v));
                }
            }
        }
    }

    private static void checkOwnPatterns(MemoryStore store, int firstPage, int pages, long[] model, int modelIndex) {
        MemorySegment data = MemorySegment.ofArray(new byte[pages * 4096]);
        assertThat(direct(store, Bio.alloc().setOp(BioOp.READ).setSector(firstPage * 8L).setData(data)))
                .isEqualTo(BioStatus.OK);
        checkPages(data, firstPage, pages, model, modelIndex);
    }
}
