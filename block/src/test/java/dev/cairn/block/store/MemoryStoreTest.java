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
}
