package dev.cairn.block.store;

/**
 * How a {@link FileStore} opens its file.
 *
 * @param readOnly  open {@code O_RDONLY}; writes are refused with {@code PERM} by the submitter's checks
 * @param direct    open {@code O_DIRECT} (bypass the page cache); the logical block becomes 4096 bytes and
 *                  memory that is not 4096-aligned goes through aligned bounce buffers
 * @param ioThreads threads of the store's executor, which runs the system calls and completes the bios (1..256)
 */
public record FileStoreConfig(boolean readOnly, boolean direct, int ioThreads) {

    public FileStoreConfig {
        if (ioThreads < 1 || ioThreads > 256) {
            throw new IllegalArgumentException("ioThreads: " + ioThreads + " (expected: 1..256)");
        }
    }

    /** Read-write, through the page cache, 4 I/O threads. */
    public static FileStoreConfig defaults() {
        return new FileStoreConfig(false, false, 4);
    }

    public FileStoreConfig withReadOnly(boolean value) {
        return new FileStoreConfig(value, direct, ioThreads);
    }

    public FileStoreConfig withDirect(boolean value) {
        return new FileStoreConfig(readOnly, value, ioThreads);
    }

    public FileStoreConfig withIoThreads(int value) {
        return new FileStoreConfig(readOnly, direct, value);
    }
}
