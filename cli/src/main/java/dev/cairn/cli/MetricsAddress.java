package dev.cairn.cli;

import dev.cairn.metrics.MetricsServer;
import java.io.IOException;
import picocli.CommandLine;

/**
 * The address of {@code serve --metrics}: {@code PORT}, {@code HOST:PORT} or {@code [V6]:PORT};
 * loopback (127.0.0.1) when no host is given, so metrics are never exposed by accident.
 *
 * @param host the host to bind (a name or a literal address, brackets removed)
 * @param port 0 to 65535 (0 picks a free port)
 */
record MetricsAddress(String host, int port) {
    static final String DEFAULT_HOST = "127.0.0.1";

    /** Thrown when the address cannot be bound; its message names the address and the reason. */
    static final class BindException extends Exception {
        BindException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    static MetricsAddress parse(CommandLine cmd, String text) {
        String host = DEFAULT_HOST;
        String port = text;
        int colon = text.lastIndexOf(':');
        if (colon >= 0) {
            host = text.substring(0, colon);
            port = text.substring(colon + 1);
            if (host.startsWith("[") && host.endsWith("]")) {
                host = host.substring(1, host.length() - 1);
            } else if (host.contains(":")) {
                throw usage(cmd, text);
            }
            if (host.isEmpty()) {
                host = DEFAULT_HOST;
            }
        }
        if (host.isBlank() || host.chars().anyMatch(Character::isWhitespace)) {
            throw usage(cmd, text);
        }
        int p;
        try {
            p = Integer.parseInt(port);
        } catch (NumberFormatException e) {
            throw usage(cmd, text);
        }
        if (p < 0 || p > 65535) {
            throw new CommandLine.ParameterException(cmd, "--metrics: " + text + " (expected: a port from 0 to 65535)");
        }
        return new MetricsAddress(host, p);
    }

    private static CommandLine.ParameterException usage(CommandLine cmd, String text) {
        return new CommandLine.ParameterException(cmd, "--metrics: " + text + " (expected: PORT, HOST:PORT or [IPV6]:PORT)");
    }

    MetricsServer start() throws BindException {
        try {
            return MetricsServer.start(host, port);
        } catch (IOException | RuntimeException e) {
            String why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
            throw new BindException("--metrics " + display(port) + ": cannot listen: " + why, e);
        }
    }

    /** {@code host:port}, with brackets around an IPv6 literal. */
    String display(int boundPort) {
        return (host.contains(":") ? "[" + host + "]" : host) + ":" + boundPort;
    }
}
