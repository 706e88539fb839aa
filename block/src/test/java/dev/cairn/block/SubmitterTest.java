package dev.cairn.block;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.store.MemoryStore;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class SubmitterTest {

    /** Remaps every bio to {@code lower} at the same sector, recording the order of dispatch. */
    private static final class Remap extends StackedTestDevice {
        final List<String> log;

        Remap(String name, Submitter submitter, BlockDevice lower, List<String> log) {
            super(name, submitter, lower);
            this.log = log;
        }

        @Override
        public void submitBio(Bio bio) {
            if (log != null) {
                log.add(name() + "@" + bio.sector());
            }
            bio.setDevice(lower);
            submitter.submit(bio);
        }
    }

    /** Fans every bio out as two unpooled halves to {@code lower}. */
    private static final class Fan extends StackedTestDevice {
        final List<String> log;

        Fan(Submitter submitter, BlockDevice lower, List<String> log) {
            super("fan", submitter, lower);
            this.log = log;
        }

        @Override
        public void submitBio(Bio bio) {
            log.add("fan@" + bio.sector());
            int half = bio.sectors() / 2;
            Bio a = bio.clone(null).trim(0, half).chain(bio).setDevice(lower);
            Bio b = bio.clone(null).trim(half, half).chain(bio).setDevice(lower);
            submitter.submit(a);
            submitter.submit(b);
            bio.complete();
        }
    }

    private static final class Recorder implements BlockDevice {
        final List<String> log;
        final long capacity;
        QueueLimits limits = QueueLimits.defaults();

        Recorder(List<String> log, long capacity) {
            this.log = log;
            this.capacity = capacity;
        }

        @Override
        public String name() {
            return "leaf";
        }

        @Override
        public long capacitySectors() {
            return capacity;
        }

        @Override
        public QueueLimits limits() {
            return limits;
        }

        @Override
        public void submitBio(Bio bio) {
            log.add("leaf@" + bio.sector() + "+" + bio.sectors());
            bio.complete();
        }
    }

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    void aStackOfThousandsOfLayersRunsWithoutRecursion(SubmitPolicy policy) {
        try (Submitter submitter = Submitter.create(policy)) {
            BlockDevice dev = new MemoryStore("leaf", 1 << 16);
            for (int i = 0; i < 20_000; i++) {
                dev = new Remap("r" + i, submitter, dev, null);
            }
            Bio bio = Bio.alloc().setDevice(dev).setOp(BioOp.WRITE).setData(MemorySegment.ofArray(new byte[512]));
            assertThat(IoCompletion.submitAndWait(submitter, bio)).isEqualTo(BioStatus.OK);
        }
    }

    @Test
    void fifoPoliciesRunSiblingsBeforeChildren() {
        List<String> log = dispatchOrder(SubmitPolicy.FLUSH_ON_BLOCK);
        assertThat(log).containsExactly("fan@0", "mid@0", "mid@4", "leaf@0+4", "leaf@4+4");
        assertThat(dispatchOrder(SubmitPolicy.LEGACY)).isEqualTo(log);
    }

    @Test
    void depthFirstRunsLowerDevicesFirst() {
        assertThat(dispatchOrder(SubmitPolicy.DEPTH_FIRST))
                .containsExactly("fan@0", "mid@0", "leaf@0+4", "mid@4", "leaf@4+4");
    }

    private static List<String> dispatchOrder(SubmitPolicy policy) {
        List<String> log = Collections.synchronizedList(new ArrayList<>());
        try (Submitter submitter = Submitter.create(policy)) {
            Recorder leaf = new Recorder(log, 1024);
            Remap mid = new Remap("mid", submitter, leaf, log);
            Fan fan = new Fan(submitter, mid, log);
            Bio bio = Bio.alloc().setDevice(fan).setOp(BioOp.READ).setData(MemorySegment.ofArray(new byte[4096]));
            assertThat(IoCompletion.submitAndWait(submitter, bio)).isEqualTo(BioStatus.OK);
        }
        return log;
    }

    @Test
    void theSubmitterChecksEveryHopBeforeTheDeviceSeesTheBio() {
        List<String> log = new ArrayList<>();
        try (Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK)) {
            Recorder leaf = new Recorder(log, 100);
            MemorySegment page = MemorySegment.ofArray(new byte[4096]);
            assertThat(run(submitter, Bio.alloc().setDevice(leaf).setOp(BioOp.WRITE).setSector(96).setData(page)))
                    .as("past the end").isEqualTo(BioStatus.INVALID);
            assertThat(run(submitter, Bio.alloc().setDevice(leaf).setOp(BioOp.READ).setSector(Long.MAX_VALUE / 2)
                    .setData(page))).as("far past the end").isEqualTo(BioStatus.INVALID);
            assertThat(run(submitter, Bio.alloc().setDevice(leaf).setOp(BioOp.FLUSH).setSizeBytes(512)))
                    .as("flush with a range").isEqualTo(BioStatus.INVALID);
            leaf.limits = QueueLimits.defaults().withReadOnly(true);
            assertThat(run(submitter, Bio.alloc().setDevice(leaf).setOp(BioOp.WRITE).setData(page)))
                    .isEqualTo(BioStatus.PERM);
            leaf.limits = QueueLimits.defaults().withDiscard(0, 0).withWriteZeroes(0);
            assertThat(run(submitter, Bio.alloc().setDevice(leaf).setOp(BioOp.DISCARD).setSizeBytes(4096)))
                    .isEqualTo(BioStatus.NOTSUPP);
            assertThat(run(submitter, Bio.alloc().setDevice(leaf).setOp(BioOp.WRITE_ZEROES).setSizeBytes(4096)))
                    .isEqualTo(BioStatus.NOTSUPP);
            leaf.limits = new QueueLimits(4096, 4096, 0, 4096, 1 << 20, 1 << 20, true, true, false);
            assertThat(run(submitter, Bio.alloc().setDevice(leaf).setOp(BioOp.WRITE).setSector(1).setData(page)))
                    .as("misaligned to the logical block").isEqualTo(BioStatus.INVALID);
            leaf.limits = QueueLimits.defaults().withCache(false, false);
            assertThat(run(submitter, Bio.alloc().setDevice(leaf).setOp(BioOp.FLUSH))).isEqualTo(BioStatus.OK);
        }
        assertThat(log).as("no bad bio reached the device; a flush of a cacheless device completes at once").isEmpty();
    }

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    void bioLargerThanTheDeviceLimitIsSplitBeforeTheDeviceSeesIt(SubmitPolicy policy) {
        List<String> log = new ArrayList<>();
        try (Submitter submitter = Submitter.create(policy)) {
            Recorder leaf = new Recorder(log, 1024);
            leaf.limits = QueueLimits.defaults().withMaxSectors(8);
            Bio bio = Bio.alloc().setDevice(leaf).setOp(BioOp.WRITE).setSector(3)
                    .setData(MemorySegment.ofArray(new byte[20 * 512]));
            assertThat(run(submitter, bio)).isEqualTo(BioStatus.OK);
        }
        assertThat(log).containsExactly("leaf@3+8", "leaf@11+8", "leaf@19+4");
    }

    private static BioStatus run(Submitter submitter, Bio bio) {
        return IoCompletion.submitAndWait(submitter, bio);
    }

    @Test
    @Timeout(20)
    void shutdownAbortsWaitersInEveryPrimitive() throws Exception {
        Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
        IoMutex mutex = new IoMutex(submitter, "m");
        IoRwSemaphore rw = new IoRwSemaphore(submitter, "rw");
        IoCompletion never = new IoCompletion(submitter, "never");
        BioSet set = submitter.newBioSet("one", 1);
        Bio held = set.alloc();
        mutex.lock();
        rw.lockWrite();
        List<Runnable> waits = List.of(mutex::lock, rw::lockRead, never::await, set::alloc,
                () -> IoSleep.sleep(submitter, Duration.ofHours(1)),
                () -> IoSleep.until(submitter, () -> false, Duration.ofMillis(1), "never"));
        CountDownLatch started = new CountDownLatch(waits.size());
        List<AtomicReference<Throwable>> errors = new ArrayList<>();
        List<Thread> threads = new ArrayList<>();
        for (Runnable w : waits) {
            AtomicReference<Throwable> error = new AtomicReference<>();
            errors.add(error);
            threads.add(Thread.ofPlatform().start(() -> {
                started.countDown();
                try {
                    w.run();
                } catch (Throwable t) {
                    error.set(t);
                }
            }));
        }
        assertThat(started.await(5, TimeUnit.SECONDS)).isTrue();
        while (submitter.parkedThreads().size() < waits.size()) {
            Thread.sleep(5);
        }
        submitter.shutdown();
        for (Thread t : threads) {
            t.join(5000);
            assertThat(t.isAlive()).isFalse();
        }
        assertThat(errors).allSatisfy(e -> assertThat(e.get()).isInstanceOf(IoAbortedException.class));
        assertThatThrownBy(never::await).isInstanceOf(IoAbortedException.class);
        held.complete();
    }

    @Test
    @Timeout(20)
    void aPollingSleepIsOneWaitForTheWatchdogAndEndsWhenItsConditionHolds() throws Exception {
        List<WatchdogReport> reports = new java.util.concurrent.CopyOnWriteArrayList<>();
        try (Submitter submitter = Submitter.create(SubmitterConfig.defaults().withName("until")
                .withWatchdog(Duration.ofMillis(200), reports::add))) {
            java.util.concurrent.atomic.AtomicBoolean done = new java.util.concurrent.atomic.AtomicBoolean();
            Thread waiter = Thread.ofPlatform().name("poller").start(() ->
                    IoSleep.until(submitter, done::get, Duration.ofMillis(1), "the flag is set"));
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (reports.stream().noneMatch(r -> !r.threads().isEmpty()) && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertThat(reports.stream().flatMap(r -> r.threads().stream()))
                    .anySatisfy(t -> {
                        assertThat(t.thread()).isEqualTo("poller");
                        assertThat(t.waitingIn()).isEqualTo("sleep-wait until the flag is set");
                    });
            done.set(true);
            waiter.join(5000);
            assertThat(waiter.isAlive()).isFalse();
            assertThat(submitter.parkedThreads()).isEmpty();
        }
    }

    @Test
    void plugCallbacksRunWhenTheScopeEndsAndWhenTheThreadIsAboutToBlock() throws Exception {
        try (Submitter submitter = Submitter.create(SubmitPolicy.LEGACY)) {
            List<Boolean> calls = new ArrayList<>();
            Plug.Callback cb = calls::add;
            assertThat(Plug.addCallback(cb)).as("no plug, no callback").isFalse();
            try (Plug outer = Plug.start()) {
                try (Plug inner = Plug.start()) {
                    assertThat(Plug.addCallback(cb)).isTrue();
                    assertThat(Plug.addCallback(cb)).isTrue();
                }
                assertThat(calls).as("a nested scope does not flush").isEmpty();
                IoSleep.sleep(submitter, Duration.ofMillis(1));
                assertThat(calls).containsExactly(true);
                Plug.addCallback(cb);
            }
            assertThat(calls).containsExactly(true, false);
            assertThat(Plug.isPlugged()).isFalse();
        }
    }

    @Test
    void policiesParseTheirConfigurationSpelling() {
        for (SubmitPolicy p : SubmitPolicy.values()) {
            assertThat(SubmitPolicy.parse(p.configName())).isEqualTo(p);
        }
        assertThat(SubmitPolicy.parse("FLUSH_ON_BLOCK")).isEqualTo(SubmitPolicy.FLUSH_ON_BLOCK);
        assertThatThrownBy(() -> SubmitPolicy.parse("fast"))
                .hasMessage("submit policy: fast (expected: legacy, flush-on-block or depth-first)");
    }
}
