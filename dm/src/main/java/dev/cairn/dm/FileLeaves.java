package dev.cairn.dm;

import dev.cairn.block.BlockDevice;
import dev.cairn.block.store.FileStore;
import dev.cairn.block.store.FileStoreConfig;
import java.io.IOException;
import java.nio.file.Path;

/** Opens {@code file:} leaves as {@link FileStore}s with the default configuration. */
final class FileLeaves {
    private FileLeaves() {}

    static BlockDevice open(Path path, boolean readOnly) throws IOException {
        return FileStore.open(path, FileStoreConfig.defaults().withReadOnly(readOnly));
    }
}
