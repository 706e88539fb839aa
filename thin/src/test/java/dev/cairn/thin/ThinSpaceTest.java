package dev.cairn.thin;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.BioStatus;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.SuspendMode;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.Pattern;
import dev.cairn.testkit.Poll;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Running out of space: the data and metadata low-water events, and bios parked for space across a suspend. */
class ThinSpaceTest {
    private static final int BS = 128;
    private static final long BLOCK_BYTES = BS * 512L;
    private ThinStack stack;

    @BeforeEach
    void setUp() throws Exception {
        stack = new ThinStack(SubmitPolicy.FLUSH_ON_BLOCK);
        stack.leaf("data", new MemoryStore("data-store", 64L << 20));
    }

    @AfterEach
    void tearDown() {
        stack.close();
    }

    private void write(MappedDevice thin, long vblock) {
        Io.writeOk(stack.submitter, thin, vblock * BS, Pattern.segment(vblock * BLOCK_BYTES, 4096, 1));
    }

    @Test
    void theDataLowWaterEventFiresOnceUntilAResumeOfTheGrownPool() throws Exception {
        stack.leaf("meta", new MemoryStore("meta-store", 16L << 20));
        MappedDevice pool = stack.create("pool", "0 1024 thin-pool meta data " + BS + " 3"); // 8 blocks, low water 3
        stack.message("pool", "create_thin", "1");
        MappedDevice thin = stack.create("thin1", "0 65536 thin pool 1");
        long e0 = pool.eventNumber();
        for (long b = 0; b < 5; b++) {
            write(thin, b); // free before each allocation: 8, 7, 6, 5, 4
        }
        assertThat(pool.eventNumber()).as("above the low-water mark: no event").isEqualTo(e0);
        write(thin, 5); // 3 free before it: the mark is reached
        assertThat(pool.eventNumber()).isEqualTo(e0 + 1);
        write(thin, 6);
        assertThat(pool.eventNumber()).as("exactly once while below the mark").isEqualTo(e0 + 1);

        stack.dm.load("pool", "0 2048 thin-pool meta data " + BS + " 3"); // 16 blocks
        stack.dm.resume("pool");
        long e1 = pool.eventNumber(); // the table swap is an event of its own
        assertThat(stack.info("pool")).contains(" 7/16 ");
        for (long b = 7; b < 13; b++) {
            write(thin, b); // free before: 9 ... 4
        }
        assertThat(pool.eventNumber()).isEqualTo(e1);
        write(thin, 13); // 3 free before it
        assertThat(pool.eventNumber()).as("after the resize the event fires again").isEqualTo(e1 + 1);
        write(thin, 14);
        assertThat(pool.eventNumber()).isEqualTo(e1 + 1);
    }

    @Test
    void theMetadataLowWaterEventFiresOnceUntilTheMetadataDeviceGrows() throws Exception {
        stack.leaf("meta-store", new MemoryStore("meta-store", 4L << 20));
        stack.create("meta", "0 2048 linear meta-store 0"); // 256 metadata blocks: threshold 64
        MappedDevice pool = stack.create("pool", "0 131072 thin-pool meta data " + BS + " 0");
        Pool p = stack.pool("pool");
        assertThat(stack.info("pool")).endsWith(" 64 ");
        int id = createUntilEvent(pool, p, 1);
        // Below the threshold: more metadata blocks, no more events.
        long e = pool.eventNumber();
        for (int i = 0; i < 5; i++) {
            stack.message("pool", "create_thin", Integer.toString(id++));
        }
        assertThat(pool.eventNumber()).isEqualTo(e);
        assertThat(p.mode()).isEqualTo(PoolMode.WRITE);

        stack.dm.load("meta", "0 8192 linear meta-store 0"); // 1024 blocks: threshold 256
        stack.dm.resume("meta");
        stack.dm.load("pool", "0 131072 thin-pool meta data " + BS + " 0");
        stack.dm.resume("pool");
        assertThat(stack.info("pool")).endsWith(" 256 ");
        long freeAfterGrowth = p.withMetadata(ThinMetadata::freeMetadataBlocksWithReserve);
        assertThat(freeAfterGrowth).isGreaterThan(256);
        createUntilEvent(pool, p, id);
    }

    /** Creates thin devices from {@code id} on until one raises the metadata event; returns the next free id. */
    private int createUntilEvent(MappedDevice pool, Pool p, int id) throws Exception {
        long threshold = p.withMetadata(md -> Math.min(1024, md.metadataBlocks() / 4));
        for (int guard = 0; guard < 2000; guard++) {
            long before = pool.eventNumber();
            long freeBefore = p.withMetadata(ThinMetadata::freeMetadataBlocksWithReserve);
            stack.message("pool", "create_thin", Integer.toString(id++));
            long freeAfter = p.withMetadata(ThinMetadata::freeMetadataBlocksWithReserve);
            if (freeAfter <= threshold) {
                assertThat(freeBefore).isGreaterThan(threshold);
                assertThat(pool.eventNumber()).as("the message that crossed the threshold raised one event").isEqualTo(before + 1);
                return id;
            }
            assertThat(pool.eventNumber()).as("above the threshold (%d free): no event", freeAfter).isEqualTo(before);
        }
        throw new AssertionError("the metadata never reached its threshold");
    }

    /** A queue_if_no_space pool of 2 blocks, both used, and a thin device whose next writes must wait for space. */
    private MappedDevice fullPool(CountingParks parks) throws Exception {
        stack.leaf("meta", new MemoryStore("meta-store", 16L << 20));
        stack.create("pool", "0 256 thin-pool meta data " + BS + " 0");
        stack.message("pool", "create_thin", "1");
        MappedDevice thin = stack.create("thin1", "0 2048 thin pool 1");
        write(thin, 0);
        write(thin, 1);
        stack.pool("pool").hooks = parks;
        return thin;
    }

    /** Counts pieces parked for space (the worker's hook). */
    static final class CountingParks implements ThinHooks {
        final AtomicInteger parked = new AtomicInteger();

        @Override
        public void parkedForSpace(dev.cairn.block.Bio clone) {
            parked.incrementAndGet();
        }
    }

    private CompletableFuture<BioStatus> writeAsync(MappedDevice thin, long vblock, int generation) {
        CompletableFuture<BioStatus> done = new CompletableFuture<>();
        Thread.ofVirtual().start(() -> done.complete(
                Io.write(stack.submitter, thin, vblock * BS, Pattern.segment(vblock * BLOCK_BYTES, 4096, generation))));
        return done;
    }

    @Test
    void writesWaitingForSpaceDoNotBlockASuspendAndLandAfterTheGrownPoolResumes() throws Exception {
        CountingParks parks = new CountingParks();
        MappedDevice thin = fullPool(parks);
        CompletableFuture<BioStatus> w2 = writeAsync(thin, 2, 5);
        CompletableFuture<BioStatus> w3 = writeAsync(thin, 3, 6);
        assertThat(Poll.until(() -> parks.parked.get() == 2, Duration.ofSeconds(10))).isTrue();
        assertThat(stack.pool("pool").mode()).isEqualTo(PoolMode.OUT_OF_DATA_SPACE);

        // The thin device suspends (noflush, as LVM suspends thin volumes) in bounded time: the parked
        // writes go back to dm core, held for the resume. A timeout makes the suspend give up rather than hang.
        thin.suspend(SuspendMode.NOFLUSH, Duration.ofSeconds(10));
        assertThat(thin.gateStats().gateClosed()).isTrue();
        // The pool suspends too, grows, and resumes; then the thin device resumes and replays the writes.
        stack.pool("pool").hooks = ThinHooks.NONE;
        stack.dm.device("pool").suspend(SuspendMode.FLUSH, Duration.ofSeconds(10));
        stack.dm.load("pool", "0 1024 thin-pool meta data " + BS + " 0");
        stack.dm.resume("pool");
        assertThat(stack.info("pool")).contains(" 2/8 - rw ");
        stack.dm.resume("thin1");
        assertThat(w2.get(10, TimeUnit.SECONDS)).isEqualTo(BioStatus.OK);
        assertThat(w3.get(10, TimeUnit.SECONDS)).isEqualTo(BioStatus.OK);
        Pattern.check(Io.readOk(stack.submitter, thin, 2L * BS, 4096), 2 * BLOCK_BYTES, 5);
        Pattern.check(Io.readOk(stack.submitter, thin, 3L * BS, 4096), 3 * BLOCK_BYTES, 6);
        Pattern.check(Io.readOk(stack.submitter, thin, 0, 4096), 0, 1);
        assertThat(stack.info("thin1")).isEqualTo("0 2048 thin 512 511");
    }

    @Test
    void thePoolSuspendsWhileWritesWaitForSpaceAndTheyLandAfterTheResize() throws Exception {
        CountingParks parks = new CountingParks();
        MappedDevice thin = fullPool(parks);
        CompletableFuture<BioStatus> w2 = writeAsync(thin, 2, 7);
        assertThat(Poll.until(() -> parks.parked.get() == 1, Duration.ofSeconds(10))).isTrue();
        stack.dm.device("pool").suspend(SuspendMode.FLUSH, Duration.ofSeconds(10));
        stack.dm.load("pool", "0 512 thin-pool meta data " + BS + " 0");
        stack.dm.resume("pool");
        assertThat(w2.get(10, TimeUnit.SECONDS)).isEqualTo(BioStatus.OK);
        Pattern.check(Io.readOk(stack.submitter, thin, 2L * BS, 4096), 2 * BLOCK_BYTES, 7);
    }

    @Test
    void theNoSpaceTimeoutFailsParkedWritesWithEnospc() throws Exception {
        stack.close();
        MutableClock clock = new MutableClock();
        stack = new ThinStack(SubmitPolicy.FLUSH_ON_BLOCK, clock);
        stack.leaf("data", new MemoryStore("data-store", 64L << 20));
        CountingParks parks = new CountingParks();
        MappedDevice thin = fullPool(parks);
        CompletableFuture<BioStatus> w2 = writeAsync(thin, 2, 8);
        assertThat(Poll.until(() -> parks.parked.get() == 1, Duration.ofSeconds(10))).isTrue();
        clock.advance(Pool.NO_SPACE_TIMEOUT.plusSeconds(1));
        assertThat(w2.get(10, TimeUnit.SECONDS)).isEqualTo(BioStatus.NOSPC);
        assertThat(stack.info("pool")).contains(" out_of_data_space ");
        assertThat(Io.write(stack.submitter, thin, 3L * BS, Pattern.segment(3 * BLOCK_BYTES, 4096, 1)))
                .as("after the timeout the pool errors at once").isEqualTo(BioStatus.NOSPC);
    }

    /** A clock the test moves forward. */
    static final class MutableClock implements InstantSource {
        private final AtomicLong millis = new AtomicLong(System.currentTimeMillis());

        void advance(Duration d) {
            millis.addAndGet(d.toMillis());
        }

        @Override
        public Instant instant() {
            return Instant.ofEpochMilli(millis.get());
        }
    }
}
