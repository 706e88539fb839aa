package dev.cairn.bench.harness;

import dev.cairn.block.BlockDevice;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.store.FileStore;
import dev.cairn.block.store.FileStoreConfig;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.nbd.server.NbdExport;
import dev.cairn.nbd.server.NbdServer;
import dev.cairn.nbd.server.ServerTls;
import dev.cairn.nbd.server.TlsConfig;
import dev.cairn.nbd.server.TlsMode;
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
 *      [--tls on|require (--tls-certificates DIR [--tls-verify-peer] | --tls-psk FILE)]
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

    @Option(names = "--tls", paramLabel = "off|on|require", defaultValue = "off",
            description = "NBD STARTTLS (for side-by-side TLS runs; needs --tls-certificates or --tls-psk).")
    String tls;

    @Option(names = "--tls-certificates", paramLabel = "DIR", description = "X.509 credentials (nbdkit's file names).")
    Path tlsCertificates;

    @Option(names = "--tls-psk", paramLabel = "FILE", description = "Pre-shared keys (psktool's username:hexkey).")
    Path tlsPsk;

    @Option(names = "--tls-verify-peer", description = "Require a client certificate.")
    boolean tlsVerifyPeer;

    @Option(names = "--handshake-limit", paramLabel = "SECONDS", defaultValue = "10",
            description = "Drop a client that has not finished negotiating after SECONDS (default: ${DEFAULT-VALUE},"
                    + " qemu-nbd's; 0: no limit).")
    long handshakeLimitSeconds;

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
        TlsMode tlsMode;
        try {
            tlsMode = TlsMode.parse(tls);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--tls: " + tls + " (expected: off, on or require)");
        }
        if (tlsMode != TlsMode.OFF && (tlsCertificates == null) == (tlsPsk == null)) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--tls " + tls + " (expected: exactly one of --tls-certificates and --tls-psk)");
        }
        if (handshakeLimitSeconds < 0) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--handshake-limit: " + handshakeLimitSeconds + " (expected: >= 0; 0: no limit)");
        }
        Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
        NbdServer.Builder b = NbdServer.builder().submitter(submitter)
                .handshakeLimit(java.time.Duration.ofSeconds(handshakeLimitSeconds));
        if (tlsMode != TlsMode.OFF) {
            TlsConfig.Credentials creds = tlsPsk != null ? new TlsConfig.Psk(tlsPsk)
                    : new TlsConfig.X509(tlsCertificates, tlsVerifyPeer);
            b.tls(ServerTls.load(new TlsConfig(tlsMode, creds)));
        }
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
