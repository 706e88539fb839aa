package dev.cairn.block.store;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.IoCompletion;
import dev.cairn.block.SpliceSink;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Reads by reference from a {@link MemoryStore}: a READ with a {@link SpliceSink} gets the store's pages
 * themselves, pinned until the sink is released, so a discard followed by writes elsewhere can never hand
 * those pages to other data while a reply may still be sent from them.
 */
@Timeout(60)
class MemoryStoreSpliceTest {
    private static final int KIB = 1024;
    private static final int PAGE = MemoryStore.PAGE_BYTES;

    private final Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
    private final Arena arena = Arena.ofShared();

    @AfterEach
    void tearDown() {
        submitter.close();
        arena.close();
    }

    /** Every 8-byte word of a page written by {@link #writePages}: the device page and a version. */
    private static long tag(long devicePage, int version) {
        return (devicePage << 20) | (version & 0xfffff) | (1L << 62);
    }

    private void writePages(MemoryStore store, long firstPage, int pages, int version) {
        MemorySegment data = MemorySegment.ofArray(new long[pages * PAGE / 8]);
        for (int p = 0; p < pages; p++) {
            long t = tag(firstPage + p, version);
            for (int w = 0; w < PAGE / 8; w++) {
                data.setAtIndex(ValueLayout.JAVA_LONG, (long) p * PAGE / 8 + w, t);
            }
        }
        Bio bio = Bio.alloc().setDevice(store).setOp(BioOp.WRITE).setSector(firstPage * PAGE / 512).setData(data);
        assertThat(IoCompletion.submitAndWait(submitter, bio)).isEqualTo(BioStatus.OK);
    }

    private void discard(MemoryStore store, long firstPage, int pages) {
        Bio bio = Bio.alloc().setDevice(store).setOp(BioOp.DISCARD).setSector(firstPage * PAGE / 512)
                .setSizeBytes(pages * PAGE);
        assertThat(IoCompletion.submitAndWait(submitter, bio)).isEqualTo(BioStatus.OK);
    }

    /** Any retirement advances the epoch and frees retired pages that are no longer pinned. */
    private void sweep(MemoryStore store, long page) {
        writePages(store, page, 1, 0);
        discard(store, page, 1);
    }

    private SpliceSink readByReference(MemoryStore store, long offsetBytes, MemorySegment buffer) {
        SpliceSink sink = new SpliceSink(buffer);
        Bio bio = Bio.alloc().setDevice(store).setOp(BioOp.READ).setSector(offsetBytes / 512).setData(buffer)
                .setSpliceSink(sink);
        assertThat(IoCompletion.submitAndWait(submitter, bio)).isEqualTo(BioStatus.OK);
        return sink;
    }

    private static byte[] expectedPages(long firstPage, int pages, int version) {
        MemorySegment m = MemorySegment.ofArray(new byte[pages * PAGE]);
        for (int p = 0; p < pages; p++) {
            for (int w = 0; w < PAGE / 8; w++) {
                m.set(ValueLayout.JAVA_LONG_UNALIGNED, (long) p * PAGE + w * 8L, tag(firstPage + p, version));
            }
        }
        return m.toArray(ValueLayout.JAVA_BYTE);
    }

    @Test
    void writtenPagesAreReferencedHolesAreZeroedInTheBiosMemoryAndTheDataIsExact() throws IOException {
        MemoryStore store = new MemoryStore("mem", 4 << 20);
        writePages(store, 0, 64, 1); // 256 KiB
        writePages(store, 128, 16, 2); // 64 KiB at 512 KiB
        MemorySegment buffer = arena.allocate(1 << 20).fill((byte) 0xee);
        SpliceSink sink = readByReference(store, 0, buffer);

        assertThat(sink.count()).isPositive();
        long referenced = 0;
        for (int i = 0; i < sink.count(); i++) {
            assertThat(sink.piece(i)).isInstanceOf(SpliceSink.MemoryRange.class);
            referenced += sink.piece(i).lengthBytes();
        }
        assertThat(referenced).as("every written byte, nothing else").isEqualTo(80L * PAGE);
        byte[] mem = buffer.toArray(ValueLayout.JAVA_BYTE);
        assertThat(Arrays.copyOfRange(mem, 0, 256 * KIB)).as("referenced: not copied").containsOnly(0xee);
        assertThat(Arrays.copyOfRange(mem, 256 * KIB, 512 * KIB)).as("a hole: zeroed").containsOnly(0);

        byte[] got = StoreModel.assembled(sink, buffer);
        assertThat(Arrays.copyOfRange(got, 0, 256 * KIB)).isEqualTo(expectedPages(0, 64, 1));
        assertThat(Arrays.copyOfRange(got, 512 * KIB, 576 * KIB)).isEqualTo(expectedPages(128, 16, 2));
        assertThat(Arrays.copyOfRange(got, 576 * KIB, 1 << 20)).containsOnly(0);
        sink.release();

        // heap memory cannot be referenced: copied as before
        MemorySegment heap = MemorySegment.ofArray(new byte[256 * KIB]);
        SpliceSink none = new SpliceSink(arena.allocate(16));
        Bio bio = Bio.alloc().setDevice(store).setOp(BioOp.READ).setSector(0).setData(heap).setSpliceSink(none);
        assertThat(IoCompletion.submitAndWait(submitter, bio)).isEqualTo(BioStatus.OK);
        assertThat(none.count()).isZero();
        assertThat(heap.toArray(ValueLayout.JAVA_BYTE)).isEqualTo(expectedPages(0, 64, 1));
    }

    @Test
    void aDiscardedPageStaysPinnedUntilTheSinkIsReleasedWhateverIsWrittenMeanwhile() throws IOException {
        MemoryStore store = new MemoryStore("mem", 16 << 20);
        writePages(store, 0, 16, 7);
        MemorySegment buffer = arena.allocate(64 * KIB);
        SpliceSink sink = readByReference(store, 0, buffer);
        assertThat(sink.count()).isEqualTo(1);

        discard(store, 0, 16); // retires the 16 pages; two advances pass at once (nothing in flight)
        assertThat(store.stats().pinnedRetiredPages()).as("retired, but pinned").isEqualTo(16);
        for (int round = 0; round < 8; round++) { // 8 MiB of other data, discarded and written again
            writePages(store, 256, 512, round);
            discard(store, 256, 512);
        }
        writePages(store, 1024, 1024, 9);
        assertThat(StoreModel.assembled(sink, buffer)).as("the reply's data is still the read's").isEqualTo(expectedPages(0, 16, 7));

        sink.release();
        sweep(store, 3000);
        assertThat(store.stats().pinnedRetiredPages()).isZero();
    }

    @Test
    void readersHoldingReferencesNeverSeeAnotherRangesDataUnderDiscardsAndWrites() throws Exception {
        int pages = 256; // 1 MiB: pages are reused all the time
        MemoryStore store = new MemoryStore("mem", (long) pages * PAGE);
        writePages(store, 0, pages, 0);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicLong checkedPages = new AtomicLong();
        CountDownLatch go = new CountDownLatch(1);
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 2; t++) {
            long seed = 100 + t;
            threads.add(Thread.ofPlatform().start(() -> guard(failure, () -> {
                SplittableRandom rnd = new SplittableRandom(seed);
                go.await();
                int version = 1;
                while (!stop.get()) {
                    long first = rnd.nextInt(pages - 16);
                    int n = 1 + rnd.nextInt(16);
                    if (rnd.nextBoolean()) {
                        discard(store, first, n);
                    } else {
                        writePages(store, first, n, version++);
                    }
                }
            })));
        }
        for (int t = 0; t < 2; t++) {
            long seed = 200 + t;
            threads.add(Thread.ofPlatform().start(() -> guard(failure, () -> {
                SplittableRandom rnd = new SplittableRandom(seed);
                MemorySegment buffer = arena.allocate(64 * PAGE);
                go.await();
                while (!stop.get()) {
                    int n = 16 + rnd.nextInt(48);
                    long first = rnd.nextInt(pages - n);
                    MemorySegment window = buffer.asSlice(0, (long) n * PAGE);
                    SpliceSink sink = readByReference(store, first * PAGE, window);
                    Thread.onSpinWait();
                    Thread.yield(); // the "send" comes later, while the writers go on
                    MemorySegment got = MemorySegment.ofArray(StoreModel.assembled(sink, window));
                    sink.release();
                    for (int p = 0; p < n; p++) {
                        for (int w = 0; w < PAGE / 8; w += 64) {
                            long word = got.get(ValueLayout.JAVA_LONG_UNALIGNED, (long) p * PAGE + w * 8L);
                            if (word != 0 && word >>> 20 != tag(first + p, 0) >>> 20) {
                                throw new AssertionError("page " + (first + p) + " read data of page "
                                        + ((word & ~(1L << 62)) >>> 20));
                            }
                        }
                    }
                    checkedPages.addAndGet(n);
                }
            })));
        }
        go.countDown();
        Thread.sleep(1500);
        stop.set(true);
        for (Thread t : threads) {
            t.join();
        }
        assertThat(failure.get()).isNull();
        assertThat(checkedPages.get()).isPositive();
        sweep(store, 0); // what the readers' pins held back
        assertThat(store.stats().pinnedRetiredPages()).as("no pin outlives its sink").isZero();
    }

    private interface Body {
        void run() throws Exception;
    }

    private static void guard(AtomicReference<Throwable> failure, Body body) {
        try {
            body.run();
        } catch (Throwable e) {
            failure.compareAndSet(null, e);
        }
    }
}
