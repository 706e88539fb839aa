package dev.cairn.block;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SpliceSinkTest {
    @TempDir
    Path dir;

    private final Arena arena = Arena.ofShared();
    private FileChannel file;

    @BeforeEach
    void open() throws IOException {
        Path p = dir.resolve("f");
        Files.write(p, new byte[4096]);
        file = FileChannel.open(p, StandardOpenOption.READ);
    }

    @AfterEach
    void close() throws IOException {
        file.close();
        arena.close();
    }

    @Test
    void offersAreRecordedByTheirOffsetInTheBaseAndReadBackInOrder() {
        MemorySegment base = arena.allocate(1 << 20);
        SpliceSink sink = new SpliceSink(base);
        AtomicInteger released = new AtomicInteger();
        // a clone's memory is a slice of the base; the segment it names may itself be a slice
        assertThat(sink.offer(base.asSlice(512 * 1024), 0, 65536, file, 9000, released::incrementAndGet)).isTrue();
        assertThat(sink.offer(base, 4096, 8192, file, 100, released::incrementAndGet)).isTrue();
        assertThat(sink.count()).isEqualTo(2);
        assertThat(sink.piece(0)).isEqualTo(new SpliceSink.FileRange(4096, 8192, file, 100, sink.piece(0).release()));
        assertThat(sink.piece(1).offsetBytes()).isEqualTo(512 * 1024);
        assertThat(((SpliceSink.FileRange) sink.piece(1)).channel()).isSameAs(file);
        sink.release();
        sink.release();
        assertThat(released.get()).as("each piece released once, however often the sink is").isEqualTo(2);
        assertThat(sink.count()).isZero();
    }

    @Test
    void memoryOutsideTheBaseHeapMemoryAndOffersAfterReleaseAreRefused() {
        MemorySegment base = arena.allocate(65536);
        MemorySegment other = arena.allocate(65536);
        SpliceSink sink = new SpliceSink(base);
        Runnable none = () -> { throw new AssertionError("a refused piece is never released"); };
        assertThat(sink.offer(other, 0, 4096, file, 0, none)).isFalse();
        assertThat(sink.offer(base, 61440, 8192, file, 0, none)).as("runs past the segment").isFalse();
        assertThat(sink.offer(MemorySegment.ofArray(new byte[4096]), 0, 4096, file, 0, none)).isFalse();
        assertThat(sink.offer(base, 0, 0, file, 0, none)).as("empty").isFalse();
        sink.release();
        assertThat(sink.offer(base, 0, 4096, file, 0, none)).as("after release").isFalse();
        assertThat(sink.count()).isZero();
        assertThatThrownBy(() -> new SpliceSink(MemorySegment.ofArray(new byte[16])))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("native");
    }

    @Test
    void concurrentOffersAreAllKeptAndSorted() throws Exception {
        int pieces = 64;
        MemorySegment base = arena.allocate(pieces * 4096L);
        SpliceSink sink = new SpliceSink(base);
        AtomicInteger released = new AtomicInteger();
        CountDownLatch go = new CountDownLatch(1);
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < 4; t++) {
            int first = t;
            threads.add(Thread.ofPlatform().start(() -> {
                try {
                    go.await();
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
                for (int i = pieces - 1 - first; i >= 0; i -= 4) {
                    assertThat(sink.offer(base, i * 4096L, 4096, file, i, released::incrementAndGet)).isTrue();
                }
            }));
        }
        go.countDown();
        for (Thread t : threads) {
            t.join();
        }
        assertThat(sink.count()).isEqualTo(pieces);
        for (int i = 0; i < pieces; i++) {
            assertThat(sink.piece(i).offsetBytes()).isEqualTo(i * 4096L);
            assertThat(((SpliceSink.FileRange) sink.piece(i)).positionBytes()).isEqualTo(i);
        }
        sink.release();
        assertThat(released.get()).isEqualTo(pieces);
    }

    @Test
    void memoryPiecesAndFilePiecesMixAndCopyIntoTheBaseGivesWhatACopyWouldHave() throws IOException {
        Files.write(dir.resolve("f"), filled(4096, (byte) 0x5f));
        MemorySegment base = arena.allocate(5 * 4096);
        MemorySegment page = arena.allocate(4096).fill((byte) 0x3c);
        SpliceSink sink = new SpliceSink(base);
        AtomicInteger released = new AtomicInteger();
        base.asSlice(0, 4096).fill((byte) 1); // copied by the store: memory the sink does not cover
        assertThat(sink.offerMemory(base, 4096, page.asSlice(0, 2048), released::incrementAndGet)).isTrue();
        assertThat(sink.offer(base, 3 * 4096, 4096, file, 0, released::incrementAndGet)).isTrue();
        assertThat(sink.offerMemory(base, 6144, MemorySegment.ofArray(new byte[16]), () -> { }))
                .as("heap memory as a source").isFalse();
        assertThat(sink.offerMemory(base, 5 * 4096 - 100, page, () -> { })).as("past the base").isFalse();
        assertThat(sink.piece(0)).isInstanceOf(SpliceSink.MemoryRange.class);
        assertThat(sink.piece(1)).isInstanceOf(SpliceSink.FileRange.class);

        sink.copyInto(base);
        byte[] got = base.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        assertThat(java.util.Arrays.copyOfRange(got, 0, 4096)).containsOnly(1);
        assertThat(java.util.Arrays.copyOfRange(got, 4096, 6144)).containsOnly(0x3c);
        assertThat(java.util.Arrays.copyOfRange(got, 6144, 3 * 4096)).containsOnly(0);
        assertThat(java.util.Arrays.copyOfRange(got, 3 * 4096, 4 * 4096)).containsOnly(0x5f);
        assertThatThrownBy(() -> sink.copyInto(base.asSlice(0, 4096))).isInstanceOf(IllegalArgumentException.class);
        sink.release();
        assertThat(released.get()).isEqualTo(2);
    }

    @Test
    void aSinkTakesAtMostMaxPiecesSoOneReplyStaysBounded() {
        MemorySegment base = arena.allocate((SpliceSink.MAX_PIECES + 8) * 512L);
        SpliceSink sink = new SpliceSink(base);
        AtomicInteger released = new AtomicInteger();
        int taken = 0;
        for (int i = 0; i < SpliceSink.MAX_PIECES + 8; i++) {
            if (sink.offer(base, i * 512L, 512, file, i * 512L, released::incrementAndGet)) {
                taken++;
            }
        }
        assertThat(taken).isEqualTo(SpliceSink.MAX_PIECES);
        assertThat(sink.count()).isEqualTo(SpliceSink.MAX_PIECES);
        sink.release();
        assertThat(released.get()).as("refused offers are never released").isEqualTo(SpliceSink.MAX_PIECES);
    }

    @Test
    void aSinkForMemoryPiecesOnlyRefusesFileRanges() {
        MemorySegment base = arena.allocate(8192);
        SpliceSink sink = new SpliceSink(base, SpliceSink.NO_FILE_RANGES);
        assertThat(sink.acceptsFileRanges()).isFalse();
        assertThat(sink.offer(base, 0, 4096, file, 0, () -> { })).isFalse();
        assertThat(sink.offerMemory(base, 4096, arena.allocate(4096), () -> { })).isTrue();
        assertThat(sink.count()).isEqualTo(1);
        assertThat(new SpliceSink(base).acceptsFileRanges()).isTrue();
        sink.release();
    }

    @Test
    void aMinimumFileRangeSizeIsAskedAboutByTheStoreAndValidated() {
        MemorySegment base = arena.allocate(8192);
        SpliceSink sink = new SpliceSink(base, 8192L);
        assertThat(sink.acceptsFileRanges()).isTrue();
        assertThat(sink.acceptsFileRange(8191)).isFalse();
        assertThat(sink.acceptsFileRange(8192)).isTrue();
        assertThat(new SpliceSink(base).acceptsFileRange(1)).isTrue();
        SpliceSink none = new SpliceSink(base, SpliceSink.NO_FILE_RANGES);
        assertThat(none.acceptsFileRanges()).isFalse();
        assertThat(none.acceptsFileRange(Long.MAX_VALUE)).isFalse();
        assertThatThrownBy(() -> new SpliceSink(base, -1L)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("minFileRangeBytes: -1 (expected: >= 0)");
        sink.release();
        none.release();
    }

    private static byte[] filled(int length, byte value) {
        byte[] b = new byte[length];
        java.util.Arrays.fill(b, value);
        return b;
    }

    @Test
    void cloneLeavesTheSinkBehindSplitKeepsItAndAFreedBioForgetsIt() {
        MemorySegment base = arena.allocate(65536);
        SpliceSink sink = new SpliceSink(base);
        try (Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK)) {
            BioSet set = submitter.newBioSet("splice-test", 4);
            Bio bio = set.alloc().setOp(BioOp.READ).setSector(0).setData(base).setSpliceSink(sink);
            Bio clone = bio.clone(set);
            assertThat(clone.spliceSink()).as("a clone may go to a layer that changes the data").isNull();
            Bio front = bio.split(8, set);
            assertThat(front.spliceSink()).isSameAs(sink);
            assertThat(bio.spliceSink()).isSameAs(sink);
            clone.complete();
            front.complete();
            bio.complete();
            Bio again = set.alloc();
            assertThat(again.spliceSink()).isNull();
            again.complete();
            set.close();
        }
    }
}
