package dev.cairn.pdata;

import java.util.HashSet;
import java.util.Set;

/**
 * Copy-on-write of metadata blocks within a transaction (Linux {@code dm-transaction-manager}).
 *
 * <p>{@link #shadow} gives a writable copy of a block: the block itself when it was allocated or
 * shadowed in this transaction and is not shared (reference count 1); otherwise a new block with the
 * same bytes, the old block's count dropped by one. The caller learns whether the old block was shared
 * ({@code incChildren}), and then takes a reference to everything the block points to, since the copy
 * points to it too. So nothing reachable from the last committed superblock is ever overwritten, and a
 * crash before the superblock write leaves the old transaction whole.
 *
 * <p>Commit order ({@link #preCommit}, then the owner writes its superblock with {@link #commit}): the
 * space map writes its own structures, every dirty block is written, a FLUSH, then the superblock with
 * FUA.
 *
 * <p>Thread safety: none; one owner (the pool's metadata lock) makes every call.
 */
public final class TransactionManager {
    private final BlockManager bm;
    private MetadataSpaceMap sm;
    private final Set<Long> shadows = new HashSet<>();

    public TransactionManager(BlockManager bm) {
        this.bm = bm;
    }

    /** Attaches the metadata space map (it needs this manager to write itself, hence the two steps). */
    public void setSpaceMap(MetadataSpaceMap sm) {
        this.sm = sm;
    }

    public BlockManager blockManager() {
        return bm;
    }

    public MetadataSpaceMap spaceMap() {
        return sm;
    }

    /** A read-only look at a block. Callers must not change it. */
    public Block read(long location, BlockValidator validator) throws MetadataException {
        return bm.read(location, validator);
    }

    /** A new zeroed block, counted once, writable for the rest of the transaction. */
    public Block newBlock(BlockValidator validator) throws MetadataException {
        long b = sm.newBlock();
        shadows.add(b);
        return bm.zeroed(b, validator);
    }

    /** A writable copy of {@code location}; see the class comment. */
    public Shadow shadow(long location, BlockValidator validator) throws MetadataException {
        boolean shared = sm.count(location) > 1;
        if (!shared && shadows.contains(location)) {
            Block b = bm.read(location, validator);
            bm.markDirty(b);
            return new Shadow(b, false);
        }
        Block orig = bm.read(location, validator);
        byte[] copy = orig.bytes().clone();
        long nb = sm.newBlock();
        sm.dec(location);
        Block b = bm.zeroed(nb, validator);
        System.arraycopy(copy, 0, b.bytes(), 0, copy.length);
        shadows.add(nb);
        return new Shadow(b, shared);
    }

    /** A shadowed block and whether the original was shared (its children need one more reference). */
    public record Shadow(Block block, boolean incChildren) {}

    /** True when {@code location} was allocated or shadowed in this transaction. */
    public boolean isShadow(long location) {
        return shadows.contains(location);
    }

    /** Marks a block obtained through {@link #newBlock} or {@link #shadow} as changed. */
    public void markDirty(Block b) {
        bm.markDirty(b);
    }

    public void inc(long location) throws MetadataException {
        sm.inc(location);
    }

    public void dec(long location) throws MetadataException {
        sm.dec(location);
    }

    public long count(long location) throws MetadataException {
        return sm.count(location);
    }

    /** Commits the metadata space map and writes every dirty block, then a FLUSH. */
    public void preCommit() throws MetadataException {
        sm.commit(this);
        bm.flushDirty(true);
    }

    /** Writes the owner's superblock with FUA and starts a new transaction. */
    public void commit(Block superblock) throws MetadataException {
        bm.writeFua(superblock);
        shadows.clear();
        sm.transactionCommitted();
    }

    /** Forgets this transaction's shadows (the owner reopens from the last commit). */
    public void abort() {
        shadows.clear();
        bm.invalidateAll();
    }
}
