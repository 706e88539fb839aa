package dev.cairn.cli;

import ch.qos.logback.classic.Level;
import dev.cairn.daemon.Daemon;
import dev.cairn.daemon.DaemonException;
import dev.cairn.daemon.ErrorKind;
import java.io.PrintWriter;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code cairn serve}: the daemon, in the foreground. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {
            "Run the Cairn daemon in the foreground: restore the devices of the state directory, serve them over NBD,",
            "and accept commands on the control socket. On first start it creates a 1 GiB sparse device vol0.",
            "SIGTERM or Ctrl-C stops it cleanly (I/O drained, stores flushed, exit 0)."})
final class ServeCommand implements Callable<Integer> {
    @Mixin StateDirOption stateDirOption;

    @Option(names = "--listen", paramLabel = "HOST[:PORT]", defaultValue = "127.0.0.1",
            description = "NBD TCP address (default: ${DEFAULT-VALUE}; loopback only). 0.0.0.0 serves every interface.")
    String listen;

    @Option(names = "--nbd-port", paramLabel = "PORT", description = "NBD TCP port (default: 10809; 0 picks a free port).")
    Integer nbdPort;

    @Option(names = "--no-tcp", description = "Serve NBD on the Unix socket only.")
    boolean noTcp;

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
        Daemon.Config config = new Daemon.Config(stateDirOption.resolve(), host, noTcp ? -1 : port, true, System.out);
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
        try {
            daemon = Daemon.start(config);
        } catch (DaemonException e) {
            err.println("cairn serve: " + e.getMessage());
            if (!e.hint().isEmpty()) {
                err.println("  hint: " + e.hint());
            }
            err.flush();
            return e.kind() == ErrorKind.USAGE ? CommandLine.ExitCode.USAGE : CommandLine.ExitCode.SOFTWARE;
        } catch (java.io.IOException e) {
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
        daemon.awaitStop();
        return CommandLine.ExitCode.OK;
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
