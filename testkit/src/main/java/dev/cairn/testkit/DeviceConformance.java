package dev.cairn.testkit;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.Extents;
import dev.cairn.block.Sectors;
import dev.cairn.block.Submitter;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The checks every block device must pass, whatever stores its data (memory, file, RBD image, remote NBD
 * export): seeded random I/O against a {@link ModelDevice} with {@link Pattern} data (reads checked,
 * writes with FUA and PREFLUSH now and then, flushes, discards, write-zeroes), the same from several
 * threads at once on disjoint ranges, a final read of the whole range, and extents that never claim
 * zeros where there is data. A failure names the seed to replay it with.
 *
 * <pre>{@code
 * DeviceConformance.check(submitter, device, DeviceConformance.Options.defaults());
 * }</pre>
 *
 * <p>Thread safety: stateless; {@link #check} runs its own threads and returns when they are done.
 */
public final class DeviceConformance {
    private DeviceConformance() {}

    /**
     * @param opsPerThread      random operations per thread
     * @param threads           threads, each on its own slice of the range
     * @param maxSectors        largest single operation
     * @param discardZeroes     whether the device promises zeros after DISCARD (NBD TRIM and RBD do not)
     * @param sectors           how much of the device to use from sector 0 (0: all of it)
     * @param alignSectors      operations start and end on multiples of this (at least the logical block)
     */
    public record Options(int opsPerThread, int threads, int maxSectors, boolean discardZeroes, long sectors,
            int alignSectors) {
        public static Options defaults() {
            return new Options(600, 4, 1024, false, 0, 1);
        }

        public Options withOps(int value) {
            return new Options(value, threads, maxSectors, discardZeroes, sectors, alignSectors);
        }

        public Options withThreads(int value) {
            return new Options(opsPerThread, value, maxSectors, discardZeroes, sectors, alignSectors);
        }

        public Options withDiscardZeroes(boolean value) {
            return new Options(opsPerThread, threads, maxSectors, value, sectors, alignSectors);
        }

        public Options withSectors(long value) {
            return new Options(opsPerThread, threads, maxSectors, discardZeroes, value, alignSectors);
        }

        public Options withAlignment(int value) {
            return new Options(opsPerThread, threads, maxSectors, discardZeroes, sectors, value);
        }
    }

    /** Runs every check on {@code device}; returns the model it ended with (the device's expected contents). */
    public static ModelDevice check(Submitter submitter, BlockDevice device, Options options) throws Exception {
        long sectors = options.sectors() == 0 ? device.capacitySectors() : Math.min(options.sectors(), device.capacitySectors());
        int blockSectors = device.limits().logicalBlockBytes() >>> Sectors.SECTOR_SHIFT;
        ModelDevice model = new ModelDevice(Sectors.toBytes(device.capacitySectors()));
        long seed = RandomIo.newSeed();
        // The model starts as "unknown": the device may hold anything before the first write.
        model.forget(0, Sectors.toBytes(device.capacitySectors()));

        // 1. One thread over the whole range.
        RandomIo.create(seed, 0, sectors).withAlignment(options.alignSectors()).withMaxSectors(options.maxSectors()).withDiscardZeroes(options.discardZeroes())
                .run(submitter, device, model, options.opsPerThread());

        // 2. Several threads at once, each on its own slice, one model.
        int unit = Math.max(blockSectors, options.alignSectors());
        long slice = sectors / options.threads() / unit * unit;
        ExecutorService pool = Executors.newFixedThreadPool(options.threads());
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int t = 0; t < options.threads(); t++) {
                long first = t * slice;
                long s = seed + 1 + t;
                done.add(pool.submit(() -> {
                    RandomIo.create(s, first, slice).withAlignment(options.alignSectors()).withMaxSectors(Math.min(options.maxSectors(), (int) Math.min(slice, 1 << 20)))
                            .withDiscardZeroes(options.discardZeroes()).run(submitter, device, model, options.opsPerThread());
                    return null;
                }));
            }
            for (Future<?> f : done) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }

        // 3. A flush, then the whole range read back.
        assertThat(Io.flush(submitter, device)).as("final flush of " + device.name()).isEqualTo(BioStatus.OK);
        for (long sector = 0; sector < sectors; sector += 2048) {
            int n = (int) Math.min(2048, sectors - sector);
            model.assertMatches(Sectors.toBytes(sector), Io.readOk(submitter, device, sector, (int) Sectors.toBytes(n)));
        }

        // 4. Extents: a range said to read as zeros does read as zeros.
        for (Io.Extent e : Io.extents(device, 0, sectors)) {
            if ((e.flags() & Extents.ZERO) != 0) {
                for (long sector = e.sector(); sector < e.sector() + e.sectors(); sector += 2048) {
                    int n = (int) Math.min(2048, e.sector() + e.sectors() - sector);
                    MemorySegment got = Io.readOk(submitter, device, sector, (int) Sectors.toBytes(n));
                    assertThat(got.mismatch(MemorySegment.ofArray(new byte[(int) got.byteSize()])))
                            .as(device.name() + ": extent " + e + " says zero but sector " + sector + "+ has data (seed " + seed + ")")
                            .isEqualTo(-1L);
                }
            }
        }
        return model;
    }
}
