package dev.cairn.thin;

import dev.cairn.block.BlockDevice;
import dev.cairn.dm.SharedKey;
import dev.cairn.dm.TableException;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * The pools of one device registry, by pool device (Linux {@code dm_thin_pool_table}): a reload of a
 * pool device's table gets the same {@link Pool}, and a {@code thin} target finds its pool through the
 * device named in its table. Counted references: every pool and thin target holds one; the last
 * release closes the pool.
 *
 * <p>Thread safety: all methods synchronized; nothing inside waits for I/O except the final close.
 */
final class PoolRegistry {
    static final SharedKey<PoolRegistry> KEY = SharedKey.of("thin pools", PoolRegistry.class);

    @FunctionalInterface
    interface PoolFactory {
        Pool create() throws TableException;
    }

    private final Map<BlockDevice, Pool> pools = new IdentityHashMap<>();

    /** The pool of {@code poolDevice}, made by {@code factory} when there is none yet; one more reference. */
    synchronized Pool acquire(BlockDevice poolDevice, PoolFactory factory) throws TableException {
        Pool p = pools.get(poolDevice);
        if (p == null) {
            p = factory.create();
            pools.put(poolDevice, p);
        }
        p.refs++;
        return p;
    }

    /** The pool whose device is {@code poolDevice}, with one more reference, or null when it is not a pool. */
    synchronized Pool find(BlockDevice poolDevice) {
        Pool p = pools.get(poolDevice);
        if (p != null) {
            p.refs++;
        }
        return p;
    }

    /** Drops a reference; the last one closes the pool. */
    void release(Pool pool) {
        boolean last;
        synchronized (this) {
            last = --pool.refs == 0;
            if (last) {
                pools.values().remove(pool);
            }
        }
        if (last) {
            pool.close();
        }
    }
}
