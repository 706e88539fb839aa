package dev.cairn.dm;

import dev.cairn.block.BlockDevice;
import java.io.IOException;
import java.nio.file.Path;

/** Opens {@code file:} leaves. FileStore is not on main yet; until it is, {@code file:} reports that. */
final class FileLeaves {
    private FileLeaves() {}

    static BlockDevice open(Path path, boolean readOnly) throws IOException {
        throw new IOException("file leaves are not available in this build");
    }
}
