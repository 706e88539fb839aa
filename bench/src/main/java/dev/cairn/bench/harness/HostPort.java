package dev.cairn.bench.harness;

import picocli.CommandLine;

/**
 * A {@code HOST:PORT} listen address given on a command line (the port may be 0: any free one).
 *
 * @param host the host name or address
 * @param port 0..65535
 */
record HostPort(String host, int port) {
    /** Parses {@code HOST:PORT} for picocli; a bad value is a usage error (exit 2). */
    static final class Converter implements CommandLine.ITypeConverter<HostPort> {
        @Override
        public HostPort convert(String value) {
            int colon = value.lastIndexOf(':');
            int port = -1;
            if (colon > 0) {
                try {
                    port = Integer.parseInt(value.substring(colon + 1));
                } catch (NumberFormatException e) {
                    port = -1;
                }
            }
            if (port < 0 || port > 65535) {
                throw new CommandLine.TypeConversionException(value + " (expected: HOST:PORT, PORT 0..65535)");
            }
            return new HostPort(value.substring(0, colon), port);
        }
    }
}
