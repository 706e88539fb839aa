package dev.cairn.thin;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.dm.MappedDevice;
import dev.cairn.testkit.ForwardingDevice;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.Pattern;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Failures inside the pool's worker: every bio still completes exactly once, with an error, the block's
 * cell is released, and the pool degrades as Linux's does after a failed metadata operation.
 */
class ThinFailureTest {
    private static final int BS = 128;
    private static final long BLOCK_BYTES = BS * 512L;
    private ThinStack stack;
    private FailingWrites meta;

    /** Fails the next {@code armed} writes (not flushes) with IOERR. */
    static final class FailingWrites extends ForwardingDevice {
        final AtomicInteger armed = new AtomicInteger();
        final AtomicInteger failed = new AtomicInteger();

        FailingWrites(BlockDevice lower) {
            super(lower);
        }

        @Override
        public void submitBio(Bio bio) {
            if (bio.op() == BioOp.WRITE && armed.getAndUpdate(n -> Math.max(0, n - 1)) > 0) {
                failed.incrementAndGet();
                bio.complete(BioStatus.IOERR);
                return;
            }
            super.submitBio(bio);
        }
    }

    @BeforeEach
    void setUp() throws Exception {
        stack = new ThinStack(SubmitPolicy.FLUSH_ON_BLOCK);
        meta = new FailingWrites(new MemoryStore("meta-store", 16L << 20));
        stack.leaf("meta", meta);
        stack.leaf("data", new MemoryStore("data-store", 64L << 20));
        stack.create("pool", "0 " + (64L << 20) / 512 + " thin-pool meta data " + BS + " 0");
        stack.message("pool", "create_thin", "1");
    }

    @AfterEach
    void tearDown() {
        stack.close();
    }

    /** Submits {@code bio} and counts its completions. */
    private static CompletableFuture<BioStatus> submitCounted(ThinStack stack, Bio bio, AtomicInteger completions) {
        CompletableFuture<BioStatus> done = new CompletableFuture<>();
        bio.setEndIo(b -> {
            completions.incrementAndGet();
            done.complete(b.status());
        });
        stack.submitter.submit(bio);
        return done;
    }

    /** Waits until the pool's worker has run everything queued before this call. */
    private static void workerBarrier(Pool pool) throws Exception {
        CompletableFuture<Void> reached = new CompletableFuture<>();
        pool.post(() -> reached.complete(null));
        reached.get(10, TimeUnit.SECONDS);
    }

    @Test
    void aWorkerStepThatThrowsFailsItsBioOnceReleasesTheCellAndGoesReadOnly() throws Exception {
        MappedDevice thin = stack.create("thin1", "0 2048 thin pool 1");
        Pool pool = stack.pool("pool");
        Io.writeOk(stack.submitter, thin, 0, Pattern.segment(0, 4096, 1)); // block 0 mapped before the failure
        Io.flush(stack.submitter, thin);
        AtomicInteger thrown = new AtomicInteger();
        pool.hooks = new ThinHooks() {
            @Override
            public void cellHeld(Bio clone, long devId, long vblock) {
                if (vblock == 5 && thrown.getAndIncrement() == 0) {
                    throw new IllegalStateException("injected failure while holding the cell of block 5");
                }
            }
        };
        AtomicInteger completions = new AtomicInteger();
        Bio w = Bio.alloc().setDevice(thin).setOp(BioOp.WRITE).setSector(5L * BS)
                .setData(Pattern.segment(5 * BLOCK_BYTES, 4096, 2));
        assertThat(submitCounted(stack, w, completions).get(10, TimeUnit.SECONDS)).isEqualTo(BioStatus.IOERR);
        workerBarrier(pool);
        assertThat(completions).as("the failed write completed exactly once").hasValue(1);
        assertThat(thrown).hasValue(1);
        assertThat(pool.mode()).isEqualTo(PoolMode.READ_ONLY);
        assertThat(stack.info("pool")).contains(" ro ").contains(" needs_check ");
        // The cell of block 5 was released: a read of it is not detained forever, and reads zeros.
        MemorySegment got = Io.readOk(stack.submitter, thin, 5L * BS, 4096);
        assertThat(Pattern.generationOf(got, 5 * BLOCK_BYTES)).isEqualTo(Pattern.ZEROS);
        // Read-only: a mapped block can be read and rewritten; a new block cannot be provisioned.
        Pattern.check(Io.readOk(stack.submitter, thin, 0, 4096), 0, 1);
        Io.writeOk(stack.submitter, thin, 0, Pattern.segment(0, 4096, 3));
        assertThat(Io.write(stack.submitter, thin, 7L * BS, Pattern.segment(7 * BLOCK_BYTES, 4096, 3)))
                .isEqualTo(BioStatus.IOERR);
    }

    @Test
    void aLookupThatThrowsFailsTheReadAndLeavesNoTrackedIoBehind() throws Exception {
        MappedDevice thin = stack.create("thin1", "0 2048 thin pool 1");
        Pool pool = stack.pool("pool");
        Io.writeOk(stack.submitter, thin, 3L * BS, Pattern.segment(3 * BLOCK_BYTES, 4096, 1));
        AtomicInteger thrown = new AtomicInteger();
        pool.hooks = new ThinHooks() {
            @Override
            public void beforeMapLookup(Bio clone, long devId, long vblock) {
                if (clone.op() == BioOp.READ && thrown.getAndIncrement() == 0) {
                    throw new IllegalStateException("injected lookup failure");
                }
            }
        };
        AtomicInteger completions = new AtomicInteger();
        Bio r = Bio.alloc().setDevice(thin).setOp(BioOp.READ).setSector(3L * BS).setData(MemorySegment.ofArray(new byte[4096]));
        assertThat(submitCounted(stack, r, completions).get(10, TimeUnit.SECONDS)).isEqualTo(BioStatus.IOERR);
        assertThat(pool.mode()).as("a failed lookup fails the bio only, as in dm-thin").isEqualTo(PoolMode.WRITE);
        // Breaking sharing waits for tracked I/O on the block to drain: it would wait forever had the failed read stayed tracked.
        stack.dm.suspend("thin1", dev.cairn.dm.SuspendMode.FLUSH);
        stack.message("pool", "create_snap", "2", "1");
        stack.dm.resume("thin1");
        Io.writeOk(stack.submitter, thin, 3L * BS + 8, Pattern.segment(3 * BLOCK_BYTES + 4096, 4096, 2));
        Pattern.check(Io.readOk(stack.submitter, thin, 3L * BS, 4096), 3 * BLOCK_BYTES, 1);
        workerBarrier(pool);
        assertThat(completions).hasValue(1);
    }

    @Test
    void aMetadataWriteErrorAtCommitFailsTheFuaWriteAndSetsNeedsCheck() throws Exception {
        MappedDevice thin = stack.create("thin1", "0 2048 thin pool 1");
        Pool pool = stack.pool("pool");
        Io.writeOk(stack.submitter, thin, 0, Pattern.segment(0, 4096, 1));
        Io.flush(stack.submitter, thin);
        meta.armed.set(1);
        AtomicInteger completions = new AtomicInteger();
        Bio w = Bio.alloc().setDevice(thin).setOp(BioOp.WRITE).setSector(2L * BS).setFlags(BioFlags.FUA)
                .setData(Pattern.segment(2 * BLOCK_BYTES, 4096, 2));
        assertThat(submitCounted(stack, w, completions).get(10, TimeUnit.SECONDS)).isEqualTo(BioStatus.IOERR);
        workerBarrier(pool);
        assertThat(completions).hasValue(1);
        assertThat(meta.failed).hasValue(1);
        assertThat(pool.mode()).isEqualTo(PoolMode.READ_ONLY);
        assertThat(stack.info("pool")).contains(" ro ").contains(" needs_check ");
        // The abort went back to the last commit: block 0 is there, block 2 is not.
        Pattern.check(Io.readOk(stack.submitter, thin, 0, 4096), 0, 1);
        assertThat(Pattern.generationOf(Io.readOk(stack.submitter, thin, 2L * BS, 4096), 2 * BLOCK_BYTES)).isEqualTo(Pattern.ZEROS);
    }
}
