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
import dev.cairn.dm.LeafOpener;
import dev.cairn.dm.RegistryOptions;
import dev.cairn.dm.TargetType;
import dev.cairn.dm.TargetTypes;
import dev.cairn.nbd.server.NbdExport;
import dev.cairn.nbd.server.NbdServer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.InstantSource;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.concurrent.CountDownLatch;

/**
 * Builds a device-mapper stack from a small stack file and serves one of its devices over NBD until
 * killed: the Cairn side of {@code bench/compare.sh} and {@code bench/soak.sh}, without the daemon.
 *
 * <pre>
 * java -cp bench/target/benchmarks.jar dev.cairn.bench.harness.StackServeMain
 *      --stack FILE [--unix PATH] [--tcp HOST:PORT] [--watchdog-ms N] [--policy P] [--io-threads N]
 *      [--inline-max-bytes SIZE] [--inline-read-max-bytes SIZE] [--inline-write-max-bytes SIZE]
 *      [--max-in-flight-bytes SIZE] [--max-in-flight-requests N] [--max-queued-read-bytes SIZE]
 * </pre>
 *
 * <p>The stack file, one directive per line ({@code #} starts a comment):
 * <pre>
 * mem   NAME SIZE              a MemoryStore leaf (SIZE with K, M, G suffixes)
 * file  NAME PATH [direct]     a FileStore leaf over an existing file
 * device NAME                  a mapped device; the dmsetup table lines that follow are its table
 * 0 2097152 linear base 0
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
public final class StackServeMain {
    private StackServeMain() {}

    /** Exit status when the stack file cannot be turned into devices. */
    static final int EXIT_STACK = 3;

    public static void main(String[] args) throws Exception {
        String unix = null;
        String tcp = null;
        Path stackFile = null;
        long watchdogMillis = 5000;
        SubmitPolicy policy = SubmitPolicy.FLUSH_ON_BLOCK;
        FileStoreConfig fileConfig = FileStoreConfig.defaults();
        long maxInFlightBytes = 0;
        int maxInFlightRequests = 0;
        long maxQueuedReadBytes = 0;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--unix" -> unix = value(args, ++i, a);
                case "--tcp" -> tcp = value(args, ++i, a);
                case "--stack" -> stackFile = Path.of(value(args, ++i, a));
                case "--watchdog-ms" -> watchdogMillis = Long.parseLong(value(args, ++i, a));
                case "--policy" -> policy = SubmitPolicy.valueOf(value(args, ++i, a).toUpperCase(Locale.ROOT));
                case "--io-threads" -> fileConfig = fileConfig.withIoThreads(Integer.parseInt(value(args, ++i, a)));
                case "--inline-max-bytes" ->
                        fileConfig = fileConfig.withInlineMaxBytes((int) Sizes.parseBytes(a, value(args, ++i, a)));
                case "--inline-write-max-bytes" ->
                        fileConfig = fileConfig.withInlineWriteMaxBytes((int) Sizes.parseBytes(a, value(args, ++i, a)));
                case "--inline-read-max-bytes" ->
                        fileConfig = fileConfig.withInlineReadMaxBytes((int) Sizes.parseBytes(a, value(args, ++i, a)));
                case "--max-in-flight-bytes" -> maxInFlightBytes = Sizes.parseBytes(a, value(args, ++i, a));
                case "--max-in-flight-requests" -> maxInFlightRequests = Integer.parseInt(value(args, ++i, a));
                case "--max-queued-read-bytes" -> maxQueuedReadBytes = Sizes.parseBytes(a, value(args, ++i, a));
                default -> usage("unknown argument: " + a);
            }
        }
        if (stackFile == null) {
            usage("--stack is needed");
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
                new RegistryOptions(InstantSource.system(), LeafOpener.fileStore(), targetTypes(), 1024));
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
            System.exit(EXIT_STACK);
            return;
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
        if (unix != null) {
            b.unix(Path.of(unix));
        }
        if (tcp != null) {
            int colon = tcp.lastIndexOf(':');
            if (colon < 0) {
                usage("--tcp: " + tcp + " (expected: HOST:PORT)");
            }
            b.tcp(tcp.substring(0, colon), Integer.parseInt(tcp.substring(colon + 1)));
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
                    MemoryStore store = new MemoryStore(w[1], Sizes.parseBytes("size", w[2]));
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
                default -> throw new IllegalArgumentException("line " + lineNo + ": " + w[0]
                        + " (expected: mem, file, device, export or a table line)");
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

    /**
     * The target types on the class path, skipping a provider that cannot be loaded (a services entry whose
     * class is not built yet) instead of failing, so the rows that do not need it can still be measured.
     */
    static TargetTypes targetTypes() {
        List<TargetType> found = new ArrayList<>();
        Iterator<TargetType> it = ServiceLoader.load(TargetType.class, StackServeMain.class.getClassLoader()).iterator();
        while (true) {
            try {
                if (!it.hasNext()) {
                    break;
                }
                found.add(it.next());
            } catch (ServiceConfigurationError e) {
                System.err.println("StackServeMain: skipping a target type: " + e.getMessage());
            }
        }
        return TargetTypes.of(found.toArray(TargetType[]::new));
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

    private static String value(String[] args, int i, String option) {
        if (i >= args.length) {
            usage(option + " needs a value");
        }
        return args[i];
    }

    private static void usage(String why) {
        System.err.println("StackServeMain: " + why);
        System.err.println("usage: StackServeMain --stack FILE [--unix PATH] [--tcp HOST:PORT] [--watchdog-ms N]"
                + " [--policy LEGACY|FLUSH_ON_BLOCK|DEPTH_FIRST] [--io-threads N]"
                + " [--inline-max-bytes SIZE] [--inline-read-max-bytes SIZE] [--inline-write-max-bytes SIZE]"
                + " [--max-in-flight-bytes SIZE] [--max-in-flight-requests N] [--max-queued-read-bytes SIZE]");
        System.exit(2);
    }
}
