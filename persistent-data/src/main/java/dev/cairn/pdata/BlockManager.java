package dev.cairn.pdata;

import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.Submitter;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;

/**
 * 4 KiB metadata blocks over a {@link BlockDevice} with a bounded cache (Linux
 * {@code dm-block-manager} over {@code dm-bufio}).
 *
 * <p>Blocks are read through a {@link BlockValidator}, which checks the location and checksum; a block
 * already cached under another validator is refused, as the kernel does. Changed blocks are marked
 * dirty and written (stamped by their validator) by {@link #flushDirty}, or earlier when the cache
 * evicts them. Writing a dirty block early is safe: the transaction manager only changes blocks that
 * the committed superblock cannot reach.
 *
 * <p>The cache is an LRU of at most {@code cacheBlocks} entries, trimmed only in {@link #trim()}, which
 * the owner calls between operations when it holds no {@link Block}. So a block handed out stays valid
 * for the whole operation that uses it, without lock counts.
 *
 * <p>Thread safety: none. The owner (a pool's metadata, under its lock) makes every call.
 */
public final class BlockManager {
    /** Metadata block size in bytes ({@code THIN_METADATA_BLOCK_SIZE}). */
    public static final int BLOCK_SIZE = 4096;
    /** Sectors (512 bytes) per metadata block. */
    public static final int SECTORS_PER_BLOCK = BLOCK_SIZE / 512;

    private final BlockIo io;
    private final int cacheBlocks;
    private final LinkedHashMap<Long, Block> cache = new LinkedHashMap<>(256, 0.75f, true);
    private long reads;
    private long writes;

    public BlockManager(Submitter submitter, BlockDevice device, int cacheBlocks) {
        if (cacheBlocks < 16) {
            throw new IllegalArgumentException("cacheBlocks: " + cacheBlocks + " (expected: >= 16)");
        }
        this.io = new BlockIo(submitter, device);
        this.cacheBlocks = cacheBlocks;
    }

    public BlockDevice device() {
        return io.device();
    }

    /** Whole 4 KiB blocks on the device now. */
    public long nrBlocks() {
        return io.device().capacitySectors() / SECTORS_PER_BLOCK;
    }

    /** Reads block {@code location} (from the cache if there) and checks it with {@code validator}. */
    public Block read(long location, BlockValidator validator) throws MetadataException {
        checkLocation(location);
        Block b = cache.get(location);
        if (b != null) {
            if (b.validator != validator) {
                throw new MetadataException("block " + location + " is cached as " + name(b.validator)
                        + " (expected: " + validator.name() + ")");
            }
            return b;
        }
        byte[] bytes = new byte[BLOCK_SIZE];
        io.read(location * SECTORS_PER_BLOCK, bytes);
        reads++;
        b = new Block(location, bytes, validator);
        validator.check(b.data(), location);
        cache.put(location, b);
        return b;
    }

    /** Reads block {@code location} from the device without checks or caching (to tell an unformatted device). */
    public void readRaw(long location, byte[] into) throws MetadataException {
        checkLocation(location);
        io.read(location * SECTORS_PER_BLOCK, into);
        reads++;
    }

    /** Block {@code location} as all zeros, dirty, without reading it ({@code dm_bm_write_lock_zero}). */
    public Block zeroed(long location, BlockValidator validator) throws MetadataException {
        checkLocation(location);
        Block b = new Block(location, new byte[BLOCK_SIZE], validator);
        b.dirty = true;
        cache.put(location, b);
        return b;
    }

    /** Records that {@code block} changed: it is written by the next {@link #flushDirty}. */
    public void markDirty(Block block) {
        block.dirty = true;
    }

    /** Writes every dirty block, all at once, and waits; then, unless {@code noFlush}, an empty FLUSH. */
    public void flushDirty(boolean flush) throws MetadataException {
        List<Block> dirty = new ArrayList<>();
        for (Block b : cache.values()) {
            if (b.dirty) {
                dirty.add(b);
            }
        }
        writeBlocks(dirty, 0);
        if (flush) {
            io.flush();
        }
    }

    /** Writes {@code block} now with FUA (the superblock at commit) and marks it clean. */
    public void writeFua(Block block) throws MetadataException {
        writeBlocks(List.of(block), BioFlags.FUA);
    }

    private void writeBlocks(List<Block> blocks, int flags) throws MetadataException {
        if (blocks.isEmpty()) {
            return;
        }
        List<BlockIo.Request> requests = new ArrayList<>(blocks.size());
        for (Block b : blocks) {
            b.validator.prepareForWrite(b.data(), b.location());
            requests.add(new BlockIo.Request(BioOp.WRITE, flags, b.location() * SECTORS_PER_BLOCK,
                    MemorySegment.ofArray(b.bytes())));
        }
        io.run(requests);
        writes += blocks.size();
        for (Block b : blocks) {
            b.dirty = false;
        }
    }

    /** Evicts the least recently used blocks beyond the cache size, writing dirty ones first. */
    public void trim() throws MetadataException {
        int excess = cache.size() - cacheBlocks;
        if (excess <= 0) {
            return;
        }
        List<Block> victims = new ArrayList<>(excess);
        Iterator<Block> it = cache.values().iterator();
        while (victims.size() < excess && it.hasNext()) {
            victims.add(it.next());
        }
        List<Block> dirty = new ArrayList<>();
        for (Block b : victims) {
            if (b.dirty) {
                dirty.add(b);
            }
        }
        writeBlocks(dirty, 0);
        for (Block b : victims) {
            cache.remove(b.location());
        }
    }

    /** Forgets every cached block, dirty ones included (an aborted transaction). */
    public void invalidateAll() {
        cache.clear();
    }

    /** Forgets one cached block (clean or not). */
    public void forget(long location) {
        cache.remove(location);
    }

    /** Blocks read from and written to the device so far, and cached now. */
    public record Stats(long reads, long writes, int cached, int cacheBlocks) {}

    public Stats stats() {
        return new Stats(reads, writes, cache.size(), cacheBlocks);
    }

    private void checkLocation(long location) throws MetadataException {
        long n = nrBlocks();
        if (location < 0 || location >= n) {
            throw new MetadataException("block " + location + " (expected: below " + n + ", the metadata device's blocks)");
        }
    }

    private static String name(BlockValidator v) {
        return v == null ? "raw" : v.name();
    }

    @Override
    public String toString() {
        return "BlockManager[" + io.device().name() + ", " + cache.size() + " cached]";
    }
}
