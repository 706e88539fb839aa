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
 * @param inlineReadMaxBytes  READs up to this size are first tried on the submitting thread without blocking
 *                            ({@code RWF_NOWAIT}: served from the page cache or not at all) before being handed to
 *                            a pool thread; 0 always hands them over. Ignored with {@code direct}. 0..16 MiB
 * @param inlineWriteMaxBytes the same for WRITEs without FUA or PREFLUSH (and, where the file system refuses
 *                            {@code RWF_NOWAIT} writes, the largest write a virtual thread does itself). 0..16 MiB
 */
public record FileStoreConfig(boolean readOnly, boolean direct, int ioThreads, int inlineReadMaxBytes,
        int inlineWriteMaxBytes) {
    /**
     * The default {@link #inlineReadMaxBytes}. An {@code RWF_NOWAIT} read never waits for the disk, and a reader
     * that copies a large cached read itself hands the reply on while the data is still in its CPU cache: over
     * loopback TCP, 1 MiB reads and nbdcopy's 256 KiB reads used about a third less CPU than with the pool
     * thread's copy (docs/benchmarks/harness.md, "Large reads over TCP").
     */
    public static final int DEFAULT_INLINE_READ_MAX_BYTES = 1 << 20;
    /** The default {@link #inlineWriteMaxBytes}: a 128 KiB page-cache copy takes a few microseconds. */
    public static final int DEFAULT_INLINE_WRITE_MAX_BYTES = 128 << 10;
    private static final int MAX_INLINE_BYTES = 16 << 20;

    public FileStoreConfig {
        if (ioThreads < 0 || ioThreads > 256) {
            throw new IllegalArgumentException("ioThreads: " + ioThreads
                    + " (expected: 0 for the shared pool, or 1..256 for a private one)");
        }
        if (inlineReadMaxBytes < 0 || inlineReadMaxBytes > MAX_INLINE_BYTES) {
            throw new IllegalArgumentException("inlineReadMaxBytes: " + inlineReadMaxBytes
                    + " (expected: 0.." + MAX_INLINE_BYTES + ")");
        }
        if (inlineWriteMaxBytes < 0 || inlineWriteMaxBytes > MAX_INLINE_BYTES) {
            throw new IllegalArgumentException("inlineWriteMaxBytes: " + inlineWriteMaxBytes
                    + " (expected: 0.." + MAX_INLINE_BYTES + ")");
        }
    }

    /** The given pool, with the default inline limits. */
    public FileStoreConfig(boolean readOnly, boolean direct, int ioThreads) {
        this(readOnly, direct, ioThreads, DEFAULT_INLINE_READ_MAX_BYTES, DEFAULT_INLINE_WRITE_MAX_BYTES);
    }

    /** Read-write, through the page cache, on the shared pool, small cached I/O inline. */
    public static FileStoreConfig defaults() {
        return new FileStoreConfig(false, false, 0);
    }

    public FileStoreConfig withReadOnly(boolean value) {
        return new FileStoreConfig(value, direct, ioThreads, inlineReadMaxBytes, inlineWriteMaxBytes);
    }

    public FileStoreConfig withDirect(boolean value) {
        return new FileStoreConfig(readOnly, value, ioThreads, inlineReadMaxBytes, inlineWriteMaxBytes);
    }

    public FileStoreConfig withIoThreads(int value) {
        return new FileStoreConfig(readOnly, direct, value, inlineReadMaxBytes, inlineWriteMaxBytes);
    }

    public FileStoreConfig withInlineReadMaxBytes(int value) {
        return new FileStoreConfig(readOnly, direct, ioThreads, value, inlineWriteMaxBytes);
    }

    public FileStoreConfig withInlineWriteMaxBytes(int value) {
        return new FileStoreConfig(readOnly, direct, ioThreads, inlineReadMaxBytes, value);
    }

    /** Both inline limits set to {@code value} (0: every bio goes to the pool). */
    public FileStoreConfig withInlineMaxBytes(int value) {
        return new FileStoreConfig(readOnly, direct, ioThreads, value, value);
    }

    /** True when the store runs its blocking calls on the process-wide pool. */
    public boolean sharedPool() {
        return ioThreads == 0;
    }
}
