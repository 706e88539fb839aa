package dev.cairn.block.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

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
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Splice reads: a READ with a {@link SpliceSink} over cached data is answered by reference to the file,
 * everything else is copied as before. Uncached data is made as in {@link FileStoreInlineTest}: FLUSH,
 * then {@code posix_fadvise(DONTNEED)}.
 */
@Timeout(60)
class FileStoreSpliceTest {
    private static final int KIB = 1024;
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    private final Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
    private final Arena arena = Arena.ofShared();
    private final List<AutoCloseable> toClose = new ArrayList<>();

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : toClose.reversed()) {
            c.close();
        }
        submitter.close();
        arena.close();
    }

    private FileStore store(String name, FileStoreConfig config) throws IOException {
        Path path = dir.resolve(name);
        FileStore.createSparse(path, 4 * MIB);
        FileStore store = FileStore.open(path, config);
        toClose.add(store);
        return store;
    }

    private static byte[] data(long offsetBytes, int lengthBytes, int generation) {
        byte[] out = new byte[lengthBytes];
        for (int i = 0; i < lengthBytes; i++) {
            out[i] = StoreModel.dataByte(offsetBytes + i, generation);
        }
        return out;
    }

    private void write(FileStore store, long offsetBytes, byte[] bytes) {
        Bio bio = Bio.alloc().setDevice(store).setOp(BioOp.WRITE).setSector(offsetBytes >>> 9)
                .setData(MemorySegment.ofArray(bytes));
        assertThat(IoCompletion.submitAndWait(submitter, bio)).isEqualTo(BioStatus.OK);
    }

    private BioStatus read(FileStore store, long offsetBytes, SpliceSink sink, MemorySegment... data) {
        Bio bio = Bio.alloc().setDevice(store).setOp(BioOp.READ).setSector(offsetBytes >>> 9).setData(data)
                .setSpliceSink(sink);
        return IoCompletion.submitAndWait(submitter, bio);
    }

    /** A pool thread counts its bio out just after the end-io ran: wait for that, briefly. */
    private static void awaitNoInflight(FileStore store) throws InterruptedException {
        await("no bio in flight").atMost(Duration.ofSeconds(5)).until(() -> store.inFlightBios() == 0);
    }

    private void dropCache(FileStore store, long offsetBytes, long lengthBytes) {
        assertThat(StoreModel.flush(submitter, store)).isEqualTo(BioStatus.OK);
        assertThat(Posix.fadvise(store.fd(), offsetBytes, lengthBytes, Posix.POSIX_FADV_DONTNEED)).isZero();
    }

    @Test
    void aCachedReadIsAnsweredByReferenceAndPinsTheStoreUntilReleased() throws Exception {
        FileStore store = store("a.img", FileStoreConfig.defaults());
        byte[] expected = data(MIB, 256 * KIB, 1);
        write(store, MIB, expected);
        awaitNoInflight(store); // the write went to the pool: its count may lag its completion
        MemorySegment buffer = arena.allocate(256 * KIB);
        SpliceSink sink = new SpliceSink(buffer);
        assertThat(read(store, MIB, sink, buffer)).isEqualTo(BioStatus.OK);

        assertThat(sink.count()).isEqualTo(1);
        assertThat((SpliceSink.FileRange) sink.piece(0)).extracting(SpliceSink.FileRange::offsetBytes,
                SpliceSink.FileRange::lengthBytes, SpliceSink.FileRange::positionBytes)
                .containsExactly(0L, 256L * KIB, (long) MIB);
        assertThat(buffer.toArray(ValueLayout.JAVA_BYTE)).as("nothing was copied").containsOnly(0);
        assertThat(StoreModel.assembled(sink, buffer)).isEqualTo(expected);
        assertThat(store.spliced.sum()).isEqualTo(1);
        assertThat(store.inFlightBios()).as("the piece counts as I/O in flight").isEqualTo(1);

        // close waits for the piece: the file must stay open until the consumer has sent it
        AtomicReference<Throwable> failed = new AtomicReference<>();
        Thread closer = Thread.ofPlatform().start(() -> {
            try {
                store.close();
            } catch (Throwable t) {
                failed.set(t);
            }
        });
        // the closer reaches its wait for the drain (not a fixed pause: a loaded machine may not have run it yet)
        await("close waits for the pinned piece").atMost(Duration.ofSeconds(10))
                .until(() -> closer.getState() == Thread.State.TIMED_WAITING || !closer.isAlive());
        assertThat(closer.isAlive()).as("close returned while a piece was pinned").isTrue();
        assertThat(StoreModel.assembled(sink, buffer)).as("still readable while pinned").isEqualTo(expected);
        sink.release();
        closer.join(10_000);
        assertThat(closer.isAlive()).isFalse();
        assertThat(failed.get()).isNull();
        assertThat(store.inFlightBios()).isZero();
    }

    @Test
    void aReadBelowTheSinksMinimumFileRangeIsCopied() throws Exception {
        FileStore store = store("m.img", FileStoreConfig.defaults());
        byte[] expected = data(0, 256 * KIB, 5);
        write(store, 0, expected);
        MemorySegment small = arena.allocate(64 * KIB);
        SpliceSink smallSink = new SpliceSink(small, 128L * KIB);
        assertThat(read(store, 0, smallSink, small)).isEqualTo(BioStatus.OK);
        assertThat(smallSink.count()).as("64 KiB is below the sink's 128 KiB minimum").isZero();
        assertThat(small.toArray(ValueLayout.JAVA_BYTE)).isEqualTo(Arrays.copyOf(expected, 64 * KIB));
        smallSink.release();

        MemorySegment large = arena.allocate(256 * KIB);
        SpliceSink largeSink = new SpliceSink(large, 128L * KIB);
        assertThat(read(store, 0, largeSink, large)).isEqualTo(BioStatus.OK);
        assertThat(largeSink.count()).isEqualTo(1);
        assertThat(StoreModel.assembled(largeSink, large)).isEqualTo(expected);
        largeSink.release();
        assertThat(store.spliced.sum()).isEqualTo(1);
    }

    @Test
    void uncachedDataNoSinkDirectAndReleasedSinksAreCopied() throws Exception {
        FileStore store = store("b.img", FileStoreConfig.defaults());
        byte[] expected = data(0, 128 * KIB, 2);
        write(store, 0, expected);

        dropCache(store, 0, 128 * KIB);
        MemorySegment cold = arena.allocate(128 * KIB);
        SpliceSink coldSink = new SpliceSink(cold);
        assertThat(read(store, 0, coldSink, cold)).isEqualTo(BioStatus.OK);
        assertThat(coldSink.count()).as("not all cached: the pool reads it, in parallel with others").isZero();
        assertThat(cold.toArray(ValueLayout.JAVA_BYTE)).isEqualTo(expected);

        MemorySegment plain = arena.allocate(128 * KIB);
        assertThat(read(store, 0, null, plain)).isEqualTo(BioStatus.OK);
        assertThat(plain.toArray(ValueLayout.JAVA_BYTE)).isEqualTo(expected);

        MemorySegment late = arena.allocate(128 * KIB);
        SpliceSink released = new SpliceSink(late);
        released.release();
        assertThat(read(store, 0, released, late)).isEqualTo(BioStatus.OK);
        assertThat(late.toArray(ValueLayout.JAVA_BYTE)).isEqualTo(expected);

        FileStore direct = FileStore.open(store.path(), FileStoreConfig.defaults().withDirect(true));
        toClose.add(direct);
        MemorySegment aligned = arena.allocate(128 * KIB, 4096);
        SpliceSink directSink = new SpliceSink(aligned);
        assertThat(read(direct, 0, directSink, aligned)).isEqualTo(BioStatus.OK);
        assertThat(directSink.count()).as("O_DIRECT bypasses the page cache; so do its reads").isZero();
        assertThat(aligned.toArray(ValueLayout.JAVA_BYTE)).isEqualTo(expected);

        assertThat(store.spliced.sum() + direct.spliced.sum()).isZero();
        awaitNoInflight(store);
    }

    @Test
    void memoryTheSinkDoesNotCoverIsReadIntoMemoryAfterTheReferencedPrefix() throws Exception {
        FileStore store = store("c.img", FileStoreConfig.defaults());
        byte[] expected = data(0, 192 * KIB, 3);
        write(store, 0, expected);
        MemorySegment inBase = arena.allocate(128 * KIB);
        MemorySegment outside = arena.allocate(64 * KIB);
        SpliceSink sink = new SpliceSink(inBase);
        assertThat(read(store, 0, sink, inBase, outside)).isEqualTo(BioStatus.OK);
        assertThat(sink.count()).isEqualTo(1);
        assertThat(sink.piece(0).lengthBytes()).isEqualTo(128 * KIB);
        assertThat(StoreModel.assembled(sink, inBase)).isEqualTo(Arrays.copyOfRange(expected, 0, 128 * KIB));
        assertThat(outside.toArray(ValueLayout.JAVA_BYTE)).isEqualTo(Arrays.copyOfRange(expected, 128 * KIB, 192 * KIB));
        sink.release();
        awaitNoInflight(store);
    }

    @Test
    void aChannelClosedByAnInterruptedSenderIsReplacedForLaterReads() throws Exception {
        FileStore store = store("e.img", FileStoreConfig.defaults());
        byte[] expected = data(0, 64 * KIB, 6);
        write(store, 0, expected);
        MemorySegment first = arena.allocate(64 * KIB);
        SpliceSink firstSink = new SpliceSink(first);
        assertThat(read(store, 0, firstSink, first)).isEqualTo(BioStatus.OK);
        // what FileChannel does when the thread in transferTo is interrupted
        Thread.currentThread().interrupt();
        try {
            ((SpliceSink.FileRange) firstSink.piece(0)).channel().read(ByteBuffer.allocate(16), 0);
        } catch (java.nio.channels.ClosedByInterruptException e) {
            // expected: the channel is closed now
        } finally {
            Thread.interrupted();
        }
        assertThat(((SpliceSink.FileRange) firstSink.piece(0)).channel().isOpen()).isFalse();
        firstSink.release();

        MemorySegment second = arena.allocate(64 * KIB);
        SpliceSink secondSink = new SpliceSink(second);
        assertThat(read(store, 0, secondSink, second)).isEqualTo(BioStatus.OK);
        assertThat(secondSink.count()).isEqualTo(1);
        assertThat(((SpliceSink.FileRange) secondSink.piece(0)).channel().isOpen()).isTrue();
        assertThat(StoreModel.assembled(secondSink, second)).isEqualTo(expected);
        secondSink.release();
    }

    @Test
    void aReferencedRangeHoldsTheFileAsItIsWhenSentNotWhenTheBioCompleted() throws Exception {
        // The documented semantics, pinned down: a consumer must send the data before it replies, and a
        // layer that needs the data fixed at completion must not pass the sink on (Target.passesSpliceReads).
        FileStore store = store("d.img", FileStoreConfig.defaults());
        write(store, 0, data(0, 64 * KIB, 4));
        MemorySegment buffer = arena.allocate(64 * KIB);
        SpliceSink sink = new SpliceSink(buffer);
        assertThat(read(store, 0, sink, buffer)).isEqualTo(BioStatus.OK);
        byte[] newer = data(0, 64 * KIB, 5);
        write(store, 0, newer);
        assertThat(StoreModel.assembled(sink, buffer)).isEqualTo(newer);
        sink.release();
    }
}
