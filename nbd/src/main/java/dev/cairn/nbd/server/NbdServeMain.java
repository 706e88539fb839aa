package dev.cairn.nbd.server;

import dev.cairn.block.BlockDevice;
import dev.cairn.block.Sizes;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.store.FileStore;
import dev.cairn.block.store.FileStoreConfig;
import dev.cairn.block.store.MemoryStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;

/**
 * Serves one MemoryStore or file over NBD until killed; for benchmarks (nbd/bench/compare.sh) and tests,
 * not the product's CLI (that is {@code cairn serve}).
 *
 * <pre>
 * java -cp ... dev.cairn.nbd.server.NbdServeMain [--unix PATH] [--tcp HOST:PORT]
 *      (--memory SIZE | --file PATH [--size SIZE]) [--name NAME] [--read-only]
 *      [--tls on|require (--tls-certificates DIR [--tls-verify-peer] | --tls-psk FILE)]
 * </pre>
 * A file is served through {@link FileStore}; with {@code --size} a missing file is first created
 * (sparse), and an existing one must have that size. SIZE takes K, M, G, T suffixes (powers of 1024). Prints one line
 * {@code ready tcp=PORT unix=PATH} when serving.
 */
public final class NbdServeMain {
    private NbdServeMain() {}

    public static void main(String[] args) throws Exception {
        String unix = null;
        String tcp = null;
        Long memory = null;
        String file = null;
        Long size = null;
        String name = "";
        boolean readOnly = false;
        TlsMode tlsMode = TlsMode.OFF;
        String tlsCertificates = null;
        String tlsPsk = null;
        boolean tlsVerifyPeer = false;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--unix" -> unix = value(args, ++i, a);
                case "--tcp" -> tcp = value(args, ++i, a);
                case "--memory" -> memory = Sizes.parseBytes(a, value(args, ++i, a));
                case "--file" -> file = value(args, ++i, a);
                case "--size" -> size = Sizes.parseBytes(a, value(args, ++i, a));
                case "--name" -> name = value(args, ++i, a);
                case "--read-only" -> readOnly = true;
                case "--tls" -> tlsMode = TlsMode.parse(value(args, ++i, a));
                case "--tls-certificates" -> tlsCertificates = value(args, ++i, a);
                case "--tls-psk" -> tlsPsk = value(args, ++i, a);
                case "--tls-verify-peer" -> tlsVerifyPeer = true;
                default -> usage("unknown argument: " + a);
            }
        }
        if ((memory == null) == (file == null)) {
            usage("exactly one of --memory and --file is needed");
        }
        BlockDevice device;
        if (memory != null) {
            device = new MemoryStore("memory", memory);
        } else {
            Path path = Path.of(file);
            if (size != null && !Files.exists(path)) {
                FileStore.createSparse(path, size);
            } else if (size != null && Files.size(path) != size) {
                usage("--size: " + size + " (expected: " + Files.size(path) + ", the size of existing " + path + ")");
            }
            device = FileStore.open(path, FileStoreConfig.defaults().withReadOnly(readOnly));
        }
        Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
        NbdServer.Builder b = NbdServer.builder().submitter(submitter);
        if (tlsMode != TlsMode.OFF) {
            if ((tlsCertificates == null) == (tlsPsk == null)) {
                usage("--tls " + tlsMode + " needs exactly one of --tls-certificates and --tls-psk");
            }
            TlsConfig.Credentials creds = tlsPsk != null ? new TlsConfig.Psk(Path.of(tlsPsk))
                    : new TlsConfig.X509(Path.of(tlsCertificates), tlsVerifyPeer);
            b.tls(ServerTls.load(new TlsConfig(tlsMode, creds)));
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
    }

    private static String value(String[] args, int i, String option) {
        if (i >= args.length) {
            usage(option + " needs a value");
        }
        return args[i];
    }

    private static void usage(String why) {
        System.err.println("NbdServeMain: " + why);
        System.err.println("usage: NbdServeMain [--unix PATH] [--tcp HOST:PORT] (--memory SIZE | --file PATH [--size SIZE])"
                + " [--name NAME] [--read-only] [--tls on|require (--tls-certificates DIR [--tls-verify-peer] | --tls-psk FILE)]");
        System.exit(2);
    }
}
