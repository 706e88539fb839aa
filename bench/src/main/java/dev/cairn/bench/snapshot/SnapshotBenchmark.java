package dev.cairn.bench.snapshot;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.IoCompletion;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.SubmitterConfig;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.dm.DeviceRegistry;
import dev.cairn.dm.DmException;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Snapshot I/O against the plain origin, 4 KiB bios, one thread, everything in memory (so the
 * numbers are the cost of the snapshot machinery, not of a disk):
 * <ul>
 *   <li>{@code plainRead}, {@code plainWrite}: a {@code linear} device over the origin store, the
 *       baseline, in the region the snapshot has not copied;</li>
 *   <li>{@code originFirstWrite}: a write through {@code snapshot-origin} to a chunk no snapshot has
 *       copied: copy-out of the 8 KiB chunk, commit of the exception (a metadata area write for
 *       {@code P}), then the write;</li>
 *   <li>{@code originRewrite}: a write through {@code snapshot-origin} to a chunk already copied (lookup only);</li>
 *   <li>{@code snapshotFirstWrite}: a write through the snapshot to an uncopied chunk (copy, commit, write to the COW);</li>
 *   <li>{@code snapshotRewrite}: a write through the snapshot to a copied chunk (remapped to the COW);</li>
 *   <li>{@code snapshotReadCopied}: a read of a copied chunk (from the COW);</li>
 *   <li>{@code snapshotReadUncopied}: a read of an uncopied chunk (from the origin, tracked until it
 *       completes): the same origin pages {@code plainRead} reads.</li>
 * </ul>
 * The stack is rebuilt for every iteration so first writes always find fresh chunks: a 4 GiB
 * origin whose first 128 MiB are written before the snapshot is taken, a sparse 8 GiB COW, chunks
 * of 16 sectors; then the first 64 MiB are copied (the copied region), 64..128 MiB are read and
 * never copied (the uncopied region), and first writes walk through the rest, which is sparse (so
 * their copy-out reads zeros: a little cheaper than copying data).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(1)
public class SnapshotBenchmark {
    private static final long ORIGIN_SECTORS = 8L << 20; // 4 GiB
    private static final long COW_BYTES = 8L << 30;
    private static final int CHUNK = 16;
    private static final long COPIED_SECTORS = 131072; // 64 MiB
    private static final long UNCOPIED_END_SECTORS = 2 * COPIED_SECTORS; // 128 MiB
    private static final int IO_BYTES = 4096;

    @State(Scope.Benchmark)
    public static class Stack {
        /** Exception store: persistent (the Linux format, a metadata write per exception) or transient. */
        @Param({"P", "N"})
        public String store;

        @Param({"FLUSH_ON_BLOCK"})
        public String policy;

        Submitter submitter;
        DeviceRegistry dm;
        BlockDevice plain;
        BlockDevice origin;
        BlockDevice snapshot;
        MemorySegment buffer;
        long nextFreshChunk;

        @Setup(Level.Iteration)
        public void setUp() throws DmException {
            submitter = Submitter.create(SubmitterConfig.defaults().withName("bench-snap")
                    .withPolicy(SubmitPolicy.valueOf(policy)).withWatchdog(null, r -> { }));
            dm = new DeviceRegistry(submitter);
            dm.addLeaf("real", new MemoryStore("real", ORIGIN_SECTORS << 9));
            dm.addLeaf("cow", new MemoryStore("cow", COW_BYTES));
            plain = dm.create("plain", "0 " + ORIGIN_SECTORS + " linear real 0");
            MemorySegment big = MemorySegment.ofArray(new byte[1 << 20]);
            big.fill((byte) 0x33);
            for (long s = 0; s < UNCOPIED_END_SECTORS; s += 2048) {
                io(plain, BioOp.WRITE, s, big);
            }
            origin = dm.create("origin", "0 " + ORIGIN_SECTORS + " snapshot-origin real");
            snapshot = dm.create("snap", "0 " + ORIGIN_SECTORS + " snapshot real cow " + store + " " + CHUNK);
            buffer = MemorySegment.ofArray(new byte[IO_BYTES]);
            buffer.fill((byte) 0x5a);
            big.fill((byte) 0x44);
            for (long s = 0; s < COPIED_SECTORS; s += 2048) {
                io(origin, BioOp.WRITE, s, big);
            }
            nextFreshChunk = UNCOPIED_END_SECTORS / CHUNK;
        }

        @TearDown(Level.Iteration)
        public void tearDown() {
            dm.close();
            submitter.close();
        }

        void io(BlockDevice device, BioOp op, long sector, MemorySegment data) {
            Bio b = Bio.alloc().setDevice(device).setOp(op).setSector(sector).setData(data);
            BioStatus s = IoCompletion.submitAndWait(submitter, b);
            if (!s.isOk()) {
                throw new IllegalStateException(op + " at " + sector + " of " + device.name() + ": " + s);
            }
        }

        /** A 4 KiB-aligned sector inside the copied region. */
        long copiedSector() {
            return ThreadLocalRandom.current().nextLong(COPIED_SECTORS / 8) * 8;
        }

        /** A 4 KiB-aligned sector in the uncopied region (which reads and plain I/O never copy). */
        long uncopiedSector() {
            return COPIED_SECTORS + ThreadLocalRandom.current().nextLong((UNCOPIED_END_SECTORS - COPIED_SECTORS) / 8) * 8;
        }

        /** The first half of a chunk nothing has copied yet. */
        long freshSector() {
            long chunk = nextFreshChunk++;
            if (chunk * CHUNK >= ORIGIN_SECTORS) {
                throw new IllegalStateException("out of fresh chunks: make the iterations shorter");
            }
            return chunk * CHUNK;
        }
    }

    @Benchmark
    public void plainRead(Stack s) {
        s.io(s.plain, BioOp.READ, s.uncopiedSector(), s.buffer);
    }

    @Benchmark
    public void plainWrite(Stack s) {
        s.io(s.plain, BioOp.WRITE, s.uncopiedSector(), s.buffer);
    }

    @Benchmark
    public void originFirstWrite(Stack s) {
        s.io(s.origin, BioOp.WRITE, s.freshSector(), s.buffer);
    }

    @Benchmark
    public void originRewrite(Stack s) {
        s.io(s.origin, BioOp.WRITE, s.copiedSector(), s.buffer);
    }

    @Benchmark
    public void snapshotFirstWrite(Stack s) {
        s.io(s.snapshot, BioOp.WRITE, s.freshSector(), s.buffer);
    }

    @Benchmark
    public void snapshotRewrite(Stack s) {
        s.io(s.snapshot, BioOp.WRITE, s.copiedSector(), s.buffer);
    }

    @Benchmark
    public void snapshotReadCopied(Stack s) {
        s.io(s.snapshot, BioOp.READ, s.copiedSector(), s.buffer);
    }

    @Benchmark
    public void snapshotReadUncopied(Stack s) {
        s.io(s.snapshot, BioOp.READ, s.uncopiedSector(), s.buffer);
    }
}
