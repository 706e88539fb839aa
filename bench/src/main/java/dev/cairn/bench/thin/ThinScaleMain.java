package dev.cairn.bench.thin;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.IoCompletion;
import dev.cairn.block.Submitter;
import dev.cairn.block.SubmitterConfig;
import dev.cairn.block.store.FileStore;
import dev.cairn.block.store.FileStoreConfig;
import dev.cairn.dm.DeviceRegistry;
import dev.cairn.dm.DmException;
import dev.cairn.dm.RegistryOptions;
import dev.cairn.dm.SuspendMode;
import dev.cairn.dm.TargetTypes;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicLong;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The snapshot scale curve of issue 18: thin snapshots of one volume against dm-snapshot, in one process
 * over files (no NBD, so the numbers are the targets' cost plus the file store's).
 *
 * <ol>
 *   <li><b>Creation:</b> a thin volume is filled, then {@code --snapshots} snapshots of it are created one
 *       by one with the {@code create_snap} message (the origin suspended around each, as the kernel
 *       requires); each message's time is printed ({@code create} lines): the curve must stay flat.</li>
 *   <li><b>Writes to the origin</b>, subjects alternating in each round (A B C ..., the order rotating):
 *       thin with 1 snapshot, thin with all the snapshots, dm-snapshot with each of {@code --dm-snapshots}
 *       snapshots. Per round and subject: first writes (one 4 KiB write into each not yet written 64 KiB
 *       block of a fresh slice: thin breaks sharing once, dm-snapshot copies the chunk into every COW), then
 *       {@code --seconds} of 4 KiB random rewrites over the slices written so far (sharing already broken).
 *       {@code iops} lines; the median over rounds goes to the summary.</li>
 * </ol>
 * Output: tab-separated lines on stdout, and the load average before and after on stderr.
 *
 * <p>Thread safety: single-threaded setup; the write phases use {@code --threads} virtual threads that
 * share only counters.
 */
@Command(name = "ThinScaleMain", mixinStandardHelpOptions = true,
        description = "Thin snapshot creation curve and origin write IOPS against dm-snapshot.")
public final class ThinScaleMain implements Callable<Integer> {
    private static final int BLOCK_SECTORS = 128; // 64 KiB thin blocks and snapshot chunks
    private static final long BLOCK_BYTES = BLOCK_SECTORS * 512L;

    @Option(names = "--dir", required = true, description = "Directory for the store files (not tmpfs).")
    Path dir;

    @Option(names = "--snapshots", defaultValue = "1000", description = "Thin snapshots to create (default: ${DEFAULT-VALUE}).")
    int snapshots;

    @Option(names = "--dm-snapshots", defaultValue = "1,10,50", split = ",",
            description = "dm-snapshot counts to measure (default: ${DEFAULT-VALUE}).")
    int[] dmSnapshots;

    @Option(names = "--origin-mib", defaultValue = "256", description = "Origin size in MiB (default: ${DEFAULT-VALUE}).")
    int originMib;

    @Option(names = "--slice-mib", defaultValue = "8", description = "First-write slice per round in MiB (default: ${DEFAULT-VALUE}).")
    int sliceMib;

    @Option(names = "--rounds", defaultValue = "3", description = "Rounds (default: ${DEFAULT-VALUE}).")
    int rounds;

    @Option(names = "--seconds", defaultValue = "3", description = "Rewrite phase length (default: ${DEFAULT-VALUE}).")
    int seconds;

    @Option(names = "--threads", defaultValue = "16", description = "Concurrent writers (default: ${DEFAULT-VALUE}).")
    int threads;

    @Option(names = "--memory", description = "Memory stores instead of files: the targets' own cost, no disk syncs.")
    boolean memory;

    private final PrintStream out = System.out;
    private Submitter submitter;
    private DeviceRegistry dm;
    private final List<FileStore> files = new ArrayList<>();

    public static void main(String[] args) {
        System.exit(new CommandLine(new ThinScaleMain()).execute(args));
    }

    /** One device written to in the IOPS phases. */
    private record Subject(String name, BlockDevice origin) {}

    @Override
    public Integer call() throws Exception {
        if (rounds * (long) sliceMib > originMib) {
            throw new CommandLine.ParameterException(new CommandLine(this),
                    "--rounds x --slice-mib: " + rounds * sliceMib + " MiB (expected: at most --origin-mib " + originMib + ")");
        }
        Files.createDirectories(dir);
        System.err.println("loadavg_start=" + Files.readString(Path.of("/proc/loadavg")).strip());
        submitter = Submitter.create(SubmitterConfig.defaults().withName("thin-scale"));
        dm = new DeviceRegistry(submitter, RegistryOptions.defaults().withTargetTypes(TargetTypes.load(ThinScaleMain.class.getClassLoader())));
        try {
            long originSectors = originMib * 2048L;
            List<Subject> subjects = new ArrayList<>();
            subjects.add(new Subject("thin-1", thinPool("a", originSectors, 1, false)));
            subjects.add(new Subject("thin-" + snapshots, thinPool("b", originSectors, snapshots, true)));
            for (int n : dmSnapshots) {
                subjects.add(new Subject("dm-snapshot-" + n, dmSnapshot("s" + n, originSectors, n)));
            }
            writePhases(subjects);
        } finally {
            dm.close();
            for (FileStore f : files) {
                f.close();
            }
            submitter.close();
            System.err.println("loadavg_end=" + Files.readString(Path.of("/proc/loadavg")).strip());
        }
        return 0;
    }

    private BlockDevice file(String name, long bytes) throws IOException, DmException {
        if (memory) {
            var m = new dev.cairn.block.store.MemoryStore(name, bytes);
            dm.addLeaf(name, m);
            return m;
        }
        Path p = dir.resolve(name);
        Files.deleteIfExists(p);
        try (var ch = java.nio.channels.FileChannel.open(p, java.nio.file.StandardOpenOption.CREATE_NEW,
                java.nio.file.StandardOpenOption.WRITE)) {
            ch.truncate(bytes);
            ch.write(java.nio.ByteBuffer.allocate(1), bytes - 1);
        }
        FileStore f = FileStore.open(p, FileStoreConfig.defaults());
        files.add(f);
        dm.addLeaf(name, f);
        return f;
    }

    /** A pool with a filled origin and {@code snaps} snapshots of it; prints each creation's time when {@code curve}. */
    private BlockDevice thinPool(String tag, long originSectors, int snaps, boolean curve) throws Exception {
        file(tag + "-meta", 256L << 20);
        long dataBytes = originSectors * 512 + (long) rounds * sliceMib * (1L << 20) + (64L << 20);
        file(tag + "-data", dataBytes);
        String pool = tag + "-pool";
        dm.create(pool, "0 " + dataBytes / 512 / BLOCK_SECTORS * BLOCK_SECTORS + " thin-pool " + tag + "-meta " + tag + "-data "
                + BLOCK_SECTORS + " 0");
        dm.message(pool, 0, "create_thin", "1");
        String origin = tag + "-origin";
        BlockDevice dev = dm.create(origin, "0 " + originSectors + " thin " + pool + " 1");
        fill(dev, originSectors);
        for (int i = 0; i < snaps; i++) {
            dm.suspend(origin, SuspendMode.FLUSH);
            long t0 = System.nanoTime();
            dm.message(pool, 0, "create_snap", Integer.toString(i + 2), "1");
            long t1 = System.nanoTime();
            dm.resume(origin);
            long t2 = System.nanoTime();
            if (curve) {
                out.printf("create\t%d\t%.3f\t%.3f%n", i + 1, (t1 - t0) / 1e6, (t2 - t0) / 1e6);
            }
        }
        return dev;
    }

    /** An origin file under snapshot-origin with {@code snaps} persistent snapshots (64 KiB chunks). */
    private BlockDevice dmSnapshot(String tag, long originSectors, int snaps) throws Exception {
        BlockDevice base = file(tag + "-base", originSectors * 512);
        fill(base, originSectors);
        long cowBytes = (long) rounds * sliceMib * (1L << 20) * 2 + (16L << 20);
        for (int i = 0; i < snaps; i++) {
            file(tag + "-cow" + i, cowBytes);
            dm.create(tag + "-snap" + i, "0 " + originSectors + " snapshot " + tag + "-base " + tag + "-cow" + i + " P " + BLOCK_SECTORS);
        }
        return dm.create(tag + "-origin", "0 " + originSectors + " snapshot-origin " + tag + "-base");
    }

    private void fill(BlockDevice dev, long sectors) {
        MemorySegment buf = MemorySegment.ofArray(new byte[1 << 20]);
        SplittableRandom rnd = new SplittableRandom(1);
        for (long s = 0; s < sectors; s += 2048) {
            for (long i = 0; i < buf.byteSize(); i += 8) {
                buf.set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, i, rnd.nextLong());
            }
            check(IoCompletion.submitAndWait(submitter, Bio.alloc().setDevice(dev).setOp(BioOp.WRITE).setSector(s).setData(buf)), "fill");
        }
        check(IoCompletion.submitAndWait(submitter, Bio.alloc().setDevice(dev).setOp(BioOp.FLUSH)), "flush");
    }

    private static void check(BioStatus s, String what) {
        if (!s.isOk()) {
            throw new IllegalStateException(what + " failed: " + s);
        }
    }

    private void writePhases(List<Subject> subjects) throws Exception {
        int n = subjects.size();
        Map<String, List<Double>> first = new LinkedHashMap<>();
        Map<String, List<Double>> rewrite = new LinkedHashMap<>();
        long sliceBlocks = sliceMib * (1L << 20) / BLOCK_BYTES;
        for (int r = 0; r < rounds; r++) {
            for (int i = 0; i < n; i++) {
                Subject s = subjects.get((i + r) % n);
                double f = firstWrites(s.origin(), r * sliceBlocks, sliceBlocks);
                out.printf("iops\t%s\tfirst4k\t%d\t%.1f%n", s.name(), r + 1, f);
                first.computeIfAbsent(s.name(), k -> new ArrayList<>()).add(f);
                double w = rewrites(s.origin(), (r + 1) * sliceBlocks, r);
                out.printf("iops\t%s\trewrite4k\t%d\t%.1f%n", s.name(), r + 1, w);
                rewrite.computeIfAbsent(s.name(), k -> new ArrayList<>()).add(w);
            }
        }
        for (Subject s : subjects) {
            out.printf("median\t%s\tfirst4k\t%.1f%n", s.name(), median(first.get(s.name())));
            out.printf("median\t%s\trewrite4k\t%.1f%n", s.name(), median(rewrite.get(s.name())));
        }
    }

    /** One 4 KiB write into each block of [firstBlock, +blocks), in a shuffled order, by the writer threads. */
    private double firstWrites(BlockDevice dev, long firstBlock, long blocks) throws InterruptedException {
        long[] order = new long[(int) blocks];
        for (int i = 0; i < order.length; i++) {
            order[i] = firstBlock + i;
        }
        SplittableRandom rnd = new SplittableRandom(firstBlock);
        for (int i = order.length - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            long t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        AtomicLong next = new AtomicLong();
        long t0 = System.nanoTime();
        runWriters(() -> {
            MemorySegment buf = MemorySegment.ofArray(new byte[4096]);
            long k;
            while ((k = next.getAndIncrement()) < order.length) {
                write(dev, order[(int) k] * BLOCK_SECTORS + 8 * (k % 16), buf);
            }
        });
        return blocks / ((System.nanoTime() - t0) / 1e9);
    }

    /** {@code --seconds} of 4 KiB random writes over blocks [0, endBlock). */
    private double rewrites(BlockDevice dev, long endBlock, int seed) throws InterruptedException {
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        AtomicLong done = new AtomicLong();
        long t0 = System.nanoTime();
        runWriters(() -> {
            MemorySegment buf = MemorySegment.ofArray(new byte[4096]);
            SplittableRandom rnd = new SplittableRandom(seed * 1000L + Thread.currentThread().threadId());
            long sectors = endBlock * BLOCK_SECTORS;
            while (System.nanoTime() < deadline) {
                write(dev, rnd.nextLong(sectors / 8) * 8, buf);
                done.incrementAndGet();
            }
        });
        return done.get() / ((System.nanoTime() - t0) / 1e9);
    }

    private void write(BlockDevice dev, long sector, MemorySegment buf) {
        check(IoCompletion.submitAndWait(submitter, Bio.alloc().setDevice(dev).setOp(BioOp.WRITE).setSector(sector).setData(buf)), "write");
    }

    private void runWriters(Runnable body) throws InterruptedException {
        Thread[] ts = new Thread[threads];
        for (int i = 0; i < threads; i++) {
            ts[i] = Thread.ofVirtual().start(body);
        }
        for (Thread t : ts) {
            t.join();
        }
    }

    private static double median(List<Double> v) {
        double[] a = v.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        return a.length % 2 == 1 ? a[a.length / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2;
    }
}
