package dev.cairn.thin;

/**
 * A pool's mode (Linux {@code enum pool_mode}), in order of degradation. A pool never leaves
 * {@link #FAIL}; with needs_check set it cannot return to {@link #WRITE}.
 */
public enum PoolMode {
    /** Normal: provisioning, breaking sharing, discards. */
    WRITE,
    /** No free data block: bios that need one are queued (or fail with ENOSPC). */
    OUT_OF_DATA_SPACE,
    /** No free metadata block outside the reserve: read-only, reported as {@code ro}. */
    OUT_OF_METADATA_SPACE,
    /** Metadata may not change: reads and writes to mapped, unshared blocks only. */
    READ_ONLY,
    /** Every bio fails. */
    FAIL
}
