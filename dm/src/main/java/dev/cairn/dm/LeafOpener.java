package dev.cairn.dm;

import dev.cairn.block.BlockDevice;
import dev.cairn.block.store.FileStore;
import dev.cairn.block.store.FileStoreConfig;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Opens the file behind a {@code file:PATH} reference for {@link FileLeafType}. The default
 * ({@link #fileStore()}) opens a {@link FileStore}; tests may substitute their own. If the device
 * returned implements {@link AutoCloseable}, dm closes it when the last table that uses the path is
 * destroyed.
 */
@FunctionalInterface
public interface LeafOpener {
    /** Opens an existing file or block device; its size is the capacity. */
    BlockDevice open(Path path, boolean readOnly) throws IOException;

    /** The FileStore-backed opener. */
    static LeafOpener fileStore() {
        return (path, readOnly) -> FileStore.open(path, FileStoreConfig.defaults().withReadOnly(readOnly));
    }
}
