package dev.cairn.block.store;

/**
 * How a {@link FileStore} opens its file and where its system calls run.
 *
 * @param readOnly       open {@code O_RDONLY}; writes are refused with {@code PERM} by the submitter's checks
 * @param direct         open {@code O_DIRECT} (bypass the page cache); the logical block becomes 4096 bytes and
 *                       memory that is not 4096-aligned goes through aligned bounce buffers
 * @param ioThreads      0 (the default): the store's blocking system calls run on the process-wide pool that
 *                       every such store shares ({@code max(4, 2 × cores)} daemon threads {@code cairn-file-io-<n>});
 *                       1..256: on a private pool of that many threads {@code cairn-file-<file>-<n>}, for a store
 *                       that must not wait behind the others' I/O
 * @param inlineMaxBytes READs, and WRITEs without FUA or PREFLUSH, up to this size are first tried on the
 *                       submitting thread without blocking ({@code RWF_NOWAIT}: served from the page cache or
 *                       not at all) before being handed to a pool thread; 0 always hands them over. Ignored with
 *                       {@code direct}. 0..16 MiB
 */
public record FileStoreConfig(boolean readOnly, boolean direct, int ioThreads, int inlineMaxBytes) {
    /** The default {@link #inlineMaxBytes}: a 128 KiB page-cache copy takes a few microseconds. */
    public static final int DEFAULT_INLINE_MAX_BYTES = 128 << 10;
    private static final int MAX_INLINE_BYTES = 16 << 20;

    public FileStoreConfig {
        if (ioThreads < 0 || ioThreads > 256) {
            throw new IllegalArgumentException("ioThreads: " + ioThreads
                    + " (expected: 0 for the shared pool, or 1..256 for a private one)");
        }
        if (inlineMaxBytes < 0 || inlineMaxBytes > MAX_INLINE_BYTES) {
            throw new IllegalArgumentException("inlineMaxBytes: " + inlineMaxBytes + " (expected: 0.." + MAX_INLINE_BYTES + ")");
        }
    }

    /** The configuration before inline attempts existed: {@link #DEFAULT_INLINE_MAX_BYTES}. */
    public FileStoreConfig(boolean readOnly, boolean direct, int ioThreads) {
        this(readOnly, direct, ioThreads, DEFAULT_INLINE_MAX_BYTES);
    }

    /** Read-write, through the page cache, on the shared pool, small cached I/O inline. */
    public static FileStoreConfig defaults() {
        return new FileStoreConfig(false, false, 0, DEFAULT_INLINE_MAX_BYTES);
    }

    public FileStoreConfig withReadOnly(boolean value) {
        return new FileStoreConfig(value, direct, ioThreads, inlineMaxBytes);
    }

    public FileStoreConfig withDirect(boolean value) {
        return new FileStoreConfig(readOnly, value, ioThreads, inlineMaxBytes);
    }

    public FileStoreConfig withIoThreads(int value) {
        return new FileStoreConfig(readOnly, direct, value, inlineMaxBytes);
    }

    public FileStoreConfig withInlineMaxBytes(int value) {
        return new FileStoreConfig(readOnly, direct, ioThreads, value);
    }

    /** True when the store runs its blocking calls on the process-wide pool. */
    public boolean sharedPool() {
        return ioThreads == 0;
    }
}
