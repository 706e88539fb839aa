package dev.cairn.nbd.server;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.Sectors;
import dev.cairn.block.store.MemoryStore;
import java.lang.foreign.MemorySegment;
import java.util.HashSet;
import java.util.Set;

/**
 * A device with a volatile write cache: writes land in a cache (what reads see) and become durable only
 * with a FLUSH, which makes every write completed before it durable, whichever connection sent it.
 * {@link #durable} is what would survive a power cut.
 */
final class CacheDevice implements BlockDevice {
    private static final int PAGE = 4096;
    private final MemoryStore cache;
    private final byte[] durable;
    private final Set<Long> dirtyPages = new HashSet<>(); // @GuardedBy("this")
    private final QueueLimits limits;

    CacheDevice(String name, int capacityBytes) {
        this.cache = new MemoryStore(name, capacityBytes);
        this.durable = new byte[capacityBytes];
        this.limits = cache.limits().withCache(true, false);
    }

    @Override
    public String name() {
        return cache.name();
    }

    @Override
    public long capacitySectors() {
        return cache.capacitySectors();
    }

    @Override
    public QueueLimits limits() {
        return limits;
    }

    @Override
    public void submitBio(Bio bio) {
        if (bio.op() == BioOp.FLUSH) {
            flush();
            bio.complete();
            return;
        }
        if (bio.op().isWrite()) {
            // Marked before completion: once the client has the reply, a flush must see the page.
            long first = Sectors.toBytes(bio.sector()) / PAGE;
            long last = (Sectors.toBytes(bio.sector()) + bio.sizeBytes() - 1) / PAGE;
            synchronized (this) {
                for (long p = first; p <= last; p++) {
                    dirtyPages.add(p);
                }
            }
        }
        cache.submitBio(bio);
    }

    private synchronized void flush() {
        for (long p : dirtyPages) {
            Bio read = Bio.alloc().setDevice(cache).setOp(BioOp.READ).setSector(p * PAGE / 512)
                    .setData(MemorySegment.ofArray(durable).asSlice(p * PAGE, PAGE));
            cache.submitBio(read); // completes inline
        }
        dirtyPages.clear();
    }

    synchronized byte[] durable(int offsetBytes, int lengthBytes) {
        return java.util.Arrays.copyOfRange(durable, offsetBytes, offsetBytes + lengthBytes);
    }
}
