package dev.cairn.dm;

import dev.cairn.block.BlockDevice;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Opens the leaf behind a {@code file:PATH} reference. The default
 * ({@link #fileStore()}) opens a {@code dev.cairn.block.store.FileStore}; tests may substitute their
 * own. If the device returned implements {@link AutoCloseable}, dm closes it when the last table that
 * uses the path is destroyed.
 */
@FunctionalInterface
public interface LeafOpener {
    /** Opens an existing file or block device; its size is the capacity. */
    BlockDevice open(Path path, boolean readOnly) throws IOException;

    /** The FileStore-backed opener. */
    static LeafOpener fileStore() {
        return FileLeaves::open;
    }
}
