package dev.cairn.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.Extents;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.store.FileStore;
import dev.cairn.block.store.FileStoreConfig;
import dev.cairn.block.store.MemoryStore;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RandomIoTest {
    private final StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);
    private final Submitter submitter = stack.submitter();

    @TempDir
    Path dir;

    @AfterEach
    void tearDown() {
        stack.close();
    }

    @Test
    void opsAreAlignedInsideTheRangeAndReproducibleFromTheSeed() {
        RandomIo a = RandomIo.create(99, 13, 1000).withAlignment(8).withMaxSectors(64);
        RandomIo b = RandomIo.create(99, 13, 1000).withAlignment(8).withMaxSectors(64);
        int[] seen = new int[BioOp.values().length];
        for (int i = 0; i < 2000; i++) {
            RandomIo.Op op = a.next();
            assertThat(b.next()).isEqualTo(op);
            seen[op.op().ordinal()]++;
            if (op.op() != BioOp.FLUSH) {
                assertThat(op.sector() % 8).isZero();
                assertThat(op.sectors() % 8).isZero();
                assertThat(op.sectors()).isBetween(8, 64);
                assertThat(op.sector()).isGreaterThanOrEqualTo(13);
                assertThat(op.sector() + op.sectors()).isLessThanOrEqualTo(1013);
            }
        }
        assertThat(java.util.Arrays.stream(seen).min().orElseThrow()).isPositive();
    }

    @Test
    void memoryStoreMatchesTheModel() {
        MemoryStore store = stack.memoryStore("mem", 4 << 20);
        ModelDevice model = new ModelDevice(4 << 20);
        RandomIo.create(RandomIo.newSeed(), 0, store.capacitySectors()).withMaxSectors(1024).run(submitter, store, model, 3000);
        model.assertMatches(submitter, store);
    }

    @Test
    void fileStoreMatchesTheModelBufferedAndDirect() {
        FileStore store = stack.sparseFileStore(dir.resolve("f.img"), 4 << 20);
        ModelDevice model = new ModelDevice(4 << 20);
        long seed = RandomIo.newSeed();
        RandomIo.create(seed, 0, store.capacitySectors()).run(submitter, store, model, 1500);
        model.assertMatches(submitter, store);
        store.close();
        FileStore direct = stack.fileStore(dir.resolve("f.img"), FileStoreConfig.defaults().withDirect(true));
        model.assertMatches(submitter, direct);
        RandomIo io = RandomIo.create(seed + 1, 0, direct.capacitySectors());
        io.run(submitter, direct, model, 1500); // alignment raised to 4096 by run()
        model.assertMatches(submitter, direct);
    }

    @Test
    void concurrentGeneratorsOnDisjointRangesOfOneModel() throws Exception {
        MemoryStore store = stack.memoryStore("mem", 8 << 20);
        ModelDevice model = new ModelDevice(8 << 20);
        long seed = RandomIo.newSeed();
        List<Thread> threads = new ArrayList<>();
        List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        for (int t = 0; t < 4; t++) {
            RandomIo io = RandomIo.create(seed + t, t * 4096L, 4096).withMix(new RandomIo.Mix(40, 40, 0, 10, 10));
            threads.add(Thread.ofPlatform().start(() -> {
                try {
                    io.run(submitter, store, model, 500);
                } catch (Throwable e) {
                    failures.add(e);
                }
            }));
        }
        for (Thread t : threads) {
            t.join();
        }
        assertThat(failures).isEmpty();
        model.assertMatches(submitter, store);
    }

    /** A device that loses every 50th write: the run must fail and name the seed. */
    @Test
    void aLostWriteIsCaughtWithTheSeedInTheMessage() {
        MemoryStore inner = stack.memoryStore("inner", 1 << 20);
        BlockDevice lossy = new ForwardingDevice(inner) {
            int writes;

            @Override
            public String name() {
                return "lossy";
            }

            @Override
            public synchronized void submitBio(Bio bio) {
                if (bio.op() == BioOp.WRITE && ++writes % 50 == 0) {
                    bio.complete(); // acknowledged, never written
                    return;
                }
                bio.setDevice(inner);
                submitter.submit(bio);
            }
        };
        ModelDevice model = new ModelDevice(1 << 20);
        assertThatThrownBy(() -> RandomIo.create(1234, 0, 2048).withMix(new RandomIo.Mix(50, 50, 0, 0, 0))
                .run(submitter, lossy, model, 5000))
                .hasMessageStartingWith("seed 1234, op #").hasMessageContaining("differs from the model at offset")
                .hasMessageContaining("pattern: expected generation");
    }

    @Test
    void modelTracksUnknownRangesAfterDiscardsThatNeedNotZero() {
        ModelDevice model = new ModelDevice(8192);
        model.write(0, Pattern.segment(0, 8192, 1));
        model.forget(512, 1024);
        MemorySegment actual = Pattern.segment(0, 8192, 1);
        actual.asSlice(600, 100).fill((byte) 7); // inside the unknown range: fine
        model.assertMatches(0, actual);
        actual.asSlice(2000, 1).fill((byte) 7);
        assertThat(model.compare(0, actual)).hasValueSatisfying(m -> assertThat(m).contains("offset 2000"));
        model.write(512, Pattern.segment(512, 512, 2)); // known again
        MemorySegment again = Pattern.segment(0, 8192, 1);
        assertThat(model.compare(0, again)).hasValueSatisfying(m -> assertThat(m).contains("offset 512"));
    }

    @Test
    void ioHelpersReportStatusesAndExtents() {
        MemoryStore store = stack.memoryStore("mem", 1 << 20);
        Io.writeOk(submitter, store, 8, Pattern.segment(4096, 4096, 1));
        Pattern.check(Io.readOk(submitter, store, 8, 4096), 4096, 1);
        assertThat(Io.flush(submitter, store)).isEqualTo(BioStatus.OK);
        assertThat(Io.write(submitter, store, store.capacitySectors(), Pattern.segment(0, 512, 1))).isEqualTo(BioStatus.INVALID);
        assertThat(Io.extents(store, 0, 24)).containsExactly(new Io.Extent(0, 8, Extents.HOLE | Extents.ZERO),
                new Io.Extent(8, 8, 0), new Io.Extent(16, 8, Extents.HOLE | Extents.ZERO));
        assertThat(Io.discard(submitter, store, 8, 8)).isEqualTo(BioStatus.OK);
        assertThat(Io.extents(store, 0, 24)).containsExactly(new Io.Extent(0, 24, Extents.HOLE | Extents.ZERO));
        assertThatThrownBy(() -> Io.readOk(submitter, store, store.capacitySectors(), 512))
                .hasMessageContaining("failed: INVALID");
    }
}
