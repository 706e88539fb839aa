package dev.cairn.thin;

import dev.cairn.block.Bio;

/**
 * Test hooks that make races deterministic (latches in tests); the default does nothing.
 * Package-private: only tests in this package install them.
 */
interface ThinHooks {
    ThinHooks NONE = new ThinHooks() { };

    /** In a thin target's {@code map}, on the mapping thread, before the metadata lock is taken. */
    default void beforeMapLookup(Bio clone, long devId, long vblock) {}

    /** On the pool's worker, holding the cell of the block (no lock), before a write or discard looks the block up. */
    default void cellHeld(Bio clone, long devId, long vblock) {}

    /** On the pool's worker, holding the cell of the block and the metadata lock, right after allocating a data block. */
    default void provisioningLocked(long devId, long vblock, long dataBlock) {}

    /** On the pool's worker, holding the metadata lock: {@code clone} was queued until data space comes back. */
    default void parkedForSpace(Bio clone) {}

    /** On the pool's worker, after a commit. */
    default void afterCommit(long commits) {}
}
