package dev.cairn.block;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.store.MemoryStore;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import org.jetbrains.lincheck.datastructures.ModelCheckingOptions;
import org.jetbrains.lincheck.datastructures.Operation;
import org.jetbrains.lincheck.datastructures.Validate;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The bio pool under concurrency: Lincheck model checking of {@link BioSet} allocation and release
 * (every interleaving of small scenarios, bounded), and a many-thread stress of the pool with the
 * rescuer hand-off, under every policy.
 */
public class BioSetLincheckTest {

    private static Submitter quietSubmitter(String name) {
        // No watchdog: the model checker would have to schedule its thread too.
        return Submitter.create(SubmitterConfig.defaults().withName(name).withWatchdog(null, r -> { }));
    }

    /**
     * Threads that take a bio (waiting when the pool of one is empty) and give it back. Lincheck reports a
     * deadlock if a wake-up is lost, and a {@code false} result if a bio were handed to two owners at once.
     */
    public static class BlockingAllocFree {
        private final Submitter submitter = quietSubmitter("lincheck-blocking");
        private final BioSet set = submitter.newBioSet("one", 1);
        private final Set<Bio> owned = ConcurrentHashMap.newKeySet();

        @Operation
        public boolean allocUseFree() {
            Bio b = set.alloc();
            boolean exclusive = owned.add(b);
            owned.remove(b);
            b.complete();
            return exclusive;
        }

        @Operation
        public boolean tryAllocUseFree() {
            Bio b = set.tryAlloc();
            if (b == null) {
                return true; // may fail while another thread holds the bio: no result to compare
            }
            boolean exclusive = owned.add(b);
            owned.remove(b);
            b.complete();
            return exclusive;
        }

        @Validate
        public void poolIsFull() {
            if (set.available() != 1) {
                throw new AssertionError("pool has " + set.available() + " of 1 bios after every bio came back");
            }
        }
    }

    /**
     * Bios held across operations and returned by other threads. {@link BioSet#tryAlloc} may answer null while a
     * concurrent free is between claiming its slot and publishing it (the bounded queue is not linearizable
     * there), so the operations return nothing and the checks are exclusivity (inside the operations) and
     * conservation (after the run).
     */
    public static class HoldAndRelease {
        private static final int CAPACITY = 2;
        private final Submitter submitter = quietSubmitter("lincheck-hold");
        private final BioSet set = submitter.newBioSet("two", CAPACITY);
        private final ConcurrentLinkedQueue<Bio> held = new ConcurrentLinkedQueue<>();
        private final Set<Bio> owned = ConcurrentHashMap.newKeySet();

        @Operation
        public void hold() {
            Bio b = set.tryAlloc();
            if (b != null) {
                if (!owned.add(b)) {
                    throw new AssertionError("bio handed out twice: " + b);
                }
                held.add(b);
            }
        }

        @Operation
        public void release() {
            Bio b = held.poll();
            if (b != null) {
                owned.remove(b);
                b.complete();
            }
        }

        @Validate
        public void everyBioIsEitherFreeOrHeld() {
            Set<Bio> distinct = Collections.newSetFromMap(new IdentityHashMap<>());
            distinct.addAll(held);
            if (distinct.size() != held.size() || set.available() + held.size() != CAPACITY) {
                throw new AssertionError("free " + set.available() + " + held " + held.size() + " (distinct "
                        + distinct.size() + ") != capacity " + CAPACITY);
            }
        }
    }

    /**
     * Two threads wait for a bio while the two bios in use are freed concurrently; a correct pool gives each
     * waiter one. This once lost a wake-up: a free published behind a slot another free had claimed but not
     * yet published, both waiters saw an empty queue, and the second free signalled only one of them. The
     * queue now never reports "empty" while a publish is in flight, and a waiter that gets a bio passes the
     * wake-up on while bios remain. Run with real threads, many rounds, starting all four at once: Lincheck's
     * model checker reports spurious livelocks inside the JDK's own lock queue for this scenario.
     */
    @Test
    @Timeout(300)
    void twoWaitersBothGetABioWhenTwoAreFreed() throws Exception {
        try (Submitter submitter = quietSubmitter("two-waiters")) {
            for (int round = 0; round < 2_000; round++) {
                BioSet set = submitter.newBioSet("two-" + round, 2);
                Bio a = set.tryAlloc();
                Bio b = set.tryAlloc();
                java.util.concurrent.CountDownLatch start = new java.util.concurrent.CountDownLatch(1);
                java.util.concurrent.CountDownLatch got = new java.util.concurrent.CountDownLatch(2);
                List<Runnable> actions = List.of(
                        () -> { set.alloc(); got.countDown(); },
                        () -> { set.alloc(); got.countDown(); },
                        a::complete,
                        b::complete);
                for (Runnable action : actions) {
                    Thread.ofPlatform().daemon().start(() -> {
                        try {
                            start.await();
                        } catch (InterruptedException e) {
                            return;
                        }
                        action.run();
                    });
                }
                start.countDown();
                if (!got.await(10, java.util.concurrent.TimeUnit.SECONDS)) {
                    throw new AssertionError("round " + round + ": a waiter slept with " + set.available()
                            + " bio(s) in the pool");
                }
                set.close();
            }
        }
    }

    @Test
    @Timeout(300)
    void blockingAllocationNeverLosesAWakeUpNorDoublesABio() {
        new ModelCheckingOptions().threads(3).actorsPerThread(2).actorsBefore(0).actorsAfter(0)
                .iterations(12).invocationsPerIteration(200).check(BlockingAllocFree.class);
    }

    @Test
    @Timeout(300)
    void heldBiosAreConservedAcrossThreads() {
        new ModelCheckingOptions().threads(3).actorsPerThread(3).actorsBefore(1).actorsAfter(1)
                .iterations(12).invocationsPerIteration(200).check(HoldAndRelease.class);
    }

    // ---------------------------------------------------------------- stress: pool + rescuer hand-off

    /**
     * Clones every bio in two halves from a tiny set and submits both before completing the parent (the 2012
     * pattern), taking a contended mutex in between so that threads park with clones on their lists (the
     * patch's hand-off to the rescuer).
     */
    private static final class CloneDevice extends StackedTestDevice {
        final BioSet tiny;
        final IoMutex mutex;
        final AtomicLong pieces = new AtomicLong();

        CloneDevice(Submitter submitter, BlockDevice lower, BioSet tiny) {
            super("clone", submitter, lower);
            this.tiny = tiny;
            this.mutex = new IoMutex(submitter, "clone");
        }

        @Override
        public void submitBio(Bio bio) {
            int half = bio.sectors() / 2;
            Bio first = bio.clone(tiny).trim(0, half).setDevice(lower);
            first.chain(bio);
            submitter.submit(first); // parked on this thread's list until submitBio returns
            mutex.lock(); // contended: parking here hands the parked clone to the rescuer (FLUSH_ON_BLOCK)
            try {
                pieces.incrementAndGet();
            } finally {
                mutex.unlock();
            }
            Bio second = bio.clone(tiny).trim(half, bio.sectors() - half).setDevice(lower); // may find the set empty
            second.chain(bio);
            submitter.submit(second);
            bio.complete();
        }
    }

    /** Completes half the bios inline and half on other threads, after doing the I/O on a memory store. */
    private static final class MixedLeaf implements BlockDevice {
        final MemoryStore store;
        final ExecutorService completer = Executors.newFixedThreadPool(3, Thread.ofPlatform().daemon().name("leaf-", 0).factory());
        final AtomicLong bios = new AtomicLong();
        final List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());

        MixedLeaf(MemoryStore store) {
            this.store = store;
        }

        @Override
        public String name() {
            return "leaf";
        }

        @Override
        public long capacitySectors() {
            return store.capacitySectors();
        }

        @Override
        public QueueLimits limits() {
            return store.limits();
        }

        @Override
        public void submitBio(Bio bio) {
            long n = bios.incrementAndGet();
            if ((n & 1) == 0) {
                store.submitBio(bio);
                return;
            }
            completer.execute(() -> {
                try {
                    store.submitBio(bio);
                } catch (Throwable t) {
                    failures.add(t);
                }
            });
        }
    }

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    @Timeout(120)
    void manyThreadsThroughATinySetEveryBioCompletesOnceAndThePoolRefills(SubmitPolicy policy) throws Exception {
        int threads = 16;
        int perThread = 500;
        long seed = new SplittableRandom().nextLong();
        System.out.println("bio set stress seed: " + seed + " policy " + policy);
        try (Submitter submitter = Submitter.create(SubmitterConfig.defaults().withName("stress").withPolicy(policy)
                .withWatchdog(Duration.ofSeconds(20), WatchdogReport::log))) {
            MixedLeaf leaf = new MixedLeaf(new MemoryStore("mem", 4 << 20));
            BioSet tiny = submitter.newBioSet("tiny", 2);
            BioSet top = submitter.newBioSet("top", 4);
            CloneDevice device = new CloneDevice(submitter, leaf, tiny);
            AtomicIntegerArray completions = new AtomicIntegerArray(threads * perThread);
            List<Throwable> failures = Collections.synchronizedList(new ArrayList<>());
            List<Thread> workers = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int thread = t;
                workers.add(Thread.ofPlatform().name("stress-" + t).start(() -> {
                    SplittableRandom random = new SplittableRandom(seed + thread);
                    byte[] buffer = new byte[16 * 512];
                    try {
                        for (int i = 0; i < perThread; i++) {
                            int id = thread * perThread + i;
                            int sectors = 2 + random.nextInt(15);
                            Bio bio = top.alloc().setDevice(device).setOp(random.nextBoolean() ? BioOp.READ : BioOp.WRITE)
                                    .setSector(random.nextInt(8000))
                                    .setData(MemorySegment.ofArray(buffer).asSlice(0, sectors * 512L))
                                    .setEndIo(b -> completions.incrementAndGet(id));
                            BioStatus status = IoCompletion.submitAndWait(submitter, bio);
                            if (status != BioStatus.OK) {
                                throw new AssertionError("bio " + id + " ended " + status);
                            }
                        }
                    } catch (Throwable e) {
                        failures.add(e);
                    }
                }));
            }
            for (Thread w : workers) {
                w.join();
            }
            leaf.completer.shutdown();
            assertThat(failures).as("seed %d", seed).isEmpty();
            assertThat(leaf.failures).as("seed %d", seed).isEmpty();
            for (int i = 0; i < completions.length(); i++) {
                assertThat(completions.get(i)).as("completions of bio %d (seed %d)", i, seed).isEqualTo(1);
            }
            assertThat(leaf.bios.get()).isEqualTo(2L * threads * perThread);
            // a pooled bio goes back to its set just after its end-io ran, and that end-io is what woke the
            // worker: the last few may still be on their way back when the workers are done
            awaitFull(tiny);
            awaitFull(top);
            if (policy == SubmitPolicy.FLUSH_ON_BLOCK) {
                // contention on the mutex parks threads with a clone on their list: the patch hands it over
                assertThat(tiny.rescuedCount()).isPositive();
            }
        }
    }

    private static void awaitFull(BioSet set) throws InterruptedException {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
        while (set.available() != set.capacity() && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        assertThat(set.available()).as("bios back in %s", set).isEqualTo(set.capacity());
    }
}
