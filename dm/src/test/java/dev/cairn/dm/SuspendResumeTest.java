package dev.cairn.dm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.Pattern;
import dev.cairn.testkit.Poll;
import dev.cairn.testkit.StackBuilder;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class SuspendResumeTest {
    private final HoldTargetType.Control control = new HoldTargetType.Control();

    private DeviceRegistry registry(StackBuilder stack) {
        return new DeviceRegistry(stack.submitter(), RegistryOptions.defaults()
                .withTargetTypes(TargetTypes.load().with(new HoldTargetType(control))));
    }

    /** Submits a write without waiting; its completion is counted into {@code done}. */
    private static Bio asyncWrite(StackBuilder stack, MappedDevice md, long sector, int gen, List<BioStatus> done,
            CountDownLatch latch) {
        Bio b = Bio.alloc().setDevice(md).setOp(BioOp.WRITE).setSector(sector)
                .setData(Pattern.segment(sector * 512, 4096, gen));
        b.setEndIo(x -> {
            done.add(x.status());
            latch.countDown();
        });
        stack.submitter().submit(b);
        return b;
    }

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    void heldIoIsReplayedInOrderToTheNewTable(SubmitPolicy policy) throws Exception {
        try (StackBuilder stack = StackBuilder.create(policy); DeviceRegistry dm = registry(stack)) {
            MemoryStore old = new MemoryStore("old", 1 << 20);
            MemoryStore fresh = new MemoryStore("fresh", 1 << 20);
            dm.addLeaf("old", old);
            dm.addLeaf("fresh", fresh);
            MappedDevice md = dm.create("top", "0 2048 linear old 0");
            md.suspend(SuspendMode.FLUSH);
            assertThat(md.state()).isEqualTo(DeviceState.SUSPENDED);

            int n = 60;
            List<BioStatus> done = java.util.Collections.synchronizedList(new ArrayList<>());
            CountDownLatch latch = new CountDownLatch(n);
            for (int i = 1; i <= n; i++) {
                // Half go to sector 0 in generation order: the last one must win. Crossing 4 KiB boundaries too.
                asyncWrite(stack, md, i % 2 == 0 ? 0 : 8 + 3 * i, i, done, latch);
            }
            // every write reached the closed gate and is held there: none can complete before the resume
            assertThat(Poll.until(() -> md.gateStats().heldBios() == n, Duration.ofSeconds(10))).isTrue();
            assertThat(done).isEmpty();
            assertThat(md.info().heldBios()).isEqualTo(n);

            dm.load("top", "0 1024 linear fresh 0\n1024 1024 linear fresh 1024");
            dm.resume("top");
            assertThat(latch.await(10, TimeUnit.SECONDS)).isTrue();
            assertThat(done).hasSize(n).containsOnly(BioStatus.OK);
            assertThat(md.info().heldBios()).isZero();
            Pattern.check(Io.readOk(stack.submitter(), fresh, 0, 4096), 0, n);
            for (int i = 1; i <= n; i += 2) {
                long s = 8 + 3 * i;
                // Later odd writes overlap earlier ones: check only the sectors no later write covered.
                int firstUncovered = (i + 2 <= n) ? 6 : 8;
                Pattern.check(Io.readOk(stack.submitter(), fresh, s, firstUncovered * 512), s * 512, i);
            }
            assertThat(old.allocatedBytes()).isZero();
        }
    }

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    void suspendWaitsForInFlightIo(SubmitPolicy policy) throws Exception {
        try (StackBuilder stack = StackBuilder.create(policy); DeviceRegistry dm = registry(stack)) {
            dm.addLeaf("base", new MemoryStore("base", 1 << 20));
            MappedDevice md = dm.create("top", "0 2048 hold base 0");
            control.hold(true);
            List<BioStatus> done = java.util.Collections.synchronizedList(new ArrayList<>());
            CountDownLatch latch = new CountDownLatch(1);
            asyncWrite(stack, md, 16, 7, done, latch);
            assertThat(control.heldCount()).isEqualTo(1);
            CompletableFuture<Void> suspend = CompletableFuture.runAsync(() -> {
                try {
                    md.suspend(SuspendMode.FLUSH);
                } catch (DmException e) {
                    throw new RuntimeException(e);
                }
            });
            // the suspend has closed the gate and waits for the one bio in flight (the held clone)
            assertThat(Poll.until(() -> md.gateStats().gateClosed(), Duration.ofSeconds(10))).isTrue();
            assertThat(md.gateStats().inFlightBios()).isEqualTo(1);
            assertThat(suspend).isNotDone();
            control.hold(false);
            control.release();
            suspend.get(10, TimeUnit.SECONDS);
            assertThat(done).containsExactly(BioStatus.OK);
            assertThat(md.state()).isEqualTo(DeviceState.SUSPENDED);
            md.resume();
            Pattern.check(Io.readOk(stack.submitter(), md, 16, 4096), 16 * 512, 7);
        }
    }

    @ParameterizedTest
    @EnumSource(SuspendMode.class)
    void aRequeueIsHeldUnderNoflushAndFailsUnderFlush(SuspendMode mode) throws Exception {
        try (StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK); DeviceRegistry dm = registry(stack)) {
            MemoryStore base = new MemoryStore("base", 1 << 20);
            dm.addLeaf("base", base);
            MappedDevice md = dm.create("top", "0 2048 hold base 0");
            control.hold(true);
            List<BioStatus> done = java.util.Collections.synchronizedList(new ArrayList<>());
            CountDownLatch latch = new CountDownLatch(1);
            asyncWrite(stack, md, 0, 3, done, latch);
            CompletableFuture<Void> suspend = CompletableFuture.runAsync(() -> {
                try {
                    md.suspend(mode);
                } catch (DmException e) {
                    throw new RuntimeException(e);
                }
            });
            // the requeue must find the device suspending: suspendMode is set just before the gate closes
            assertThat(Poll.until(() -> md.gateStats().gateClosed(), Duration.ofSeconds(10))).as("the suspend closed the gate").isTrue();
            control.hold(false);
            control.requeueOnEnd = true;
            control.release();
            suspend.get(10, TimeUnit.SECONDS);
            control.requeueOnEnd = false;
            if (mode == SuspendMode.NOFLUSH) {
                assertThat(done).isEmpty();
                assertThat(md.info().heldBios()).isEqualTo(1);
                md.resume();
                assertThat(latch.await(10, TimeUnit.SECONDS)).isTrue();
                assertThat(done).containsExactly(BioStatus.OK);
            } else {
                assertThat(done).containsExactly(BioStatus.IOERR);
                md.resume();
            }
            Pattern.check(Io.readOk(stack.submitter(), md, 0, 4096), 0, 3);
        }
    }

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    void aRequeueFromMapOutsideASuspendIsRetried(SubmitPolicy policy) throws Exception {
        try (StackBuilder stack = StackBuilder.create(policy); DeviceRegistry dm = registry(stack)) {
            dm.addLeaf("base", new MemoryStore("base", 1 << 20));
            MappedDevice md = dm.create("top", "0 2048 hold base 0");
            control.requeueOnMap = true;
            List<BioStatus> done = java.util.Collections.synchronizedList(new ArrayList<>());
            CountDownLatch latch = new CountDownLatch(1);
            asyncWrite(stack, md, 0, 9, done, latch);
            assertThat(Poll.until(() -> control.requeuesFromMap.get() >= 2, Duration.ofSeconds(10)))
                    .as("the requeued bio was mapped again").isTrue();
            assertThat(done).isEmpty();
            control.requeueOnMap = false;
            assertThat(latch.await(10, TimeUnit.SECONDS)).isTrue();
            assertThat(done).containsExactly(BioStatus.OK);
            Pattern.check(Io.readOk(stack.submitter(), md, 0, 4096), 0, 9);
        }
    }

    /**
     * Four threads write and verify their own regions while the main thread keeps swapping between
     * tables that map the same data differently, with both suspend modes. Every I/O must succeed, every
     * read must see the thread's last write, and every bio must complete exactly once.
     */
    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    void tableSwapsUnderConcurrentIo(SubmitPolicy policy) throws Exception {
        String[] tables = {
            "0 8192 linear base 0",
            "0 4096 linear base 0\n4096 4096 linear base 4096",
            "0 1000 delay base 0 0\n1000 7192 linear base 1000",
            "0 8192 hold base 0",
        };
        try (StackBuilder stack = StackBuilder.create(policy); DeviceRegistry dm = registry(stack)) {
            dm.addLeaf("base", new MemoryStore("base", 8192 * 512));
            MappedDevice md = dm.create("top", tables[0]);
            int threads = 4;
            long region = 8192 / threads;
            AtomicBoolean stop = new AtomicBoolean();
            AtomicInteger ios = new AtomicInteger();
            ConcurrentHashMap<String, Integer> failures = new ConcurrentHashMap<>();
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            List<Future<?>> futures = new ArrayList<>();
            try {
                for (int t = 0; t < threads; t++) {
                    long first = t * region;
                    long seed = 1000 + t;
                    futures.add(pool.submit(() -> {
                        SplittableRandom r = new SplittableRandom(seed);
                        int[] gens = new int[(int) region];
                        int gen = 0;
                        while (!stop.get()) {
                            int n = 1 + r.nextInt(64);
                            long s = r.nextLong(region - n + 1);
                            if (r.nextBoolean()) {
                                gen++;
                                BioStatus st = Io.write(stack.submitter(), md, first + s,
                                        Pattern.segment((first + s) * 512, n * 512, gen));
                                if (!st.isOk()) {
                                    failures.merge("write " + st, 1, Integer::sum);
                                }
                                for (int i = 0; i < n; i++) {
                                    gens[(int) s + i] = gen;
                                }
                            } else {
                                MemorySegment back = MemorySegment.ofArray(new byte[n * 512]);
                                BioStatus st = Io.read(stack.submitter(), md, first + s, back);
                                if (!st.isOk()) {
                                    failures.merge("read " + st, 1, Integer::sum);
                                }
                                for (int i = 0; i < n; i++) {
                                    int g = gens[(int) s + i];
                                    MemorySegment sector = back.asSlice(i * 512L, 512);
                                    boolean ok = g == 0 ? sector.mismatch(MemorySegment.ofArray(new byte[512])) == -1
                                            : Pattern.verify(sector, (first + s + i) * 512, g).isEmpty();
                                    if (!ok) {
                                        failures.merge("stale data", 1, Integer::sum);
                                    }
                                }
                            }
                            ios.incrementAndGet();
                        }
                        return null;
                    }));
                }
                SplittableRandom r = new SplittableRandom(7);
                for (int swap = 1; swap <= 40; swap++) {
                    Thread.sleep(r.nextInt(10));
                    SuspendMode mode = r.nextBoolean() ? SuspendMode.FLUSH : SuspendMode.NOFLUSH;
                    md.suspend(mode);
                    Thread.sleep(r.nextInt(3));
                    md.load(tables[swap % tables.length]);
                    md.resume();
                }
            } finally {
                stop.set(true);
                for (Future<?> f : futures) {
                    f.get(30, TimeUnit.SECONDS);
                }
                pool.shutdownNow();
            }
            assertThat(failures).isEmpty();
            assertThat(ios.get()).isGreaterThan(100);
            assertThat(md.info().eventNumber()).isEqualTo(41);
            assertThat(md.info().heldBios()).isZero();
        }
    }

    /** Issue 22 item 1: a suspend waiting for I/O held below neither blocks readers nor waits for ever. */
    @Test
    void aWaitingSuspendLetsReadersRunAndCanBeAbortedOrTimedOut() throws Exception {
        try (StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK); DeviceRegistry dm = registry(stack)) {
            dm.addLeaf("base", new MemoryStore("base", 1 << 20));
            MappedDevice low = dm.create("low", "0 2048 linear base 0");
            MappedDevice up = dm.create("up", "0 2048 linear low 0");
            low.suspend(SuspendMode.FLUSH);
            List<BioStatus> done = java.util.Collections.synchronizedList(new ArrayList<>());
            CountDownLatch latch = new CountDownLatch(1);
            asyncWrite(stack, up, 8, 5, done, latch); // in flight in up, held in low
            assertThat(low.info().heldBios()).isEqualTo(1);

            CompletableFuture<Throwable> suspend = CompletableFuture.supplyAsync(() -> {
                try {
                    up.suspend(SuspendMode.FLUSH);
                    return null;
                } catch (DmException e) {
                    return e;
                }
            });
            assertThat(Poll.until(up::isSuspendWaiting, Duration.ofSeconds(10))).isTrue();
            // Readers answer while the suspend waits (they used to wait behind it).
            assertThat(up.info().state()).isEqualTo(DeviceState.ACTIVE);
            assertThat(up.status(StatusType.TABLE).text()).isEqualTo("0 2048 linear low 0\n");
            assertThat(up.abortSuspend()).isTrue();
            assertThat(suspend.get(10, TimeUnit.SECONDS)).isInstanceOf(SuspendAbortedException.class)
                    .hasMessageContaining("cancelled while 1 I/O request was still in flight");
            assertThat(up.state()).isEqualTo(DeviceState.ACTIVE);
            assertThat(up.abortSuspend()).isFalse();

            assertThatThrownBy(() -> up.suspend(SuspendMode.FLUSH, Duration.ofMillis(100)))
                    .isInstanceOf(SuspendAbortedException.class).hasMessageContaining("timed out after PT0.1S");
            assertThat(up.state()).isEqualTo(DeviceState.ACTIVE);

            // Resuming the device below lets the write through; up then suspends normally.
            low.resume();
            assertThat(latch.await(10, TimeUnit.SECONDS)).isTrue();
            assertThat(done).containsExactly(BioStatus.OK);
            up.suspend(SuspendMode.FLUSH, Duration.ofSeconds(10));
            assertThat(up.state()).isEqualTo(DeviceState.SUSPENDED);
            up.resume();
            Pattern.check(Io.readOk(stack.submitter(), up, 8, 4096), 8 * 512, 5);
        }
    }
}
