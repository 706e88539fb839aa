package dev.cairn.cli;

import ch.qos.logback.classic.Level;
import dev.cairn.daemon.Daemon;
import dev.cairn.daemon.DaemonException;
import dev.cairn.daemon.ErrorKind;
import dev.cairn.metrics.MetricsServer;
import dev.cairn.nbd.server.NbdServer;
import dev.cairn.nbd.server.ServerTls;
import dev.cairn.nbd.server.TlsConfig;
import dev.cairn.nbd.server.TlsMode;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine;

/** {@code cairn serve}: the daemon, in the foreground. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {
            "Run the Cairn daemon in the foreground.",
            "It restores the devices of the state directory, serves them over NBD and accepts commands on the",
            "control socket. On first start it creates a 1 GiB sparse device vol0.",
            "SIGTERM or Ctrl-C stops it cleanly (I/O drained, stores flushed, exit 0)."})
final class ServeCommand implements Callable<Integer> {
    @Mixin StateDirOption stateDirOption;

    @Option(names = "--listen", paramLabel = "HOST[:PORT]", defaultValue = "127.0.0.1",
            description = "NBD TCP address (default: ${DEFAULT-VALUE}; loopback only). 0.0.0.0 serves every interface, with --tls require or --allow-plaintext-remote.")
    String listen;

    @Option(names = "--nbd-port", paramLabel = "PORT", description = "NBD TCP port (default: 10809; 0 picks a free port).")
    Integer nbdPort;

    @Option(names = "--no-tcp", description = "Serve NBD on the Unix socket only.")
    boolean noTcp;

    @Option(names = "--tls", paramLabel = "off|on|require",
            description = {"NBD STARTTLS, as nbdkit's --tls: off (default without credentials), on (default with them:",
                "clients choose) or require (no option is answered, no export listed, before TLS)."})
    String tls;

    @Option(names = "--tls-certificates", paramLabel = "DIR",
            description = "X.509 credentials: DIR/ca-cert.pem, server-cert.pem, server-key.pem, optional ca-crl.pem (nbdkit's names).")
    java.nio.file.Path tlsCertificates;

    @Option(names = "--tls-verify-peer", description = "Require a client certificate signed by DIR/ca-cert.pem.")
    boolean tlsVerifyPeer;

    @Option(names = "--tls-psk", paramLabel = "FILE", description = "Pre-shared keys, psktool's username:hexkey lines.")
    java.nio.file.Path tlsPsk;

    @Option(names = "--allow-plaintext-remote",
            description = "Serve NBD without --tls require on an address other than loopback (refused by default).")
    boolean allowPlaintextRemote;

    @Option(names = "--handshake-limit", paramLabel = "SECONDS", defaultValue = "10",
            description = "Drop an NBD client that has not finished negotiating (TLS included) after SECONDS, as"
                    + " qemu-nbd's option (default: ${DEFAULT-VALUE}; 0: no limit).")
    long handshakeLimitSeconds;

    @Option(names = "--metrics", paramLabel = "[HOST:]PORT",
            description = "Serve Prometheus metrics on http://HOST:PORT/metrics (HOST defaults to 127.0.0.1). Off unless given.")
    String metrics;

    @Option(names = "--log-level", paramLabel = "LEVEL", defaultValue = "info",
            description = "error, warn, info, debug or trace (default: ${DEFAULT-VALUE}). Logs go to stderr.")
    String logLevel;

    @Spec CommandSpec spec;

    @Override
    public Integer call() throws Exception {
        PrintWriter err = spec.commandLine().getErr();
        String level = logLevel.toLowerCase(Locale.ROOT);
        if (!java.util.List.of("error", "warn", "info", "debug", "trace").contains(level)) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--log-level: " + logLevel + " (expected: error, warn, info, debug or trace)");
        }
        setLogLevel(level);
        String host = listen;
        int port = nbdPort == null ? Daemon.Config.DEFAULT_NBD_PORT : nbdPort;
        int colon = listen.lastIndexOf(':');
        if (colon > 0 && !listen.endsWith("]") && listen.indexOf(':') == colon) {
            host = listen.substring(0, colon);
            try {
                int p = Integer.parseInt(listen.substring(colon + 1));
                if (nbdPort == null) {
                    port = p;
                }
            } catch (NumberFormatException e) {
                throw new CommandLine.ParameterException(spec.commandLine(),
                        "--listen: " + listen + " (expected: HOST or HOST:PORT)");
            }
        }
        if (port < 0 || port > 65535) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--nbd-port: " + port + " (expected: 0 to 65535)");
        }
        if (host.startsWith("[") && host.endsWith("]")) {
            host = host.substring(1, host.length() - 1);
        }
        if (handshakeLimitSeconds < 0) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--handshake-limit: " + handshakeLimitSeconds + " (expected: >= 0; 0: no limit)");
        }
        TlsMode mode = tlsMode();
        if (!noTcp && mode != TlsMode.REQUIRE && !allowPlaintextRemote && !NbdServer.isLoopback(host)) {
            err.println("cairn serve: refusing to serve NBD in plaintext on " + host + ":" + port + ": anyone who can"
                    + " reach that address could read and overwrite every export, and the traffic can be read or"
                    + " changed on the way");
            err.println("  hint: require TLS (--tls require with --tls-certificates DIR or --tls-psk FILE), listen on"
                    + " 127.0.0.1, or add --allow-plaintext-remote on a network you trust");
            err.flush();
            return CommandLine.ExitCode.USAGE;
        }
        ServerTls serverTls = null;
        if (mode != TlsMode.OFF) {
            TlsConfig.Credentials creds = tlsPsk != null ? new TlsConfig.Psk(tlsPsk)
                    : new TlsConfig.X509(tlsCertificates, tlsVerifyPeer);
            try {
                serverTls = ServerTls.load(new TlsConfig(mode, creds));
            } catch (java.io.IOException e) {
                err.println("cairn serve: --tls " + mode + " but the TLS credentials cannot be loaded: " + e.getMessage());
                err.flush();
                return CommandLine.ExitCode.SOFTWARE;
            }
            ServerTls reloadable = serverTls;
            Signals.onHangup(() -> {
                try {
                    reloadable.reload();
                } catch (java.io.IOException | RuntimeException e) {
                    LoggerFactory.getLogger(ServeCommand.class).warn(
                            "SIGHUP: TLS credentials not reloaded, the old ones stay in use: {}", e.getMessage());
                }
            });
        }
        MetricsAddress metricsAddress = metrics == null ? null : MetricsAddress.parse(spec.commandLine(), metrics);
        Daemon.Config config = new Daemon.Config(stateDirOption.resolve(), host, noTcp ? -1 : port, true, System.out,
                serverTls, allowPlaintextRemote, java.time.Duration.ofSeconds(handshakeLimitSeconds));
        // Installed before the start, so a SIGTERM that arrives while it runs (or right after the banner)
        // still stops cleanly with exit 0: it is remembered and acted on once the daemon exists.
        AtomicReference<Daemon> running = new AtomicReference<>();
        AtomicBoolean stopRequested = new AtomicBoolean();
        Runnable stop = () -> {
            stopRequested.set(true);
            Daemon d = running.get();
            if (d != null) {
                d.stop();
            }
        };
        Signals.onTerminate(stop);
        Daemon daemon;
        MetricsServer metricsServer = null;
        try {
            // Bound first: a busy metrics port fails the start before the daemon creates anything.
            metricsServer = metricsAddress == null ? null : metricsAddress.start();
            daemon = Daemon.start(config);
        } catch (MetricsAddress.BindException e) {
            err.println("cairn serve: " + e.getMessage());
            err.flush();
            return CommandLine.ExitCode.SOFTWARE;
        } catch (DaemonException e) {
            closeQuietly(metricsServer);
            err.println("cairn serve: " + e.getMessage());
            if (!e.hint().isEmpty()) {
                err.println("  hint: " + e.hint());
            }
            err.flush();
            return e.kind() == ErrorKind.USAGE ? CommandLine.ExitCode.USAGE : CommandLine.ExitCode.SOFTWARE;
        } catch (java.io.IOException e) {
            closeQuietly(metricsServer);
            err.println("cairn serve: cannot start: " + e);
            err.flush();
            return CommandLine.ExitCode.SOFTWARE;
        }
        // SIGTERM/SIGINT stop the daemon and let main() exit 0; the hook covers every other way the JVM ends.
        running.set(daemon);
        Runtime.getRuntime().addShutdownHook(new Thread(daemon::stop, "cairn-shutdown"));
        if (stopRequested.get()) {
            daemon.stop();
        }
        if (metricsServer != null) {
            metricsServer.attach(daemon.metricsSources());
            LoggerFactory.getLogger(ServeCommand.class).info("metrics on http://{}/metrics",
                    metricsAddress.display(metricsServer.port()));
        }
        daemon.awaitStop();
        closeQuietly(metricsServer);
        return CommandLine.ExitCode.OK;
    }

    /** The TLS mode the options ask for; usage errors for contradictions. */
    private TlsMode tlsMode() {
        boolean creds = tlsCertificates != null || tlsPsk != null;
        TlsMode mode;
        if (tls == null) {
            mode = creds ? TlsMode.ON : TlsMode.OFF;
        } else {
            try {
                mode = TlsMode.parse(tls);
            } catch (IllegalArgumentException e) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--tls: " + tls + " (expected: off, on or require)");
            }
        }
        if (tlsCertificates != null && tlsPsk != null) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--tls-certificates and --tls-psk: both given (expected: one of them)");
        }
        if (tlsVerifyPeer && tlsCertificates == null) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--tls-verify-peer: without --tls-certificates (expected: X.509 credentials; PSK has no certificates)");
        }
        if (mode == TlsMode.OFF && creds) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--tls off: with " + (tlsPsk != null ? "--tls-psk" : "--tls-certificates") + " (expected: --tls on or require)");
        }
        if (mode != TlsMode.OFF && !creds) {
            throw new CommandLine.ParameterException(spec.commandLine(),
                    "--tls " + mode + ": no credentials (expected: --tls-certificates DIR or --tls-psk FILE)");
        }
        return mode;
    }

    private static void closeQuietly(MetricsServer m) {
        if (m != null) {
            m.close();
        }
    }

    static void setLogLevel(String level) {
        Logger root = LoggerFactory.getLogger(Logger.ROOT_LOGGER_NAME);
        if (root instanceof ch.qos.logback.classic.Logger lb) {
            lb.setLevel(Level.toLevel(level, Level.INFO));
        }
        // The libraries log through System.Logger, which slf4j-jdk-platform-logging on the class path sends
        // to SLF4J; java.util.logging (only the JDK's own loggers now) goes there through this bridge.
        org.slf4j.bridge.SLF4JBridgeHandler.removeHandlersForRootLogger();
        org.slf4j.bridge.SLF4JBridgeHandler.install();
        java.util.logging.Logger.getLogger("").setLevel(julLevel(level));
    }

    private static java.util.logging.Level julLevel(String level) {
        return switch (level) {
            case "error" -> java.util.logging.Level.SEVERE;
            case "warn" -> java.util.logging.Level.WARNING;
            case "info" -> java.util.logging.Level.INFO;
            case "debug" -> java.util.logging.Level.FINE;
            default -> java.util.logging.Level.FINEST;
        };
    }
}
