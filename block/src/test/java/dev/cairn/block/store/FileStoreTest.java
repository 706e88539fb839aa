package dev.cairn.block.store;

import static dev.cairn.block.store.StoreModel.HOLE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

@Timeout(120)
class FileStoreTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    private final Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
    private final List<AutoCloseable> toClose = new ArrayList<>();

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : toClose.reversed()) {
            c.close();
        }
        submitter.close();
    }

    private FileStore open(Path path, FileStoreConfig config) throws IOException {
        FileStore store = FileStore.open(path, config);
        toClose.add(store);
        return store;
    }

    private FileStore sparse(String name, long sizeBytes, FileStoreConfig config) throws IOException {
        Path path = dir.resolve(name);
        FileStore.createSparse(path, sizeBytes);
        return open(path, config);
    }

    private static byte[] data(long offsetBytes, int lengthBytes, int generation) {
        byte[] out = new byte[lengthBytes];
        for (int i = 0; i < lengthBytes; i++) {
            out[i] = StoreModel.dataByte(offsetBytes + i, generation);
        }
        return out;
    }

    // ---------------------------------------------------------------- open, create, limits

    @Test
    void capacityIsTheFileSizeAndLimitsDescribeAFileWithACache() throws IOException {
        FileStore store = sparse("a.img", 3 * MIB, FileStoreConfig.defaults());
        assertThat(store.capacitySectors()).isEqualTo(3 * MIB / 512);
        QueueLimits l = store.limits();
        assertThat(l.logicalBlockBytes()).isEqualTo(512);
        assertThat(l.physicalBlockBytes()).isEqualTo(4096);
        assertThat(l.writeCache()).isTrue();
        assertThat(l.fua()).isTrue();
        assertThat(l.supportsDiscard()).isTrue();
        assertThat(l.supportsWriteZeroes()).isTrue();
        assertThat(l.readOnly()).isFalse();
        assertThat(store.name()).isEqualTo(dir.resolve("a.img").toString());
        FileStore direct = open(dir.resolve("a.img"), FileStoreConfig.defaults().withDirect(true).withReadOnly(true));
        assertThat(direct.limits().logicalBlockBytes()).isEqualTo(4096);
        assertThat(direct.limits().readOnly()).isTrue();
    }

    @Test
    void configDefaultsAndValidation() {
        FileStoreConfig d = FileStoreConfig.defaults();
        assertThat(d.readOnly()).isFalse();
        assertThat(d.direct()).isFalse();
        assertThat(d.ioThreads()).isZero();
        assertThat(d.sharedPool()).isTrue();
        assertThat(d.inlineReadMaxBytes()).isEqualTo(1024 * 1024);
        assertThat(d.inlineWriteMaxBytes()).isEqualTo(128 * 1024);
        assertThat(d.withReadOnly(true).withDirect(true)).isEqualTo(new FileStoreConfig(true, true, 0));
        assertThat(d.withIoThreads(4).withInlineMaxBytes(0)).isEqualTo(new FileStoreConfig(false, false, 4, 0, 0));
        assertThat(d.withInlineReadMaxBytes(4096).withInlineWriteMaxBytes(512))
                .isEqualTo(new FileStoreConfig(false, false, 0, 4096, 512));
        assertThat(d.withIoThreads(4).sharedPool()).isFalse();
        assertThatThrownBy(() -> d.withIoThreads(-1))
                .hasMessage("ioThreads: -1 (expected: 0 for the shared pool, or 1..256 for a private one)");
        assertThatThrownBy(() -> d.withIoThreads(257))
                .hasMessage("ioThreads: 257 (expected: 0 for the shared pool, or 1..256 for a private one)");
        assertThatThrownBy(() -> d.withInlineReadMaxBytes(-1)).hasMessage("inlineReadMaxBytes: -1 (expected: 0..16777216)");
        assertThatThrownBy(() -> d.withInlineWriteMaxBytes((16 << 20) + 1))
                .hasMessage("inlineWriteMaxBytes: 16777217 (expected: 0..16777216)");
    }

    @Test
    void createSparseMakesOneHoleAndRefusesBadSizesAndExistingFiles() throws IOException {
        Path path = dir.resolve("s.img");
        FileStore.createSparse(path, 64 * MIB);
        assertThat(Files.size(path)).isEqualTo(64L * MIB);
        FileStore store = open(path, FileStoreConfig.defaults());
        assertThat(StoreModel.extents(store, 0, store.capacitySectors()))
                .containsExactly(new long[] {0, 64 * MIB / 512, HOLE});
        assertThatThrownBy(() -> FileStore.createSparse(path, 4096)).isInstanceOf(FileAlreadyExistsException.class);
        assertThatThrownBy(() -> FileStore.createSparse(dir.resolve("t.img"), 1000))
                .hasMessage("sizeBytes: 1000 (expected: a positive multiple of 512)");
        assertThat(dir.resolve("t.img")).doesNotExist();
    }

    @Test
    void openRefusesSizesThatAreNotWholeBlocksNamingThePath() throws IOException {
        Path odd = dir.resolve("odd.img");
        Files.write(odd, new byte[1000]);
        assertThatThrownBy(() -> FileStore.open(odd, FileStoreConfig.defaults()))
                .isInstanceOf(IOException.class)
                .hasMessage("file " + odd + ": 1000 bytes (expected: a positive multiple of 512 bytes)");
        Path empty = dir.resolve("empty.img");
        Files.write(empty, new byte[0]);
        assertThatThrownBy(() -> FileStore.open(empty, FileStoreConfig.defaults())).hasMessageContaining(empty.toString());
        Path sectors = dir.resolve("sectors.img");
        Files.write(sectors, new byte[1536]);
        assertThatThrownBy(() -> FileStore.open(sectors, FileStoreConfig.defaults().withDirect(true)))
                .hasMessage("file " + sectors + ": 1536 bytes (expected: a positive multiple of 4096 bytes with direct I/O)");
        assertThatThrownBy(() -> FileStore.open(dir.resolve("missing.img"), FileStoreConfig.defaults()))
                .isInstanceOf(NoSuchFileException.class).hasMessageContaining("missing.img");
        assertThatThrownBy(() -> FileStore.open(dir, FileStoreConfig.defaults()))
                .hasMessageContaining("a directory (expected: a regular file or a block device)");
    }

    // ---------------------------------------------------------------- against the model

    @ParameterizedTest(name = "direct={0} memory={1}")
    @CsvSource({"false,HEAP", "false,NATIVE", "false,NATIVE_PAGES", "false,NATIVE_ODD", "false,MIXED",
            "true,HEAP", "true,NATIVE", "true,NATIVE_PAGES", "true,MIXED"})
    void randomIoMatchesTheModelAndSurvivesReopening(boolean direct, StoreModel.Memory memory) throws IOException {
        FileStoreConfig config = FileStoreConfig.defaults().withDirect(direct);
        Path path = dir.resolve("r.img");
        FileStore.createSparse(path, 4 * MIB);
        FileStore store = open(path, config);
        StoreModel model = new StoreModel(StoreModel.seed(), 0, (int) store.capacitySectors(), direct ? 8 : 1, memory);
        model.run(submitter, store, 600, 512);
        model.verifyAll(submitter, store);
        assertThat(StoreModel.flush(submitter, store)).isEqualTo(BioStatus.OK);
        store.close();
        assertThat(Files.readAllBytes(path)).isEqualTo(model.bytes);
        FileStore again = open(path, config);
        model.verifyAll(submitter, again);
    }

    @Test
    void largeBiosCrossTheIovecLimitAndTheBounceBuffer() throws IOException {
        FileStore store = sparse("big.img", 16 * MIB, FileStoreConfig.defaults());
        int length = 5 * MIB + 4096;
        byte[] expected = data(MIB, length, 3);
        try (Arena arena = Arena.ofShared()) {
            // 512-byte native pieces: more than IOV_MAX (1024) iovecs
            MemorySegment[] pieces = new MemorySegment[length / 512];
            for (int i = 0; i < pieces.length; i++) {
                pieces[i] = arena.allocate(512, 512).copyFrom(MemorySegment.ofArray(expected).asSlice(i * 512L, 512));
            }
            assertThat(StoreModel.io(submitter, store, BioOp.WRITE, BioFlags.FUA, MIB / 512, pieces)).isEqualTo(BioStatus.OK);
        }
        // one heap segment: several bounce windows
        assertThat(StoreModel.read(submitter, store, MIB / 512, length)).isEqualTo(expected);
        byte[] second = data(0, length, 4);
        assertThat(StoreModel.io(submitter, store, BioOp.WRITE, 0, 0, MemorySegment.ofArray(second))).isEqualTo(BioStatus.OK);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment back = arena.allocate(length, 4096);
            assertThat(StoreModel.io(submitter, store, BioOp.READ, 0, 0, back)).isEqualTo(BioStatus.OK);
            assertThat(back.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).isEqualTo(second);
        }
    }

    // ---------------------------------------------------------------- holes, discard, write-zeroes

    @Test
    void holesFollowWritesDiscardsAndWriteZeroes() throws IOException {
        FileStore store = sparse("h.img", MIB, FileStoreConfig.defaults());
        long all = store.capacitySectors();
        assertThat(StoreModel.io(submitter, store, BioOp.WRITE, 0, 64, MemorySegment.ofArray(data(64 * 512, 65536, 1))))
                .isEqualTo(BioStatus.OK);
        assertThat(StoreModel.extents(store, 0, all)).containsExactly(
                new long[] {0, 64, HOLE}, new long[] {64, 128, 0}, new long[] {192, all - 192, HOLE});
        // a query of a sub-range starts and ends where asked
        assertThat(StoreModel.extents(store, 60, 8)).containsExactly(new long[] {60, 4, HOLE}, new long[] {64, 4, 0});

        assertThat(StoreModel.range(submitter, store, BioOp.DISCARD, 0, 64, 32)).isEqualTo(BioStatus.OK);
        assertThat(StoreModel.extents(store, 0, all)).containsExactly(
                new long[] {0, 96, HOLE}, new long[] {96, 96, 0}, new long[] {192, all - 192, HOLE});
        assertThat(StoreModel.read(submitter, store, 64, 32 * 512)).containsOnly(0);

        assertThat(StoreModel.range(submitter, store, BioOp.WRITE_ZEROES, BioFlags.NOUNMAP, 96, 32)).isEqualTo(BioStatus.OK);
        assertThat(StoreModel.read(submitter, store, 96, 32 * 512)).containsOnly(0);
        // NOUNMAP keeps the blocks allocated (ZERO_RANGE makes unwritten extents, which SEEK_DATA reports as data)
        assertThat(StoreModel.extents(store, 96, 32)).containsExactly(new long[] {96, 32, 0});

        assertThat(StoreModel.range(submitter, store, BioOp.WRITE_ZEROES, 0, 128, 64)).isEqualTo(BioStatus.OK);
        assertThat(StoreModel.extents(store, 128, 64)).containsExactly(new long[] {128, 64, HOLE});
        // a discard of part of a block zeroes exactly that part
        assertThat(StoreModel.range(submitter, store, BioOp.DISCARD, 0, 97, 1)).isEqualTo(BioStatus.OK);
        assertThat(StoreModel.read(submitter, store, 96, 4096)).containsOnly(0);
    }

    @Test
    void zeroingFallsBackToWritesWhereTheFileSystemRefusesAndFastZeroFailsInstead() throws IOException {
        Path shm = Path.of("/dev/shm");
        assumeTrue(Files.isDirectory(shm) && Files.isWritable(shm), "no /dev/shm (tmpfs) to test the fallback on");
        Path path = Files.createTempFile(shm, "cairn-filestore", ".img");
        try {
            try (RandomAccessFile f = new RandomAccessFile(path.toFile(), "rw")) {
                f.setLength(MIB);
            }
            FileStore store = open(path, FileStoreConfig.defaults());
            byte[] ones = new byte[65536];
            java.util.Arrays.fill(ones, (byte) 1);
            assertThat(StoreModel.io(submitter, store, BioOp.WRITE, 0, 0, MemorySegment.ofArray(ones))).isEqualTo(BioStatus.OK);
            // tmpfs punches holes but has no ZERO_RANGE: NOUNMAP zeroes by writing, FAST_ZERO refuses to
            assertThat(StoreModel.range(submitter, store, BioOp.WRITE_ZEROES, BioFlags.NOUNMAP | BioFlags.FAST_ZERO, 0, 8))
                    .isIn(BioStatus.NOTSUPP, BioStatus.OK);
            assertThat(StoreModel.range(submitter, store, BioOp.WRITE_ZEROES, BioFlags.NOUNMAP, 0, 64)).isEqualTo(BioStatus.OK);
            assertThat(StoreModel.read(submitter, store, 0, 32768)).containsOnly(0);
            assertThat(StoreModel.range(submitter, store, BioOp.DISCARD, 0, 64, 64)).isEqualTo(BioStatus.OK);
            assertThat(StoreModel.read(submitter, store, 0, 65536)).containsOnly(0);
        } finally {
            Files.deleteIfExists(path);
        }
    }

    // ---------------------------------------------------------------- refusals

    @Test
    void outOfRangeAndMisalignedIoIsInvalidAndWritesNothing() throws IOException {
        FileStore store = sparse("i.img", MIB, FileStoreConfig.defaults());
        long end = store.capacitySectors();
        MemorySegment sector = MemorySegment.ofArray(data(0, 512, 1));
        assertThat(StoreModel.io(submitter, store, BioOp.WRITE, 0, end, sector)).isEqualTo(BioStatus.INVALID);
        assertThat(StoreModel.io(submitter, store, BioOp.WRITE, 0, end - 1, MemorySegment.ofArray(new byte[1024])))
                .isEqualTo(BioStatus.INVALID);
        assertThat(StoreModel.io(submitter, store, BioOp.WRITE, 0, 0, MemorySegment.ofArray(new byte[700])))
                .isEqualTo(BioStatus.INVALID);
        assertThat(StoreModel.range(submitter, store, BioOp.DISCARD, 0, end - 2, 4)).isEqualTo(BioStatus.INVALID);
        assertThat(StoreModel.io(submitter, store, BioOp.READ, 0, end, MemorySegment.ofArray(new byte[512])))
                .isEqualTo(BioStatus.INVALID);
        // the store checks too, for a bio that reaches it without the submitter's checks
        assertThat(direct(store, Bio.alloc().setOp(BioOp.WRITE).setSector(end - 1).setData(MemorySegment.ofArray(new byte[1024]))))
                .isEqualTo(BioStatus.INVALID);
        assertThat(direct(store, Bio.alloc().setOp(BioOp.WRITE_ZEROES).setSector(end).setSizeBytes(512)))
                .isEqualTo(BioStatus.INVALID);
        assertThat(StoreModel.flush(submitter, store)).isEqualTo(BioStatus.OK);
        assertThat(Files.readAllBytes(store.path())).containsOnly(0);
        assertThat(StoreModel.extents(store, 0, end)).containsExactly(new long[] {0, end, HOLE});

        FileStore direct = open(store.path(), FileStoreConfig.defaults().withDirect(true));
        assertThat(StoreModel.io(submitter, direct, BioOp.WRITE, 0, 1, MemorySegment.ofArray(new byte[4096])))
                .isEqualTo(BioStatus.INVALID);
        assertThat(StoreModel.io(submitter, direct, BioOp.WRITE, 0, 0, MemorySegment.ofArray(new byte[512])))
                .isEqualTo(BioStatus.INVALID);
        assertThat(direct(direct, Bio.alloc().setOp(BioOp.WRITE).setSector(8).setData(MemorySegment.ofArray(new byte[512]))))
                .isEqualTo(BioStatus.INVALID);
        assertThat(Files.readAllBytes(store.path())).containsOnly(0);
    }

    /**
     * Issue 22 item 7: after the image of a live device was truncated from 64 to 16 MiB, reads past 16 MiB
     * failed (right) but the extents called that range a hole of zeros, so nbdcopy copied zeros for it and
     * exited 0. Past the file's real end the store now answers data.
     */
    @Test
    void extentsNeverClaimZerosPastATruncatedEnd() throws IOException {
        FileStore store = sparse("t.img", 4 * MIB, FileStoreConfig.defaults());
        long all = store.capacitySectors();
        assertThat(StoreModel.io(submitter, store, BioOp.WRITE, 0, 0, MemorySegment.ofArray(data(0, 4096, 1))))
                .isEqualTo(BioStatus.OK);
        try (RandomAccessFile f = new RandomAccessFile(store.path().toFile(), "rw")) {
            f.setLength(MIB);
        }
        long end = MIB / 512;
        assertThat(StoreModel.io(submitter, store, BioOp.READ, 0, end, MemorySegment.ofArray(new byte[4096])))
                .as("a read past the file's new end fails").isEqualTo(BioStatus.IOERR);
        assertThat(StoreModel.extents(store, 0, all)).containsExactly(
                new long[] {0, 8, 0}, new long[] {8, end - 8, HOLE}, new long[] {end, all - end, 0});
        assertThat(StoreModel.extents(store, end + 8, 64)).containsExactly(new long[] {end + 8, 64, 0});
        // A file that ends inside a sector: that sector is data, not zeros.
        try (RandomAccessFile f = new RandomAccessFile(store.path().toFile(), "rw")) {
            f.setLength(MIB - 100);
        }
        assertThat(StoreModel.extents(store, 8, all - 8)).containsExactly(
                new long[] {8, end - 9, HOLE}, new long[] {end - 1, all - end + 1, 0});
    }

    @Test
    void readOnlyRefusesEveryWriteWithPerm() throws IOException {
        Path path = dir.resolve("ro.img");
        byte[] content = data(0, MIB, 9);
        Files.write(path, content);
        FileStore store = open(path, FileStoreConfig.defaults().withReadOnly(true));
        assertThat(StoreModel.io(submitter, store, BioOp.WRITE, 0, 0, MemorySegment.ofArray(new byte[512])))
                .isEqualTo(BioStatus.PERM);
        assertThat(StoreModel.range(submitter, store, BioOp.DISCARD, 0, 0, 8)).isEqualTo(BioStatus.PERM);
        assertThat(StoreModel.range(submitter, store, BioOp.WRITE_ZEROES, 0, 0, 8)).isEqualTo(BioStatus.PERM);
        assertThat(direct(store, Bio.alloc().setOp(BioOp.WRITE).setSector(0).setData(MemorySegment.ofArray(new byte[512]))))
                .isEqualTo(BioStatus.PERM);
        assertThat(StoreModel.read(submitter, store, 0, MIB)).isEqualTo(content);
        assertThat(StoreModel.flush(submitter, store)).isEqualTo(BioStatus.OK);
        assertThat(Files.readAllBytes(path)).isEqualTo(content);
    }

    @Test
    void aFileThatShrinksUnderTheStoreGivesIoErrors() throws IOException {
        FileStore store = sparse("shrink.img", MIB, FileStoreConfig.defaults());
        try (RandomAccessFile f = new RandomAccessFile(store.path().toFile(), "rw")) {
            f.setLength(MIB / 2);
        }
        assertThat(StoreModel.io(submitter, store, BioOp.READ, 0, 1536, MemorySegment.ofArray(new byte[4096])))
                .isEqualTo(BioStatus.IOERR);
        assertThat(StoreModel.io(submitter, store, BioOp.READ, 0, 0, MemorySegment.ofArray(new byte[4096])))
                .isEqualTo(BioStatus.OK);
    }

    @Test
    void memoryTheStoreThreadsMayNotTouchFailsTheBioInsteadOfReachingTheKernel() throws IOException {
        FileStore store = sparse("conf.img", MIB, FileStoreConfig.defaults());
        try (Arena confined = Arena.ofConfined()) {
            MemorySegment mine = confined.allocate(4096, 4096);
            assertThat(StoreModel.io(submitter, store, BioOp.WRITE, 0, 0, mine)).isEqualTo(BioStatus.IOERR);
            assertThat(StoreModel.io(submitter, store, BioOp.READ, 0, 0, mine)).isEqualTo(BioStatus.IOERR);
        }
        assertThat(StoreModel.extents(store, 0, 8)).containsExactly(new long[] {0, 8, HOLE});
    }

    /** Calls {@code submitBio} directly, bypassing the submitter's checks, and waits. */
    private static BioStatus direct(FileStore store, Bio bio) {
        CountDownLatch done = new CountDownLatch(1);
        AtomicReference<BioStatus> status = new AtomicReference<>();
        bio.setDevice(store).setEndIo(b -> {
            status.set(b.status());
            done.countDown();
        });
        store.submitBio(bio);
        try {
            assertThat(done.await(10, TimeUnit.SECONDS)).isTrue();
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
        return status.get();
    }

    // ---------------------------------------------------------------- completion and threads

    @Test
    void withoutInlineAttemptsCompletesOnItsOwnNamedThreadsNeverTheSubmittingOne() throws IOException {
        FileStore store = sparse("t.img", MIB, FileStoreConfig.defaults().withIoThreads(2).withInlineMaxBytes(0));
        for (BioOp op : new BioOp[] {BioOp.READ, BioOp.WRITE, BioOp.FLUSH, BioOp.DISCARD, BioOp.WRITE_ZEROES}) {
            AtomicReference<Thread> thread = new AtomicReference<>();
            Bio bio = Bio.alloc().setDevice(store).setOp(op).setEndIo(b -> thread.set(Thread.currentThread()));
            if (op.hasData()) {
                bio.setData(MemorySegment.ofArray(new byte[4096]));
            } else if (op != BioOp.FLUSH) {
                bio.setSizeBytes(4096);
            }
            assertThat(dev.cairn.block.IoCompletion.submitAndWait(submitter, bio)).isEqualTo(BioStatus.OK);
            assertThat(thread.get()).isNotSameAs(Thread.currentThread());
            assertThat(thread.get().getName()).isIn("cairn-file-t.img-1", "cairn-file-t.img-2");
        }
    }

    @Test
    void closeWaitsForQueuedIoThenLaterBiosAreAborted() throws IOException {
        FileStore store = sparse("c.img", 8 * MIB, FileStoreConfig.defaults().withIoThreads(2));
        int n = 500;
        AtomicInteger ok = new AtomicInteger();
        AtomicInteger completions = new AtomicInteger();
        for (int i = 0; i < n; i++) {
            Bio bio = Bio.alloc().setDevice(store).setOp(BioOp.WRITE).setSector(i * 8L)
                    .setData(MemorySegment.ofArray(data(i * 4096L, 4096, 2)))
                    .setEndIo(b -> {
                        completions.incrementAndGet();
                        if (b.status().isOk()) {
                            ok.incrementAndGet();
                        }
                    });
            submitter.submit(bio);
        }
        store.close();
        assertThat(completions.get()).isEqualTo(n);
        assertThat(ok.get()).isEqualTo(n);
        assertThat(StoreModel.io(submitter, store, BioOp.READ, 0, 0, MemorySegment.ofArray(new byte[512])))
                .isEqualTo(BioStatus.ABORTED);
        assertThat(StoreModel.extents(store, 0, 8)).containsExactly(new long[] {0, 8, 0});
        store.close(); // idempotent
        byte[] file = Files.readAllBytes(store.path());
        for (int i = 0; i < n; i++) {
            assertThat(java.util.Arrays.copyOfRange(file, i * 4096, i * 4096 + 4096)).isEqualTo(data(i * 4096L, 4096, 2));
        }
    }

    @Test
    void concurrentRandomIoFromManyThreadsOnDisjointRanges() throws Exception {
        int threads = 8;
        int perThread = 1024; // sectors
        FileStore store = sparse("m.img", (long) threads * perThread * 512, FileStoreConfig.defaults().withIoThreads(3));
        long seed = StoreModel.seed();
        List<StoreModel> models = new ArrayList<>();
        List<Thread> workers = new ArrayList<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        StoreModel.Memory[] kinds = StoreModel.Memory.values();
        for (int t = 0; t < threads; t++) {
            StoreModel m = new StoreModel(seed + t, (long) t * perThread, perThread, 1, kinds[t % kinds.length]);
            models.add(m);
            workers.add(Thread.ofPlatform().name("stress-" + t).start(() -> {
                try {
                    m.run(submitter, store, 400, 64);
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
