package dev.cairn.block.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.InlineIo;
import dev.cairn.block.SpliceSink;
import dev.cairn.block.IoCompletion;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The inline first attempt ({@code RWF_NOWAIT} on the submitting thread) and the shared pool.
 *
 * <p>Uncached data is made by dropping the page cache for a range under the store: FLUSH (so the pages are
 * clean), then {@code posix_fadvise(DONTNEED)} on the store's descriptor. The kernel then answers the
 * {@code RWF_NOWAIT} read with {@code EAGAIN} (it starts readahead but does not wait for it), unless that
 * readahead finished first on a very fast disk: tests that need a miss retry a few times.
 */
@Timeout(120)
class FileStoreInlineTest {
    private static final int KIB = 1024;
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

    private FileStore sparse(String name, long sizeBytes, FileStoreConfig config) throws IOException {
        Path path = dir.resolve(name);
        FileStore.createSparse(path, sizeBytes);
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

    /** What one bio did: its status, the thread its end-io ran on. */
    private record Done(BioStatus status, Thread thread) {}

    private Done io(FileStore store, BioOp op, int flags, long sector, MemorySegment... data) {
        AtomicReference<Thread> thread = new AtomicReference<>();
        Bio bio = Bio.alloc().setDevice(store).setOp(op).setFlags(flags).setSector(sector)
                .setEndIo(b -> thread.set(Thread.currentThread()));
        if (data.length > 0) {
            bio.setData(data);
        }
        BioStatus status = IoCompletion.submitAndWait(submitter, bio);
        return new Done(status, thread.get());
    }

    private void dropCache(FileStore store, long offsetBytes, long lengthBytes) {
        assertThat(StoreModel.flush(submitter, store)).isEqualTo(BioStatus.OK);
        int e = Posix.fadvise(store.fd(), offsetBytes, lengthBytes, Posix.POSIX_FADV_DONTNEED);
        assertThat(e).as("posix_fadvise: " + Posix.errnoName(e)).isZero();
    }

    private static boolean isPoolThread(Thread t) {
        return t.getName().startsWith("cairn-file-io-");
    }

    // ---------------------------------------------------------------- inline completion

    @Test
    void cachedReadsCompleteOnTheSubmittingThreadForEveryKindOfMemory() throws Exception {
        FileStore store = sparse("c.img", MIB, FileStoreConfig.defaults());
        byte[] expected = data(0, 64 * KIB, 1);
        assertThat(io(store, BioOp.WRITE, 0, 0, MemorySegment.ofArray(expected)).status()).isEqualTo(BioStatus.OK);
        assertThat(store.nowaitRefused(false)).isFalse();
        // now in the page cache: the read is served where it was submitted, native and heap alike
        try (Arena arena = Arena.ofShared()) {
            MemorySegment nat = arena.allocate(64 * KIB, 4096);
            Done native1 = io(store, BioOp.READ, 0, 0, nat);
            assertThat(native1.status()).isEqualTo(BioStatus.OK);
            assertThat(native1.thread()).isSameAs(Thread.currentThread());
            assertThat(nat.toArray(ValueLayout.JAVA_BYTE)).isEqualTo(expected);

            byte[] heap = new byte[64 * KIB];
            Done heap1 = io(store, BioOp.READ, 0, 0, MemorySegment.ofArray(heap));
            assertThat(heap1.thread()).isSameAs(Thread.currentThread());
            assertThat(heap).isEqualTo(expected);

            // odd native and heap pieces, more than the inline iovecs: through the inline bounce buffer
            StoreModel mixed = new StoreModel(1, 0, 128, 1, StoreModel.Memory.MIXED);
            byte[] back = new byte[64 * KIB];
            MemorySegment[] pieces = mixed.layout(back, arena);
            Done mixed1 = io(store, BioOp.READ, 0, 0, pieces);
            assertThat(mixed1.thread()).isSameAs(Thread.currentThread());
            int at = 0;
            for (MemorySegment p : pieces) {
                MemorySegment.copy(p, 0, MemorySegment.ofArray(back), at, p.byteSize());
                at += (int) p.byteSize();
            }
            assertThat(back).isEqualTo(expected);
        }
        // from a virtual thread too (the inline scratch is the store's, not a thread-local)
        AtomicReference<Done> fromVirtual = new AtomicReference<>();
        byte[] heap = new byte[4 * KIB];
        Thread v = Thread.ofVirtual().start(() -> fromVirtual.set(io(store, BioOp.READ, 0, 8, MemorySegment.ofArray(heap))));
        v.join();
        assertThat(fromVirtual.get().thread()).isSameAs(v);
        assertThat(heap).isEqualTo(java.util.Arrays.copyOfRange(expected, 4 * KIB, 8 * KIB));
        assertThat(store.inlineCompleted.sum()).isGreaterThanOrEqualTo(4);
    }

    @Test
    void inlineMaxBytesZeroOrDirectOrLargeBiosAlwaysGoToAPoolThread() throws Exception {
        FileStore off = sparse("off.img", MIB, FileStoreConfig.defaults().withInlineMaxBytes(0));
        assertThat(io(off, BioOp.WRITE, 0, 0, MemorySegment.ofArray(new byte[4096])).thread()).matches(FileStoreInlineTest::isPoolThread);
        assertThat(io(off, BioOp.READ, 0, 0, MemorySegment.ofArray(new byte[4096])).thread()).matches(FileStoreInlineTest::isPoolThread);

        // separate limits: reads up to 16 KiB, writes up to 8 KiB
        FileStore small = sparse("small.img", MIB, FileStoreConfig.defaults().withInlineReadMaxBytes(16 * KIB)
                .withInlineWriteMaxBytes(8 * KIB));
        assertThat(io(small, BioOp.WRITE, 0, 0, MemorySegment.ofArray(data(0, 64 * KIB, 2))).thread())
                .matches(FileStoreInlineTest::isPoolThread);
        assertThat(io(small, BioOp.READ, 0, 0, MemorySegment.ofArray(new byte[32 * KIB])).thread())
                .matches(FileStoreInlineTest::isPoolThread);
        assertThat(io(small, BioOp.READ, 0, 0, MemorySegment.ofArray(new byte[16 * KIB])).thread())
                .isSameAs(Thread.currentThread());
        assertThat(onVirtualThread(() -> io(small, BioOp.WRITE, 0, 64, MemorySegment.ofArray(data(0, 16 * KIB, 3)))).thread())
                .as("a write above the write limit").matches(FileStoreInlineTest::isPoolThread);

        FileStore direct = FileStore.open(small.path(), FileStoreConfig.defaults().withDirect(true));
        toClose.add(direct);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment buf = arena.allocate(4096, 4096);
            assertThat(io(direct, BioOp.READ, 0, 0, buf).thread()).matches(FileStoreInlineTest::isPoolThread);
        }
        assertThat(off.inlineCompleted.sum() + off.inlineHandedOver.sum()).isZero();
        assertThat(direct.inlineCompleted.sum() + direct.inlineHandedOver.sum()).isZero();
    }

    @Test
    void flushFuaPreflushDiscardAndWriteZeroesNeverRunOnTheSubmittingThread() throws IOException {
        FileStore store = sparse("d.img", MIB, FileStoreConfig.defaults());
        byte[] content = data(0, 4096, 3);
        for (int flags : new int[] {BioFlags.FUA, BioFlags.PREFLUSH, BioFlags.FUA | BioFlags.PREFLUSH}) {
            Done d = io(store, BioOp.WRITE, flags, 8, MemorySegment.ofArray(content));
            assertThat(d.status()).isEqualTo(BioStatus.OK);
            assertThat(d.thread()).as(BioFlags.toString(flags)).matches(FileStoreInlineTest::isPoolThread);
        }
        assertThat(io(store, BioOp.FLUSH, 0, 0).thread()).matches(FileStoreInlineTest::isPoolThread);
        Bio discard = Bio.alloc().setDevice(store).setOp(BioOp.DISCARD).setSector(64).setSizeBytes(4096);
        AtomicReference<Thread> t = new AtomicReference<>();
        discard.setEndIo(b -> t.set(Thread.currentThread()));
        assertThat(IoCompletion.submitAndWait(submitter, discard)).isEqualTo(BioStatus.OK);
        assertThat(t.get()).matches(FileStoreInlineTest::isPoolThread);
        assertThat(store.inlineCompleted.sum() + store.inlineHandedOver.sum()).isZero();
        assertThat(StoreModel.read(submitter, store, 8, 4096)).isEqualTo(content);
    }

    @Test
    void smallWritesAreTriedInlineWhereTheFileSystemSupportsBufferedNowaitWrites() throws IOException {
        FileStore store = sparse("w.img", MIB, FileStoreConfig.defaults());
        byte[] first = data(0, 4096, 4);
        Done d = io(store, BioOp.WRITE, 0, 0, MemorySegment.ofArray(first));
        assertThat(d.status()).isEqualTo(BioStatus.OK);
        byte[] second = data(0, 4096, 5);
        Done again = io(store, BioOp.WRITE, 0, 0, MemorySegment.ofArray(second)); // the page is cached now
        System.out.println("buffered RWF_NOWAIT writes on " + dir + ": " + (store.nowaitRefused(true) ? "refused"
                : "accepted") + "; first write completed on " + d.thread().getName() + ", rewrite on "
                + again.thread().getName());
        if (store.nowaitRefused(true)) {
            // refused once (EOPNOTSUPP), remembered: no more attempts, every write goes to the pool
            assertThat(again.thread()).matches(FileStoreInlineTest::isPoolThread);
            long attempts = store.inlineHandedOver.sum();
            io(store, BioOp.WRITE, 0, 16, MemorySegment.ofArray(first));
            assertThat(store.inlineHandedOver.sum()).isEqualTo(attempts);
        } else {
            assertThat(store.inlineCompleted.sum() + store.inlineHandedOver.sum()).isGreaterThanOrEqualTo(2);
        }
        assertThat(StoreModel.read(submitter, store, 0, 4096)).isEqualTo(second);
    }

    /** Runs {@code io} on a new virtual thread and returns what it returned. */
    private Done onVirtualThread(java.util.function.Supplier<Done> io) throws InterruptedException {
        AtomicReference<Done> done = new AtomicReference<>();
        AtomicReference<Throwable> failed = new AtomicReference<>();
        Thread v = Thread.ofVirtual().start(() -> {
            try {
                done.set(io.get());
            } catch (Throwable t) {
                failed.set(t);
            }
        });
        v.join(10_000);
        assertThat(failed.get()).isNull();
        assertThat(done.get()).as("the virtual thread finished").isNotNull();
        return done.get();
    }

    /**
     * Waits until the store has no bio in flight: a bio's end-io (which wakes the test) runs just before the
     * store's own count goes down, and a write is only done inline when it is the store's only bio.
     */
    private static void awaitIdle(FileStore store) throws InterruptedException {
        await("no bio in flight").atMost(Duration.ofSeconds(10)).until(() -> store.inFlightBios() == 0);
    }

    /** Waits until exactly {@code expected} bios are in flight (the count of finished ones may lag). */
    private static void awaitInFlight(FileStore store, int expected) throws InterruptedException {
        await(expected + " bios in flight").atMost(Duration.ofSeconds(10)).until(() -> store.inFlightBios() == expected);
    }

    @Test
    void whereNowaitWritesAreRefusedSmallWritesFromVirtualThreadsAreWrittenOnThatThread() throws Exception {
        FileStore store = sparse("v.img", MIB, FileStoreConfig.defaults());
        // make sure the refusal (or support) is known first: the first write may be the probe
        assertThat(io(store, BioOp.WRITE, 0, 0, MemorySegment.ofArray(data(0, 4096, 1))).status()).isEqualTo(BioStatus.OK);
        for (MemorySegment memory : new MemorySegment[] {MemorySegment.ofArray(data(4096, 8192, 2)),
                Arena.ofAuto().allocate(8192, 4096).copyFrom(MemorySegment.ofArray(data(4096, 8192, 2)))}) {
            awaitIdle(store);
            Done d = onVirtualThread(() -> io(store, BioOp.WRITE, 0, 8, memory));
            assertThat(d.status()).isEqualTo(BioStatus.OK);
            assertThat(d.thread().isVirtual()).as("completed on the submitting virtual thread, not " + d.thread()).isTrue();
            assertThat(StoreModel.read(submitter, store, 8, 8192)).isEqualTo(data(4096, 8192, 2));
        }
        // FUA and PREFLUSH writes, writes above inlineWriteMaxBytes and writes from platform threads go to the pool
        for (int flags : new int[] {BioFlags.FUA, BioFlags.PREFLUSH}) {
            Done d = onVirtualThread(() -> io(store, BioOp.WRITE, flags, 16, MemorySegment.ofArray(data(8192, 4096, 3))));
            assertThat(d.thread()).as(BioFlags.toString(flags)).matches(FileStoreInlineTest::isPoolThread);
        }
        int large = FileStoreConfig.defaults().inlineWriteMaxBytes() * 2;
        Done big = onVirtualThread(() -> io(store, BioOp.WRITE, 0, 64, MemorySegment.ofArray(data(32768, large, 4))));
        assertThat(big.thread()).matches(FileStoreInlineTest::isPoolThread);
        assertThat(io(store, BioOp.WRITE, 0, 24, MemorySegment.ofArray(data(12288, 4096, 5))).thread())
                .matches(FileStoreInlineTest::isPoolThread);
        assertThat(StoreModel.read(submitter, store, 64, large)).isEqualTo(data(32768, large, 4));
        assertThat(StoreModel.read(submitter, store, 24, 4096)).isEqualTo(data(12288, 4096, 5));

        // with another bio of the store in flight, the pool writes (in parallel) instead: a cached READ
        // answered by reference stays in flight until its sink releases the piece
        int pinnedBytes = 256 * 1024;
        long pinnedSector = (MIB - pinnedBytes) >>> 9;
        assertThat(io(store, BioOp.WRITE, 0, pinnedSector, MemorySegment.ofArray(data(MIB - pinnedBytes, pinnedBytes, 8)))
                .status()).isEqualTo(BioStatus.OK); // now in the page cache
        awaitIdle(store);
        MemorySegment pinned = Arena.ofAuto().allocate(pinnedBytes);
        SpliceSink sink = new SpliceSink(pinned);
        Bio read = Bio.alloc().setDevice(store).setOp(BioOp.READ).setSector(pinnedSector).setData(pinned)
                .setSpliceSink(sink);
        assertThat(IoCompletion.submitAndWait(submitter, read)).isEqualTo(BioStatus.OK);
        try {
            assertThat(sink.count()).as("the read was answered by reference").isEqualTo(1);
            awaitInFlight(store, 1);
            Done busy = onVirtualThread(() -> io(store, BioOp.WRITE, 0, 32, MemorySegment.ofArray(data(16384, 4096, 7))));
            assertThat(busy.thread()).as("with another bio in flight").matches(FileStoreInlineTest::isPoolThread);
        } finally {
            sink.release();
        }
        assertThat(StoreModel.read(submitter, store, 32, 4096)).isEqualTo(data(16384, 4096, 7));

        FileStore off = sparse("v-off.img", MIB, FileStoreConfig.defaults().withInlineMaxBytes(0));
        assertThat(onVirtualThread(() -> io(off, BioOp.WRITE, 0, 0, MemorySegment.ofArray(data(0, 4096, 6)))).thread())
                .matches(FileStoreInlineTest::isPoolThread);
    }

    @Test
    void aPlatformThreadInsideInlineIoDoesItsReadsAndWritesOfAnySizeItself() throws Exception {
        FileStore store = sparse("ii.img", 4 * MIB, FileStoreConfig.defaults());
        FileStoreConfig defaults = FileStoreConfig.defaults();
        int large = Math.max(defaults.inlineReadMaxBytes(), defaults.inlineWriteMaxBytes()) * 2; // above every other inline path
        byte[] content = data(0, large, 9);
        Thread me = Thread.currentThread();
        Done w = InlineIo.call(() -> io(store, BioOp.WRITE, 0, 0, MemorySegment.ofArray(content)));
        assertThat(w.status()).isEqualTo(BioStatus.OK);
        assertThat(w.thread()).as("write inside InlineIo.call").isSameAs(me);
        byte[] back = new byte[large];
        dropCache(store, 0, large); // not cached: RWF_NOWAIT would refuse, so this is the blocking read
        Done r = InlineIo.call(() -> io(store, BioOp.READ, 0, 0, MemorySegment.ofArray(back)));
        assertThat(r.thread()).as("read inside InlineIo.call").isSameAs(me);
        assertThat(back).isEqualTo(content);
        assertThat(store.onSubmitter.sum()).isEqualTo(2);

        // FUA, PREFLUSH and FLUSH still go to the pool; so does everything outside call, and from virtual threads
        for (int flags : new int[] {BioFlags.FUA, BioFlags.PREFLUSH}) {
            Done d = InlineIo.call(() -> io(store, BioOp.WRITE, flags, 0, MemorySegment.ofArray(content)));
            assertThat(d.thread()).as(BioFlags.toString(flags)).matches(FileStoreInlineTest::isPoolThread);
        }
        assertThat(InlineIo.call(() -> io(store, BioOp.FLUSH, 0, 0)).thread()).matches(FileStoreInlineTest::isPoolThread);
        assertThat(io(store, BioOp.WRITE, 0, 0, MemorySegment.ofArray(content)).thread())
                .matches(FileStoreInlineTest::isPoolThread);
        Done fromVirtual = onVirtualThread(() -> {
            try {
                return InlineIo.call(() -> io(store, BioOp.WRITE, 0, 0, MemorySegment.ofArray(content)));
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        });
        assertThat(fromVirtual.thread()).as("a virtual thread never blocks in the store").matches(FileStoreInlineTest::isPoolThread);
        assertThat(store.onSubmitter.sum()).isEqualTo(2);
        assertThat(StoreModel.read(submitter, store, 0, large)).isEqualTo(content);
    }

    @Test
    void aConfinedBufferWrittenFromAVirtualThreadStillFailsCleanlyInThePool() throws Exception {
        FileStore store = sparse("cf.img", MIB, FileStoreConfig.defaults());
        Done d = onVirtualThread(() -> {
            try (Arena confined = Arena.ofConfined()) {
                MemorySegment seg = confined.allocate(4096, 4096);
                return io(store, BioOp.WRITE, 0, 0, seg);
            }
        });
        assertThat(d.status()).isEqualTo(BioStatus.IOERR);
        assertThat(StoreModel.read(submitter, store, 0, 4096)).isEqualTo(new byte[4096]);
    }

    /**
     * tmpfs keeps every page cached, so the inline path is taken for every small read, and for every small write
     * where the kernel accepts buffered RWF_NOWAIT writes (6.18 refuses them on tmpfs and ext4; XFS and btrfs
     * accept them). Either way the model must match; which path the writes took is asserted from the refusal flag.
     */
    @Test
    void onTmpfsSmallIoCompletesInlineWhereAcceptedAndAlwaysMatchesTheModel() throws IOException {
        Path shm = Path.of("/dev/shm");
        assertThat(shm).as("/dev/shm (tmpfs) is needed for this test").isDirectory().isWritable();
        Path path = java.nio.file.Files.createTempFile(shm, "cairn-inline", ".img");
        try {
            java.nio.file.Files.delete(path);
            FileStore.createSparse(path, 2 * MIB);
            FileStore store = FileStore.open(path, FileStoreConfig.defaults());
            toClose.add(store);
            // zeros, because the model below starts from an all-zero device
            Done d = io(store, BioOp.WRITE, 0, 0, MemorySegment.ofArray(new byte[4096]));
            boolean writesRefused = store.nowaitRefused(true);
            System.out.println("buffered RWF_NOWAIT writes on /dev/shm: " + (writesRefused ? "refused" : "accepted"));
            if (writesRefused) {
                assertThat(d.thread()).matches(FileStoreInlineTest::isPoolThread);
            } else {
                assertThat(d.thread()).isSameAs(Thread.currentThread());
            }
            long handedBefore = store.inlineHandedOver.sum();
            // each memory kind gets its own region: a model starts from an all-zero range
            StoreModel.Memory[] kinds = StoreModel.Memory.values();
            int regionSectors = (int) (store.capacitySectors() / kinds.length) & ~7;
            for (int i = 0; i < kinds.length; i++) {
                StoreModel model = new StoreModel(StoreModel.seed(), (long) i * regionSectors, regionSectors, 1, kinds[i]);
                model.run(submitter, store, 300, 256);
                model.verifyAll(submitter, store);
            }
            boolean readsRefused = store.nowaitRefused(false);
            System.out.println("buffered RWF_NOWAIT reads on /dev/shm: " + (readsRefused ? "refused" : "accepted")
                    + "; inline completions: " + store.inlineCompleted.sum());
            if (readsRefused && writesRefused) {
                // refused once each, remembered: nothing is tried inline any more, everything went through the pool
                assertThat(store.inlineCompleted.sum()).isZero();
            } else {
                // tmpfs pages are always in memory: whatever is tried inline completes there
                assertThat(store.inlineCompleted.sum()).isGreaterThan(readsRefused || writesRefused ? 100 : 500);
            }
            if (writesRefused) {
                assertThat(store.inlineHandedOver.sum()).isLessThanOrEqualTo(handedBefore + 1);
            }
            store.close();
            assertThat(java.nio.file.Files.size(path)).isEqualTo(2L * MIB);
        } finally {
            java.nio.file.Files.deleteIfExists(path);
        }
    }

    @Test
    void invalidReadsThatReachTheStoreDirectlyAreNotServedInline() throws Exception {
        FileStore store = sparse("i.img", MIB, FileStoreConfig.defaults());
        assertThat(io(store, BioOp.WRITE, 0, 0, MemorySegment.ofArray(new byte[8192])).status()).isEqualTo(BioStatus.OK);
        for (Bio bio : new Bio[] {
                Bio.alloc().setOp(BioOp.READ).setSector(0).setData(MemorySegment.ofArray(new byte[700])),
                Bio.alloc().setOp(BioOp.READ).setSector(store.capacitySectors() - 1).setData(MemorySegment.ofArray(new byte[1024]))}) {
            java.util.concurrent.CompletableFuture<BioStatus> status = new java.util.concurrent.CompletableFuture<>();
            store.submitBio(bio.setDevice(store).setEndIo(b -> status.complete(b.status()))); // bypasses the submitter's checks
            assertThat(status.get(10, java.util.concurrent.TimeUnit.SECONDS)).isEqualTo(BioStatus.INVALID);
        }
    }

    // ---------------------------------------------------------------- fallback

    @Test
    void uncachedReadsFallBackToThePoolWithTheRightData() throws IOException {
        FileStore store = sparse("u.img", 4 * MIB, FileStoreConfig.defaults());
        byte[] expected = data(0, 128 * KIB, 6);
        assertThat(io(store, BioOp.WRITE, 0, 0, MemorySegment.ofArray(expected)).status()).isEqualTo(BioStatus.OK);
        boolean sawWhole = false;
        boolean sawPartial = false;
        for (int attempt = 0; attempt < 20 && !(sawWhole && sawPartial); attempt++) {
            // the whole range uncached: EAGAIN, the pool thread reads it all
            dropCache(store, 0, 128 * KIB);
            long handed = store.inlineHandedOver.sum();
            byte[] back = new byte[128 * KIB];
            Done d = io(store, BioOp.READ, 0, 0, MemorySegment.ofArray(back));
            assertThat(d.status()).isEqualTo(BioStatus.OK);
            assertThat(back).isEqualTo(expected);
            sawWhole |= isPoolThread(d.thread()) && store.inlineHandedOver.sum() == handed + 1;

            // the first half cached, the second not: a short inline read, the rest on the pool thread
            dropCache(store, 0, 128 * KIB);
            try (Arena arena = Arena.ofShared()) {
                // read the first 64 KiB through the store (fills the cache), drop the second 64 KiB again
                io(store, BioOp.READ, 0, 0, arena.allocate(64 * KIB, 4096));
                Posix.fadvise(store.fd(), 64 * KIB, 64 * KIB, Posix.POSIX_FADV_DONTNEED);
                MemorySegment nat = arena.allocate(128 * KIB, 4096);
                handed = store.inlineHandedOver.sum();
                Done p = io(store, BioOp.READ, 0, 0, nat);
                assertThat(p.status()).isEqualTo(BioStatus.OK);
                assertThat(nat.toArray(ValueLayout.JAVA_BYTE)).isEqualTo(expected);
                sawPartial |= isPoolThread(p.thread()) && store.inlineHandedOver.sum() == handed + 1;
            }
        }
        assertThat(sawWhole).as("an uncached read was handed to the pool").isTrue();
        assertThat(sawPartial).as("a partly cached read was finished by the pool").isTrue();
    }

    // ---------------------------------------------------------------- the shared pool

    @Test
    void storesShareOnePoolWhoseThreadsDoNotGrowWithTheNumberOfStores() throws IOException {
        List<FileStore> stores = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            stores.add(sparse("s" + i + ".img", MIB, FileStoreConfig.defaults().withInlineMaxBytes(0)));
        }
        for (FileStore s : stores) {
            for (int j = 0; j < 8; j++) {
                assertThat(io(s, BioOp.WRITE, BioFlags.FUA, j * 8L, MemorySegment.ofArray(new byte[4096])).thread())
                        .matches(FileStoreInlineTest::isPoolThread);
            }
        }
        long poolThreads = Thread.getAllStackTraces().keySet().stream().filter(FileStoreInlineTest::isPoolThread).count();
        assertThat(poolThreads).isBetween(1L, (long) FileIoPool.sharedThreads());
        assertThat(Thread.getAllStackTraces().keySet()).noneMatch(t -> t.getName().startsWith("cairn-file-s"));
    }

    @Test
    void aPrivatePoolHasItsOwnNamedThreadsWhichStopAtClose() throws Exception {
        FileStore store = sparse("p.img", MIB, FileStoreConfig.defaults().withIoThreads(2));
        Done d = io(store, BioOp.WRITE, BioFlags.FUA, 0, MemorySegment.ofArray(new byte[4096]));
        assertThat(d.thread().getName()).isIn("cairn-file-p.img-1", "cairn-file-p.img-2");
        store.close();
        d.thread().join(10_000);
        assertThat(d.thread().isAlive()).isFalse();
    }

    @Test
    void concurrentMixedIoOnSeveralStoresSharingThePoolMatchesTheModel() throws Exception {
        long seed = StoreModel.seed();
        int perThread = 2048; // sectors
        int threadsPerStore = 2;
        StoreModel.Memory[] kinds = StoreModel.Memory.values();
        List<FileStore> stores = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            stores.add(sparse("m" + i + ".img", (long) threadsPerStore * perThread * 512, FileStoreConfig.defaults()));
        }
        List<StoreModel> models = new ArrayList<>();
        List<Thread> workers = new ArrayList<>();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        AtomicBoolean running = new AtomicBoolean(true);
        for (int i = 0; i < stores.size(); i++) {
            FileStore store = stores.get(i);
            for (int t = 0; t < threadsPerStore; t++) {
                int n = models.size();
                StoreModel m = new StoreModel(seed + n, (long) t * perThread, perThread, 1, kinds[n % kinds.length]);
                models.add(m);
                // half the submitters are virtual threads, as NBD connections' readers are
                Thread.Builder builder = n % 2 == 0 ? Thread.ofVirtual() : Thread.ofPlatform();
                workers.add(builder.name("model-" + n).start(() -> {
                    try {
                        m.run(submitter, store, 400, 256); // up to 128 KiB: inline-sized
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                    }
                }));
            }
        }
        // meanwhile, drop random ranges from the page cache so that reads miss, wholly or in part
        Thread dropper = Thread.ofPlatform().name("dropper").start(() -> {
            SplittableRandom random = new SplittableRandom(seed);
            while (running.get()) {
                FileStore s = stores.get(random.nextInt(stores.size()));
                Posix.fadvise(s.fd(), random.nextLong(2L * perThread * 512), random.nextInt(256 * KIB), Posix.POSIX_FADV_DONTNEED);
                Thread.onSpinWait();
            }
        });
        for (Thread w : workers) {
            w.join();
        }
        running.set(false);
        dropper.join();
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
        for (int i = 0; i < models.size(); i++) {
            models.get(i).verifyAll(submitter, stores.get(i / threadsPerStore));
        }
        long inline = stores.stream().mapToLong(s -> s.inlineCompleted.sum()).sum();
        long handed = stores.stream().mapToLong(s -> s.inlineHandedOver.sum()).sum();
        System.out.println("model run: " + inline + " bios completed inline, " + handed + " handed to the pool");
        assertThat(inline).isPositive();
    }

    @Test
    void closingOneStoreWaitsForItsOwnBiosWhileTheOthersGoOn() throws Exception {
        FileStore closing = sparse("closing.img", 8 * MIB, FileStoreConfig.defaults());
        FileStore a = sparse("a.img", MIB, FileStoreConfig.defaults());
        FileStore b = sparse("b.img", MIB, FileStoreConfig.defaults());
        long seed = StoreModel.seed();
        StoreModel ma = new StoreModel(seed, 0, 2048, 1, StoreModel.Memory.NATIVE);
        StoreModel mb = new StoreModel(seed + 1, 0, 2048, 1, StoreModel.Memory.HEAP);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Thread> others = new ArrayList<>();
        for (var pair : List.of(new Object[] {ma, a}, new Object[] {mb, b})) {
            StoreModel m = (StoreModel) pair[0];
            FileStore s = (FileStore) pair[1];
            others.add(Thread.ofPlatform().start(() -> {
                try {
                    m.run(submitter, s, 600, 64);
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                }
            }));
        }
        int n = 500;
        AtomicInteger ok = new AtomicInteger();
        AtomicInteger completions = new AtomicInteger();
        for (int i = 0; i < n; i++) {
            // FUA: never inline, so these are queued on the shared pool when close starts
            Bio bio = Bio.alloc().setDevice(closing).setOp(BioOp.WRITE).setFlags(i % 2 == 0 ? BioFlags.FUA : 0)
                    .setSector(i * 8L).setData(MemorySegment.ofArray(data(i * 4096L, 4096, 2)))
                    .setEndIo(bio1 -> {
                        completions.incrementAndGet();
                        if (bio1.status().isOk()) {
                            ok.incrementAndGet();
                        }
                    });
            submitter.submit(bio);
        }
        closing.close();
        assertThat(completions.get()).isEqualTo(n);
        assertThat(ok.get()).isEqualTo(n);
        assertThat(StoreModel.io(submitter, closing, BioOp.READ, 0, 0, MemorySegment.ofArray(new byte[512])))
                .isEqualTo(BioStatus.ABORTED);
        for (Thread t : others) {
            t.join();
        }
        if (failure.get() != null) {
            throw new AssertionError(failure.get());
        }
        ma.verifyAll(submitter, a);
        mb.verifyAll(submitter, b);
        // the pool outlives the closed store: a new one works
        FileStore later = sparse("later.img", MIB, FileStoreConfig.defaults());
        assertThat(io(later, BioOp.WRITE, BioFlags.FUA, 0, MemorySegment.ofArray(data(0, 4096, 7))).status()).isEqualTo(BioStatus.OK);
        assertThat(StoreModel.read(submitter, later, 0, 4096)).isEqualTo(data(0, 4096, 7));
        byte[] file = java.nio.file.Files.readAllBytes(closing.path());
        for (int i = 0; i < n; i++) {
            assertThat(java.util.Arrays.copyOfRange(file, i * 4096, i * 4096 + 4096)).isEqualTo(data(i * 4096L, 4096, 2));
        }
    }
}
