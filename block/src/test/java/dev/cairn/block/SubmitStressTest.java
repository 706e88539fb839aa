package dev.cairn.block;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.store.MemoryStore;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.random.RandomGenerator;
import java.util.random.RandomGeneratorFactory;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Seeded randomized stress of the submission engine: several threads drive random stacks of remapping,
 * splitting (pooled clones) and lock-taking devices over inline and asynchronous leaves. Each thread owns
 * a region and checks every read against its own model. Afterwards every top-level bio has completed
 * exactly once, every pool is full again and the watchdog said nothing.
 *
 * <p>Under FLUSH_ON_BLOCK the pools are tiny, so threads and rescuers really block on allocation: the
 * flush-on-block hook is what keeps that deadlock-free. Under LEGACY and DEPTH_FIRST the pools are large
 * (with several pools a thread blocked on one can hold parked bios of another, the case the 2012 rescuer
 * does not cover; AllocationRescueTest covers their single-pool rescue).
 *
 * <p>Set {@code -Dcairn.seed=N} to replay a run; the seed is in every failure message.
 */
class SubmitStressTest {
    private static final int THREADS = 6;
    private static final int OPS_PER_THREAD = 400;
    private static final long LEAF_BYTES = 1 << 20;

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    @Timeout(120)
    void randomStacksCompleteEveryBioExactlyOnceWithCorrectData(SubmitPolicy policy) throws Exception {
        long seed = Long.getLong("cairn.seed", System.nanoTime());
        String replay = "seed " + seed + " (replay with -Dcairn.seed=" + seed + ")";
        System.out.println("SubmitStressTest " + policy + " " + replay);
        RandomGenerator rnd = RandomGeneratorFactory.of("L64X128MixRandom").create(seed);
        List<WatchdogReport> reports = new CopyOnWriteArrayList<>();
        ExecutorService async = Executors.newFixedThreadPool(2, Thread.ofPlatform().daemon().name("async-leaf-", 0).factory());
        int poolSize = policy.flushesOnBlock() ? 6 : 512;
        try (Submitter submitter = Submitter.create(SubmitterConfig.defaults().withPolicy(policy)
                .withName("stress").withWatchdog(Duration.ofSeconds(20), reports::add))) {
            IoMutex shared = new IoMutex(submitter, "shared");
            List<BioSet> sets = new ArrayList<>();
            List<BlockDevice> stacks = new ArrayList<>();
            for (int s = 0; s < 3; s++) {
                BlockDevice dev = rnd.nextBoolean() ? new MemoryStore("mem" + s, LEAF_BYTES)
                        : new AsyncLeaf(new MemoryStore("amem" + s, LEAF_BYTES), async);
                int depth = 1 + rnd.nextInt(5);
                for (int d = 0; d < depth; d++) {
                    dev = switch (rnd.nextInt(3)) {
                        case 0 -> new Splitter(submitter, dev, 8 << rnd.nextInt(3), poolSize, sets);
                        case 1 -> new Locking(submitter, dev, shared, rnd.nextInt(4) == 0);
                        default -> new Splitter(submitter, dev, 16, poolSize, sets);
                    };
                }
                stacks.add(dev);
            }
            AtomicReference<Throwable> failure = new AtomicReference<>();
            AtomicInteger completedTwice = new AtomicInteger();
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                long threadSeed = rnd.nextLong();
                int index = t;
                threads.add(Thread.ofPlatform().name("stress-" + t).start(() -> {
                    try {
                        runThread(submitter, stacks, index, threadSeed, completedTwice);
                    } catch (Throwable e) {
                        failure.compareAndSet(null, e);
                    }
                }));
            }
            for (Thread t : threads) {
                t.join();
            }
            if (failure.get() != null) {
                throw new AssertionError(replay, failure.get());
            }
            assertThat(completedTwice).as(replay).hasValue(0);
            for (BioSet set : sets) {
                assertThat(set.available()).as("pool %s is full again, %s", set.name(), replay).isEqualTo(set.capacity());
            }
            assertThat(reports).as("watchdog, %s", replay).isEmpty();
            System.out.println("SubmitStressTest " + policy + ": " + sets.size() + " pools, "
                    + sets.stream().mapToLong(BioSet::rescuedCount).sum() + " bios rescued");
        } finally {
            async.shutdownNow();
        }
    }

    private static void runThread(Submitter submitter, List<BlockDevice> stacks, int index, long seed,
            AtomicInteger completedTwice) {
        RandomGenerator rnd = RandomGeneratorFactory.of("L64X128MixRandom").create(seed);
        long regionSectors = (LEAF_BYTES / 512) / THREADS;
        long regionStart = index * regionSectors;
        byte[][] models = new byte[stacks.size()][(int) (regionSectors * 512)];
        for (int op = 0; op < OPS_PER_THREAD; op++) {
            int s = rnd.nextInt(stacks.size());
            int sectors = 1 + rnd.nextInt(64);
            long start = rnd.nextLong(regionSectors - sectors + 1);
            MemorySegment data = MemorySegment.ofArray(new byte[sectors * 512]);
            boolean write = rnd.nextBoolean();
            if (write) {
                byte g = (byte) rnd.nextInt();
                for (int i = 0; i < sectors * 512; i++) {
                    data.set(ValueLayout.JAVA_BYTE, i, (byte) (g + i * 13));
                }
            }
            AtomicInteger ends = new AtomicInteger();
            Bio bio = Bio.alloc().setDevice(stacks.get(s)).setOp(write ? BioOp.WRITE : BioOp.READ)
                    .setSector(regionStart + start).setData(data).setEndIo(b -> {
                        if (ends.incrementAndGet() != 1) {
                            completedTwice.incrementAndGet();
                        }
                    });
            BioStatus status = IoCompletion.submitAndWait(submitter, bio);
            assertThat(status).isEqualTo(BioStatus.OK);
            MemorySegment model = MemorySegment.ofArray(models[s]).asSlice(start * 512, sectors * 512L);
            if (write) {
                model.copyFrom(data);
            } else {
                assertThat(data.mismatch(model)).as("read %d+%d of stack %d", start, sectors, s).isEqualTo(-1L);
            }
        }
    }

    /** Splits every bio at multiples of {@code chunkSectors}, one pooled clone per piece, all mapped in one call. */
    private static final class Splitter extends StackedTestDevice {
        private final int chunkSectors;
        private final BioSet set;

        Splitter(Submitter submitter, BlockDevice lower, int chunkSectors, int poolSize, List<BioSet> sets) {
            super("split", submitter, lower);
            this.chunkSectors = chunkSectors;
            this.set = submitter.newBioSet("split-" + System.identityHashCode(this), poolSize);
            sets.add(set);
        }

        @Override
        public void submitBio(Bio bio) {
            while (true) {
                long boundary = (bio.sector() / chunkSectors + 1) * chunkSectors;
                int piece = (int) Math.min(bio.sectors(), boundary - bio.sector());
                Bio clone = bio.clone(set).trim(0, piece).chain(bio).setDevice(lower);
                submitter.submit(clone);
                if (piece == bio.sectors()) {
                    bio.complete();
                    return;
                }
                bio.advance(piece * 512);
            }
        }
    }

    /** Takes a shared mutex around the remap, sometimes sleeping while holding it. */
    private static final class Locking extends StackedTestDevice {
        private final IoMutex mutex;
        private final boolean sleeps;

        Locking(Submitter submitter, BlockDevice lower, IoMutex mutex, boolean sleeps) {
            super("locking", submitter, lower);
            this.mutex = mutex;
            this.sleeps = sleeps;
        }

        @Override
        public void submitBio(Bio bio) {
            mutex.lock();
            try {
                if (sleeps) {
                    IoSleep.sleep(submitter, Duration.ofNanos(50_000));
                }
                bio.setDevice(lower);
                submitter.submit(bio);
            } finally {
                mutex.unlock();
            }
        }
    }

    /** Completes on another thread, after the wrapped store did the work. */
    private static final class AsyncLeaf extends StackedTestDevice {
        private final ExecutorService executor;

        AsyncLeaf(MemoryStore store, ExecutorService executor) {
            super("async-" + store.name(), null, store);
            this.executor = executor;
        }

        @Override
        public void submitBio(Bio bio) {
            executor.execute(() -> lower.submitBio(bio));
        }
    }
}
