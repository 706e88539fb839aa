package dev.cairn.bench.harness;

import dev.cairn.block.BlockDevice;
import dev.cairn.block.Sizes;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.SubmitterConfig;
import dev.cairn.block.store.FileStore;
import dev.cairn.block.store.FileStoreConfig;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.dm.DeviceRegistry;
import dev.cairn.dm.DmException;
import dev.cairn.dm.RegistryOptions;
import dev.cairn.dm.TargetTypes;
import dev.cairn.nbd.server.NbdExport;
import dev.cairn.nbd.server.NbdServer;
import dev.cairn.nbd.server.ServerTls;
import dev.cairn.nbd.server.TlsConfig;
import dev.cairn.nbd.server.TlsMode;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Builds a device-mapper stack from a small stack file and serves one of its devices over NBD until
 * killed: the Cairn side of {@code bench/compare.sh} and {@code bench/soak.sh}, without the daemon.
 *
 * <pre>
 * java -cp bench/target/benchmarks.jar dev.cairn.bench.harness.StackServeMain [--help]
 *      --stack FILE [--unix PATH] [--tcp HOST:PORT] [--watchdog-ms N] [--policy P] [--io-threads N]
 *      [--inline-max-bytes SIZE] [--inline-read-max-bytes SIZE] [--inline-write-max-bytes SIZE]
 *      [--max-in-flight-bytes SIZE] [--max-in-flight-requests N] [--max-queued-read-bytes SIZE]
 *      [--tls-certificates DIR]
 * </pre>
 *
 * <p>The stack file, one directive per line ({@code #} starts a comment):
 * <pre>
 * mem   NAME SIZE [cache]      a MemoryStore leaf (SIZE with K, M, G suffixes); with cache it advertises a
 *                              write cache (FLUSH and FUA accepted, nothing to do), so that a stack without
 *                              log-writes receives the same FLUSHes over NBD as one with it
 * file  NAME PATH [direct]     a FileStore leaf over an existing file
 * device NAME                  a mapped device; the dmsetup table lines that follow are its table
 * 0 2097152 linear base 0
 * message NAME WORD...        send a message to device NAME (dmsetup message NAME 0 WORD...), for
 *                              example a thin pool's create_thin and create_snap
 * fill NAME FILE               write FILE's bytes to the start of device or leaf NAME, then flush (not
 *                              served yet: the stack is built before the server listens)
 * export NAME [EXPORTNAME]     serve device or leaf NAME (under EXPORTNAME, default ""); a leaf is
 *                              served directly, without device-mapper (the "plain store" rows); several
 *                              export lines serve several devices from one server
 * </pre>
 * Devices are created in file order, so a table may use only what is above it. Leaves are registered
 * with {@link DeviceRegistry#addLeaf}, so tables name them like any device.
 *
 * <p>Prints {@code ready tcp=PORT unix=PATH} on stdout once serving. A watchdog report is printed on
 * stderr with lines starting {@code WATCHDOG} (the soak test fails on any). Exit code 3 means the stack
 * could not be built (for example a target type that is not on the class path yet); compare.sh skips
 * that row and says why.
 */
@Command(name = "StackServeMain", mixinStandardHelpOptions = true,
        description = "Builds a device-mapper stack from a stack file and serves it over NBD until killed.")
public final class StackServeMain implements Callable<Integer> {
    /** Exit status when the stack file cannot be turned into devices. */
    static final int EXIT_STACK = 3;

    @Option(names = "--stack", required = true, paramLabel = "FILE", description = "The stack file.")
    Path stackFile;

    @Option(names = "--unix", paramLabel = "PATH", description = "Listen on this Unix socket.")
    Path unix;

    @Option(names = "--tcp", paramLabel = "HOST:PORT", converter = HostPort.Converter.class,
            description = "Listen on this TCP address.")
    HostPort tcp;

    @Option(names = "--watchdog-ms", defaultValue = "5000", paramLabel = "N",
            description = "Watchdog period in milliseconds; 0: none (default: ${DEFAULT-VALUE}).")
    long watchdogMillis;

    @Option(names = "--policy", defaultValue = "FLUSH_ON_BLOCK", paramLabel = "P",
            description = "Submission policy: ${COMPLETION-CANDIDATES} (default: ${DEFAULT-VALUE}).")
    SubmitPolicy policy;

    @Option(names = "--io-threads", paramLabel = "N", description = "FileStore I/O threads.")
    Integer ioThreads;

    @Option(names = "--inline-max-bytes", paramLabel = "SIZE", converter = SizeConverter.class,
            description = "FileStore: largest read or write done on the submitting thread.")
    Long inlineMaxBytes;

    @Option(names = "--inline-write-max-bytes", paramLabel = "SIZE", converter = SizeConverter.class,
            description = "FileStore: largest write done on the submitting thread.")
    Long inlineWriteMaxBytes;

    @Option(names = "--inline-read-max-bytes", paramLabel = "SIZE", converter = SizeConverter.class,
            description = "FileStore: largest read done on the submitting thread.")
    Long inlineReadMaxBytes;

    @Option(names = "--max-in-flight-bytes", paramLabel = "SIZE", converter = SizeConverter.class,
            description = "NBD: bytes in flight per connection.")
    long maxInFlightBytes;

    @Option(names = "--max-in-flight-requests", paramLabel = "N", description = "NBD: requests in flight per connection.")
    int maxInFlightRequests;

    @Option(names = "--max-queued-read-bytes", paramLabel = "SIZE", converter = SizeConverter.class,
            description = "NBD: read data queued for the writer per connection.")
    long maxQueuedReadBytes;

    @Option(names = "--tls-certificates", paramLabel = "DIR",
            description = "Require TLS (STARTTLS, --tls require) with X.509 credentials in DIR (nbdkit's file names).")
    Path tlsCertificates;

    /** Usage errors exit 2 (picocli's default), a stack that cannot be built 3; serving never returns. */
    public static void main(String[] args) {
        System.exit(new CommandLine(new StackServeMain()).setCaseInsensitiveEnumValuesAllowed(true).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        FileStoreConfig fileConfig = FileStoreConfig.defaults();
        if (ioThreads != null) {
            fileConfig = fileConfig.withIoThreads(ioThreads);
        }
        if (inlineMaxBytes != null) {
            fileConfig = fileConfig.withInlineMaxBytes(Math.toIntExact(inlineMaxBytes));
        }
        if (inlineWriteMaxBytes != null) {
            fileConfig = fileConfig.withInlineWriteMaxBytes(Math.toIntExact(inlineWriteMaxBytes));
        }
        if (inlineReadMaxBytes != null) {
            fileConfig = fileConfig.withInlineReadMaxBytes(Math.toIntExact(inlineReadMaxBytes));
        }
        PrintStream err = System.err;
        SubmitterConfig config = SubmitterConfig.defaults().withName("bench").withPolicy(policy)
                .withWatchdog(watchdogMillis > 0 ? Duration.ofMillis(watchdogMillis) : null, report -> {
                    synchronized (err) {
                        for (String line : report.text().split("\n")) {
                            err.println("WATCHDOG " + line);
                        }
                        err.flush();
                    }
                });
        Submitter submitter = Submitter.create(config);
        DeviceRegistry registry = new DeviceRegistry(submitter,
                RegistryOptions.defaults().withTargetTypes(TargetTypes.load(StackServeMain.class.getClassLoader())));
        List<AutoCloseable> leaves = new ArrayList<>();
        Map<String, BlockDevice> leafDevices = new LinkedHashMap<>();
        List<String[]> exported;
        List<BlockDevice> devices = new ArrayList<>();
        try {
            exported = build(Files.readAllLines(stackFile), registry, leaves, leafDevices, fileConfig);
            for (String[] e : exported) {
                BlockDevice d = registry.find(e[0]).isPresent() ? registry.device(e[0]) : leafDevices.get(e[0]);
                if (d == null) {
                    throw new IllegalArgumentException("export: " + e[0] + " (expected: a device or leaf above it)");
                }
                devices.add(d);
            }
        } catch (DmException | IOException | IllegalArgumentException e) {
            System.err.println("StackServeMain: cannot build " + stackFile + ": " + e);
            registry.close();
            closeAll(leaves);
            submitter.close();
            return EXIT_STACK;
        }
        NbdServer.Builder b = NbdServer.builder().submitter(submitter);
        if (maxInFlightBytes > 0) {
            b.maxInFlightBytesPerConnection(maxInFlightBytes);
        }
        if (maxInFlightRequests > 0) {
            b.maxInFlightRequestsPerConnection(maxInFlightRequests);
        }
        if (maxQueuedReadBytes > 0) {
            b.maxQueuedReadBytesPerConnection(maxQueuedReadBytes);
        }
        if (tlsCertificates != null) {
            b.tls(ServerTls.load(new TlsConfig(TlsMode.REQUIRE, new TlsConfig.X509(tlsCertificates, false))));
        }
        if (unix != null) {
            b.unix(unix);
        }
        if (tcp != null) {
            b.tcp(tcp.host(), tcp.port());
        }
        NbdServer server = b.build();
        for (int i = 0; i < devices.size(); i++) {
            server.addExport(NbdExport.of(exported.get(i)[1], devices.get(i)));
        }
        server.start();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            registry.close();
            closeAll(leaves);
            submitter.close();
            stopped.countDown();
        }));
        StringBuilder ready = new StringBuilder("ready tcp=" + server.tcpPort() + " unix=" + (unix == null ? "-" : unix));
        for (int i = 0; i < devices.size(); i++) {
            ready.append(" export='").append(exported.get(i)[1]).append("':").append(devices.get(i).name()).append(':')
                    .append(devices.get(i).capacitySectors());
        }
        System.out.println(ready);
        System.out.flush();
        stopped.await();
        return 0;
    }

    /** Writes {@code file} to the start of {@code device} in 1 MiB pieces, then flushes it. */
    private static void fill(dev.cairn.block.Submitter submitter, BlockDevice device, Path file, int lineNo) throws IOException {
        try (var ch = java.nio.channels.FileChannel.open(file)) {
            long size = ch.size();
            if (size % 512 != 0 || size > device.capacitySectors() * 512) {
                throw new IllegalArgumentException("line " + lineNo + ": fill: " + file + " (expected: whole sectors, at most "
                        + device.capacitySectors() * 512 + " bytes)");
            }
            java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(1 << 20);
            for (long pos = 0; pos < size; ) {
                buf.clear();
                int n = ch.read(buf, pos);
                n -= n % 512;
                dev.cairn.block.BioStatus s = dev.cairn.block.IoCompletion.submitAndWait(submitter, dev.cairn.block.Bio.alloc()
                        .setDevice(device).setOp(dev.cairn.block.BioOp.WRITE).setSector(pos / 512)
                        .setData(java.lang.foreign.MemorySegment.ofArray(buf.array()).asSlice(0, n)));
                if (!s.isOk()) {
                    throw new IOException("fill " + device.name() + " at byte " + pos + ": " + s);
                }
                pos += n;
            }
        }
        dev.cairn.block.BioStatus s = dev.cairn.block.IoCompletion.submitAndWait(submitter,
                dev.cairn.block.Bio.alloc().setDevice(device).setOp(dev.cairn.block.BioOp.FLUSH));
        if (!s.isOk()) {
            throw new IOException("fill " + device.name() + ": flush: " + s);
        }
    }

    /** Creates leaves and devices; returns {device or leaf name, export name} per export line, in order. */
    static List<String[]> build(List<String> lines, DeviceRegistry registry, List<AutoCloseable> leaves,
            Map<String, BlockDevice> leafDevices, FileStoreConfig fileConfig) throws DmException, IOException {
        Map<String, StringBuilder> tables = new LinkedHashMap<>();
        String current = null;
        List<String[]> exports = new ArrayList<>();
        int lineNo = 0;
        for (String raw : lines) {
            lineNo++;
            String line = raw.strip();
            int hash = line.indexOf('#');
            if (hash >= 0) {
                line = line.substring(0, hash).strip();
            }
            if (line.isEmpty()) {
                continue;
            }
            String[] w = line.split("\\s+");
            if (Character.isDigit(w[0].charAt(0))) {
                if (current == null) {
                    throw new IllegalArgumentException("line " + lineNo + ": a table line outside a device");
                }
                tables.get(current).append(line).append('\n');
                continue;
            }
            // A new directive ends the table being collected: create that device now, so later tables can use it.
            if (current != null) {
                registry.create(current, tables.get(current).toString());
                current = null;
            }
            switch (w[0]) {
                case "mem" -> {
                    need(w, 3, lineNo);
                    BlockDevice store = new MemoryStore(w[1], Sizes.parseBytes("size", w[2]));
                    if (w.length > 3 && w[3].equals("cache")) {
                        store = new CachedLeaf(store);
                    }
                    registry.addLeaf(w[1], store);
                    leafDevices.put(w[1], store);
                }
                case "file" -> {
                    need(w, 3, lineNo);
                    boolean direct = w.length > 3 && w[3].equals("direct");
                    FileStore store = FileStore.open(Path.of(w[2]),
                            fileConfig.withDirect(direct));
                    leaves.add(store);
                    registry.addLeaf(w[1], store);
                    leafDevices.put(w[1], store);
                }
                case "device" -> {
                    need(w, 2, lineNo);
                    current = w[1];
                    tables.put(current, new StringBuilder());
                }
                case "export" -> {
                    need(w, 2, lineNo);
                    exports.add(new String[] {w[1], w.length > 2 ? w[2] : ""});
                }
                case "message" -> {
                    need(w, 3, lineNo);
                    registry.message(w[1], 0, Arrays.copyOfRange(w, 2, w.length));
                }
                case "fill" -> {
                    need(w, 3, lineNo);
                    BlockDevice target = registry.find(w[1]).isPresent() ? registry.device(w[1]) : leafDevices.get(w[1]);
                    if (target == null) {
                        throw new IllegalArgumentException("line " + lineNo + ": fill: " + w[1] + " (expected: a device or leaf above it)");
                    }
                    fill(registry.submitter(), target, Path.of(w[2]), lineNo);
                }
                default -> throw new IllegalArgumentException("line " + lineNo + ": " + w[0]
                        + " (expected: mem, file, device, message, fill, export or a table line)");
            }
        }
        if (current != null) {
            registry.create(current, tables.get(current).toString());
        }
        if (exports.isEmpty()) {
            throw new IllegalArgumentException("export: missing (expected: at least one 'export NAME' line)");
        }
        return exports;
    }

    private static void need(String[] w, int n, int lineNo) {
        if (w.length < n) {
            throw new IllegalArgumentException("line " + lineNo + ": " + String.join(" ", w) + " (expected: at least "
                    + (n - 1) + " arguments)");
        }
    }

    private static void closeAll(List<AutoCloseable> list) {
        for (AutoCloseable c : list) {
            try {
                c.close();
            } catch (Exception e) {
                // shutting down: nothing useful to do
            }
        }
    }
}
