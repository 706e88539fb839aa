package dev.cairn.bench.harness;

import dev.cairn.block.BlockDevice;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.store.FileStore;
import dev.cairn.block.store.FileStoreConfig;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.nbd.server.NbdExport;
import dev.cairn.nbd.server.NbdServer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * Serves one MemoryStore or file over NBD until killed, without device-mapper: for benchmarks and probes,
 * not the product's CLI (that is {@code cairn serve}); {@link StackServeMain} serves whole stacks.
 *
 * <pre>
 * java -cp bench/target/benchmarks.jar dev.cairn.bench.harness.NbdServeMain [--unix PATH] [--tcp HOST:PORT]
 *      (--memory SIZE | --file PATH [--size SIZE]) [--name NAME] [--read-only]
 * </pre>
 * A file is served through {@link FileStore}; with {@code --size} a missing file is first created (sparse),
 * and an existing one must have that size. SIZE takes K, M, G, T suffixes (powers of 1024). Prints one line
 * {@code ready tcp=PORT unix=PATH} when serving. Usage errors exit 2.
 */
@Command(name = "NbdServeMain", mixinStandardHelpOptions = true,
        description = "Serves one memory store or file over NBD until killed.")
public final class NbdServeMain implements Callable<Integer> {
    /** Exactly one of the two. */
    static final class Source {
        @Option(names = "--memory", paramLabel = "SIZE", converter = SizeConverter.class, required = true,
                description = "A new memory store of this size.")
        Long memoryBytes;

        @Option(names = "--file", paramLabel = "PATH", required = true, description = "A file (see --size).")
        Path file;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    @Option(names = "--size", paramLabel = "SIZE", converter = SizeConverter.class,
            description = "With --file: create it sparse at this size if missing; an existing one must have it.")
    Long sizeBytes;

    @Option(names = "--unix", paramLabel = "PATH", description = "Listen on this Unix socket.")
    Path unix;

    @Option(names = "--tcp", paramLabel = "HOST:PORT", converter = HostPort.Converter.class,
            description = "Listen on this TCP address.")
    HostPort tcp;

    @Option(names = "--name", defaultValue = "", description = "The export name (default: the empty name).")
    String name;

    @Option(names = "--read-only", description = "Refuse writes.")
    boolean readOnly;

    @Spec
    CommandSpec spec;

    public static void main(String[] args) {
        System.exit(new CommandLine(new NbdServeMain()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        BlockDevice device;
        if (source.memoryBytes != null) {
            device = new MemoryStore("memory", source.memoryBytes);
        } else {
            Path path = source.file;
            if (sizeBytes != null && !Files.exists(path)) {
                FileStore.createSparse(path, sizeBytes);
            } else if (sizeBytes != null && Files.size(path) != sizeBytes) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--size: " + sizeBytes
                        + " (expected: " + Files.size(path) + ", the size of existing " + path + ")");
            }
            device = FileStore.open(path, FileStoreConfig.defaults().withReadOnly(readOnly));
        }
        Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
        NbdServer.Builder b = NbdServer.builder().submitter(submitter);
        if (unix != null) {
            b.unix(unix);
        }
        if (tcp != null) {
            b.tcp(tcp.host(), tcp.port());
        }
        NbdServer server = b.build();
        server.addExport(NbdExport.of(name, device).readOnly(readOnly));
        server.start();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            submitter.close();
            if (device instanceof FileStore store) {
                store.close();
            }
            stopped.countDown();
        }));
        System.out.println("ready tcp=" + server.tcpPort() + " unix=" + (unix == null ? "-" : unix));
        System.out.flush();
        stopped.await();
        return 0;
    }
}
