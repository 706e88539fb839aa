package dev.cairn.nbd.client;

import dev.cairn.block.BlockDevice;
import dev.cairn.dm.LeafType;
import java.io.IOException;
import java.util.Optional;

/**
 * The {@code nbd:} leaf: {@code nbd://HOST[:PORT]/EXPORT} (and, as {@link Unix}, {@code nbd+unix:///EXPORT?socket=PATH};
 * with TLS, as {@link Tls} and {@link TlsUnix}, the {@code nbds} schemes) in a table opens an {@link NbdClientDevice}.
 * References with the same URI share one client.
 *
 * <p>Thread safety: stateless.
 */
public class NbdLeafType implements LeafType {
    private final String scheme;

    public NbdLeafType() {
        this("nbd");
    }

    NbdLeafType(String scheme) {
        this.scheme = scheme;
    }

    /** {@code nbd+unix:///EXPORT?socket=PATH}. */
    public static final class Unix extends NbdLeafType {
        public Unix() {
            super("nbd+unix");
        }
    }

    /** {@code nbds://HOST[:PORT]/EXPORT?tls-certificates=DIR} and the like: TLS required. */
    public static final class Tls extends NbdLeafType {
        public Tls() {
            super("nbds");
        }
    }

    /** {@code nbds+unix:///EXPORT?socket=PATH&tls-psk-file=FILE} and the like: TLS required. */
    public static final class TlsUnix extends NbdLeafType {
        public TlsUnix() {
            super("nbds+unix");
        }
    }

    @Override
    public String scheme() {
        return scheme;
    }

    @Override
    public String syntax() {
        return switch (scheme) {
            case "nbd" -> "nbd://HOST[:PORT]/EXPORT";
            case "nbd+unix" -> "nbd+unix:///EXPORT?socket=PATH";
            case "nbds" -> "nbds://HOST[:PORT]/EXPORT?tls-certificates=DIR|tls-psk-file=FILE[&tls-username=USER]";
            default -> "nbds+unix:///EXPORT?socket=PATH&tls-certificates=DIR|tls-psk-file=FILE[&tls-username=USER]";
        };
    }

    @Override
    public String checkSyntax(String spec) {
        try {
            NbdUri.parse(spec, NbdClientConfig.defaults());
            return null;
        } catch (IllegalArgumentException e) {
            String m = e.getMessage();
            int at = m.indexOf("(expected: ");
            return at < 0 ? m : m.substring(at + "(expected: ".length(), m.length() - 1);
        }
    }

    @Override
    public Optional<String> shareKey(String spec) {
        return Optional.of(spec);
    }

    @Override
    public BlockDevice open(String spec, String holderName) throws IOException {
        NbdUri uri = NbdUri.parse(spec, NbdClientConfig.defaults());
        try {
            return NbdClientDevice.open(uri);
        } catch (IOException e) {
            throw new IOException("a reachable NBD export; " + e.getMessage(), e);
        }
    }
}
