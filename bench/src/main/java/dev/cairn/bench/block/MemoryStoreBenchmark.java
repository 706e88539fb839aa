package dev.cairn.bench.block;

import dev.cairn.block.Bio;
import dev.cairn.block.BioEndIo;
import dev.cairn.block.BioOp;
import dev.cairn.block.store.MemoryStore;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
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
 * A {@link MemoryStore} alone, bios submitted straight to it (it completes inline): sequential reads and
 * rewrites of {@code sizeBytes} over a 1 GiB store written once in setup, from a native buffer as the NBD
 * server's pooled buffers are. The store's own cost per bio: page lookups and copies (issue 7, finding 2).
 * Throughput is bios per second; times sizeBytes for bytes. Run with {@code -prof gc} to see that nothing
 * is allocated per bio beyond the bio itself.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "-Xmx4g")
public class MemoryStoreBenchmark {
    private static final long STORE_BYTES = 1L << 30;
    private static final BioEndIo DONE = bio -> { };

    @State(Scope.Benchmark)
    public static class Store {
        @Param({"4096", "1048576"})
        public int sizeBytes;

        MemoryStore store;
        Arena arena;
        MemorySegment buffer;
        long position;

        @Setup(Level.Trial)
        public void setUp() {
            store = new MemoryStore("bench", STORE_BYTES);
            arena = Arena.ofShared();
            buffer = arena.allocate(sizeBytes, 4096);
            buffer.fill((byte) 0x5a);
            MemorySegment fill = arena.allocate(1 << 20, 4096);
            for (long offsetBytes = 0; offsetBytes < STORE_BYTES; offsetBytes += fill.byteSize()) {
                store.submitBio(Bio.alloc().setDevice(store).setOp(BioOp.WRITE).setSector(offsetBytes >>> 9)
                        .setData(fill).setEndIo(DONE));
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            arena.close();
        }

        long next() {
            long p = position;
            position = (p + sizeBytes) % STORE_BYTES;
            return p >>> 9;
        }
    }

    @Benchmark
    public Bio read(Store s) {
        Bio bio = Bio.alloc().setDevice(s.store).setOp(BioOp.READ).setSector(s.next()).setData(s.buffer).setEndIo(DONE);
        s.store.submitBio(bio);
        return bio;
    }

    @Benchmark
    public Bio rewrite(Store s) {
        Bio bio = Bio.alloc().setDevice(s.store).setOp(BioOp.WRITE).setSector(s.next()).setData(s.buffer).setEndIo(DONE);
        s.store.submitBio(bio);
        return bio;
    }
}
