package dev.cairn.dm.targets.delay;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.dm.DeviceRegistry;
import dev.cairn.dm.FakeClock;
import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.RecordingDevice;
import dev.cairn.dm.RegistryOptions;
import dev.cairn.dm.StatusType;
import dev.cairn.dm.SuspendMode;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.ModelDevice;
import dev.cairn.testkit.Pattern;
import dev.cairn.testkit.Poll;
import dev.cairn.testkit.RandomIo;
import dev.cairn.testkit.StackBuilder;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class DelayTargetTest {
    private final FakeClock clock = new FakeClock();

    private DeviceRegistry registry(StackBuilder stack) {
        return new DeviceRegistry(stack.submitter(), RegistryOptions.defaults().withClock(clock));
    }

    private static CompletableFuture<BioStatus> asyncWrite(StackBuilder stack, MappedDevice md, long sector, int gen) {
        CompletableFuture<BioStatus> f = new CompletableFuture<>();
        Bio b = Bio.alloc().setDevice(md).setOp(BioOp.WRITE).setSector(sector).setData(Pattern.segment(sector * 512, 4096, gen));
        b.setEndIo(x -> f.complete(x.status()));
        long t0 = System.nanoTime();
        stack.submitter().submit(b);
        // map() queues the bio and returns: submitting a delayed write never waits for the delay.
        assertThat(System.nanoTime() - t0).isLessThan(TimeUnit.SECONDS.toNanos(1));
        return f;
    }

    /**
     * Waits until the scheduler has scanned its queue against the clock as it is now, and submitted what was
     * due: it reads the clock once per scan and parks only after submitting, so the second read from now on
     * (nothing else reads the clock meanwhile: no bio is being mapped) comes after a whole scan.
     */
    private void awaitSchedulerScan() throws InterruptedException {
        long reads = clock.reads();
        assertThat(Poll.until(() -> clock.reads() >= reads + 2, Duration.ofSeconds(10))).as("the scheduler scanned").isTrue();
    }

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    void biosWaitForTheInjectedClock(SubmitPolicy policy) throws Exception {
        try (StackBuilder stack = StackBuilder.create(policy); DeviceRegistry dm = registry(stack)) {
            MemoryStore lower = new MemoryStore("lower", 1 << 20);
            dm.addLeaf("lower", lower);
            MappedDevice md = dm.create("d", "0 1024 delay lower 0 1000");
            CompletableFuture<BioStatus> w = asyncWrite(stack, md, 8, 1);
            awaitSchedulerScan();
            assertThat(w).isNotDone();
            assertThat(dm.status("d", StatusType.INFO).text()).isEqualTo("0 1024 delay 0 1 0\n");
            assertThat(lower.allocatedBytes()).isZero();
            clock.advance(Duration.ofMillis(999));
            awaitSchedulerScan();
            assertThat(w).isNotDone();
            assertThat(dm.status("d", StatusType.INFO).text()).as("still queued").isEqualTo("0 1024 delay 0 1 0\n");
            clock.advance(Duration.ofMillis(1));
            assertThat(w.get(5, TimeUnit.SECONDS)).isEqualTo(BioStatus.OK);
            assertThat(dm.status("d", StatusType.INFO).text()).isEqualTo("0 1024 delay 0 0 0\n");
            Pattern.check(Io.readOk(stack.submitter(), lower, 8, 4096), 8 * 512, 1);
        }
    }

    @Test
    void readsWritesAndFlushesGoToTheirOwnClasses() throws Exception {
        try (StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK); DeviceRegistry dm = registry(stack)) {
            RecordingDevice r = new RecordingDevice("r", 1 << 20);
            RecordingDevice w = new RecordingDevice("w", 1 << 20);
            RecordingDevice f = new RecordingDevice("f", 1 << 20);
            dm.addLeaf("r", r);
            dm.addLeaf("w", w);
            dm.addLeaf("f", f);
            MappedDevice md = dm.create("d", "0 64 delay r 100 0 w 200 0 f 300 0");
            Io.readOk(stack.submitter(), md, 1, 512);
            assertThat(Io.write(stack.submitter(), md, 2, Pattern.segment(1024, 512, 1), BioFlags.PREFLUSH))
                    .isEqualTo(BioStatus.OK);
            assertThat(r.seen()).containsExactly(new RecordingDevice.Seen("r", BioOp.READ, 0, 101, 1));
            assertThat(f.seen()).extracting(RecordingDevice.Seen::op).containsExactly(BioOp.FLUSH);
            assertThat(w.seen()).containsExactly(new RecordingDevice.Seen("w", BioOp.WRITE, 0, 202, 1));

            dm.load("d", "0 64 delay r 100 0 w 200 0");
            dm.resume("d");
            r.clear();
            w.clear();
            f.clear();
            assertThat(Io.flush(stack.submitter(), md)).isEqualTo(BioStatus.OK);
            assertThat(w.seen()).extracting(RecordingDevice.Seen::op).containsExactly(BioOp.FLUSH); // 6 args: flushes use the write class
            assertThat(r.seen()).isEmpty();
            assertThat(f.seen()).isEmpty();
        }
    }

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    void suspendReleasesQueuedBiosAndResumeDelaysAgain(SubmitPolicy policy) throws Exception {
        try (StackBuilder stack = StackBuilder.create(policy); DeviceRegistry dm = registry(stack)) {
            dm.addLeaf("lower", new MemoryStore("lower", 1 << 20));
            MappedDevice md = dm.create("d", "0 1024 delay lower 0 3600000");
            CompletableFuture<BioStatus> w = asyncWrite(stack, md, 0, 1);
            assertThat(w).isNotDone();
            md.suspend(SuspendMode.FLUSH);
            assertThat(w.getNow(null)).isEqualTo(BioStatus.OK);
            md.resume();
            CompletableFuture<BioStatus> w2 = asyncWrite(stack, md, 0, 2);
            awaitSchedulerScan();
            assertThat(w2).isNotDone();
            assertThat(dm.status("d", StatusType.INFO).text()).as("queued again").isEqualTo("0 1024 delay 0 1 0\n");
            clock.advance(Duration.ofHours(1));
            assertThat(w2.get(5, TimeUnit.SECONDS)).isEqualTo(BioStatus.OK);
        }
    }

    @ParameterizedTest
    @EnumSource(SubmitPolicy.class)
    void randomIoThroughRealDelaysEqualsTheModel(SubmitPolicy policy) throws Exception {
        try (StackBuilder stack = StackBuilder.create(policy);
                DeviceRegistry dm = new DeviceRegistry(stack.submitter())) {
            dm.addLeaf("a", new MemoryStore("a", 4 << 20));
            dm.addLeaf("b", new MemoryStore("b", 4 << 20));
            // Reads from a, writes to b, at the same offsets: both hold the same data only if writes go to b and
            // reads come from b too, so read and write classes point at the same device here.
            MappedDevice md = dm.create("d", "0 4096 delay b 0 1 b 0 2\n4096 2048 delay a 0 0");
            ModelDevice model = new ModelDevice(6144 * 512L);
            RandomIo.create(RandomIo.newSeed(), 0, 6144).withMaxSectors(1024).run(stack.submitter(), md, model, 300);
            model.assertMatches(stack.submitter(), md);
        }
    }

    @Test
    void closingATableWithQueuedBiosSubmitsThem() throws Exception {
        try (StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK); DeviceRegistry dm = registry(stack)) {
            dm.addLeaf("lower", new MemoryStore("lower", 1 << 20));
            MappedDevice md = dm.create("d", "0 1024 delay lower 0 3600000");
            CompletableFuture<BioStatus> w = asyncWrite(stack, md, 0, 1);
            dm.remove("d", true);
            assertThat(w.get(5, TimeUnit.SECONDS)).isEqualTo(BioStatus.OK);
        }
    }
}
