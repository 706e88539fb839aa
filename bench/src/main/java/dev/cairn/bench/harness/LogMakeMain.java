package dev.cairn.bench.harness;

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
import dev.cairn.dm.RegistryOptions;
import dev.cairn.dm.TargetTypes;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Makes a write log with Cairn's log-writes target, for the replay-speed rows of
 * {@code bench/log-writes.sh}: a {@code log-writes} device over two existing files, then {@code --writes}
 * random 4 KiB writes (seeded), a FLUSH after every {@code --flush-every} writes and a mark {@code m<N>}
 * after every {@code --mark-every} writes; removing the device logs the end mark.
 *
 * <pre>
 * java -cp bench/target/benchmarks.jar dev.cairn.bench.harness.LogMakeMain --data FILE --log FILE
 *      [--writes N] [--flush-every N] [--mark-every N] [--seed N]
 * </pre>
 *
 * <p>Prints {@code made writes=N flushes=N marks=N}. Single-threaded.
 */
@Command(name = "LogMakeMain", mixinStandardHelpOptions = true,
        description = "Makes a write log with the log-writes target: random 4 KiB writes, flushes and marks.")
public final class LogMakeMain implements Callable<Integer> {
    @Option(names = "--data", required = true, paramLabel = "FILE", description = "The data device (a file).")
    Path data;

    @Option(names = "--log", required = true, paramLabel = "FILE", description = "The log device (a file).")
    Path log;

    @Option(names = "--writes", defaultValue = "200000", description = "4 KiB writes (default: ${DEFAULT-VALUE}).")
    int writes;

    @Option(names = "--flush-every", defaultValue = "32", description = "Writes per FLUSH (default: ${DEFAULT-VALUE}).")
    int flushEvery;

    @Option(names = "--mark-every", defaultValue = "10000", description = "Writes per mark (default: ${DEFAULT-VALUE}).")
    int markEvery;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of the offsets and data (default: ${DEFAULT-VALUE}).")
    long seed;

    public static void main(String[] args) {
        System.exit(new CommandLine(new LogMakeMain()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        if (writes < 0 || flushEvery < 1 || markEvery < 1) {
            System.err.println("LogMakeMain: --writes >= 0, --flush-every >= 1 and --mark-every >= 1 are needed");
            return 2;
        }
        long flushes = 0;
        long marks = 0;
        try (Submitter submitter = Submitter.create(SubmitterConfig.defaults().withName("logmake"));
                FileStore dataStore = FileStore.open(data, FileStoreConfig.defaults());
                FileStore logStore = FileStore.open(log, FileStoreConfig.defaults());
                DeviceRegistry registry = new DeviceRegistry(submitter,
                        RegistryOptions.defaults().withTargetTypes(TargetTypes.load(LogMakeMain.class.getClassLoader())));
                Arena arena = Arena.ofShared()) {
            registry.addLeaf("data", dataStore);
            registry.addLeaf("log", logStore);
            long sectors = dataStore.capacitySectors();
            BlockDevice lw = registry.create("lw", "0 " + sectors + " log-writes data log");
            long blocks = sectors / 8;
            SplittableRandom random = new SplittableRandom(seed);
            MemorySegment buf = arena.allocate(4096, 4096);
            for (int i = 1; i <= writes; i++) {
                for (long off = 0; off < 4096; off += 8) {
                    buf.set(ValueLayout.JAVA_LONG_UNALIGNED, off, random.nextLong());
                }
                io(submitter, Bio.alloc().setDevice(lw).setOp(BioOp.WRITE).setSector(random.nextLong(blocks) * 8)
                        .setData(buf));
                if (i % flushEvery == 0) {
                    io(submitter, Bio.alloc().setDevice(lw).setOp(BioOp.FLUSH));
                    flushes++;
                }
                if (i % markEvery == 0) {
                    registry.message("lw", 0, "mark", "m" + (i / markEvery));
                    marks++;
                }
            }
            registry.remove("lw", false);
        }
        System.out.println("made writes=" + writes + " flushes=" + flushes + " marks=" + marks);
        return 0;
    }

    private static void io(Submitter submitter, Bio bio) {
        BioStatus st = IoCompletion.submitAndWait(submitter, bio);
        if (!st.isOk()) {
            throw new IllegalStateException(bio.op() + " failed: " + st);
        }
    }
}
