package dev.cairn.dm;

import dev.cairn.block.BlockDevice;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * {@code file:PATH}: a file or block device opened through a {@link LeafOpener} (a
 * {@code FileStore} by default), shared by every reference to the same normalized absolute path.
 *
 * <p>Thread safety: immutable; the opener must be safe for concurrent calls.
 */
public final class FileLeafType implements LeafType {
    static final String PREFIX = "file:";

    private final LeafOpener opener;

    /** The FileStore-backed type ServiceLoader finds. */
    public FileLeafType() {
        this(LeafOpener.fileStore());
    }

    /** A type that opens paths with {@code opener} (tests substitute their own). */
    public FileLeafType(LeafOpener opener) {
        this.opener = Objects.requireNonNull(opener, "opener");
    }

    @Override
    public String scheme() {
        return "file";
    }

    @Override
    public String syntax() {
        return "file:PATH";
    }

    @Override
    public String checkSyntax(String spec) {
        return spec.startsWith(PREFIX) && spec.length() > PREFIX.length() ? null : "file:PATH with a path";
    }

    @Override
    public Optional<String> shareKey(String spec) {
        return Optional.of(PREFIX + path(spec));
    }

    @Override
    public BlockDevice open(String spec, String holderName) throws IOException {
        Path path = path(spec);
        try {
            return opener.open(path, false);
        } catch (IOException | RuntimeException e) {
            throw new IOException("an existing file or block device; " + e.getMessage(), e);
        }
    }

    private static Path path(String spec) {
        return Path.of(spec.substring(PREFIX.length())).toAbsolutePath().normalize();
    }
}
