package dev.cairn.thin;

import dev.cairn.block.BlockDevice;
import dev.cairn.block.Submitter;
import dev.cairn.pdata.BTree;
import dev.cairn.pdata.Block;
import dev.cairn.pdata.BlockManager;
import dev.cairn.pdata.DataSpaceMap;
import dev.cairn.pdata.MetadataException;
import dev.cairn.pdata.MetadataSpaceMap;
import dev.cairn.pdata.SpaceMapRoot;
import dev.cairn.pdata.TransactionManager;
import dev.cairn.pdata.ValueType;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.TreeMap;

/**
 * A thin pool's metadata in the Linux format (Linux {@code dm-thin-metadata.c}): the superblock, the
 * two-level mapping tree (device id, then virtual block, to {@code data_block << 24 | time}), the
 * device details tree and the data and metadata space maps, on a {@link BlockManager}.
 *
 * <h2>Implementation notes</h2>
 * Every change happens in the current transaction; {@link #commit} writes the changed device details,
 * commits the data space map, then the transaction manager writes every dirty block, flushes, and the
 * superblock goes out with FUA. A crash before that write leaves the previous transaction whole.
 * {@link #abort} drops everything since the last commit and reopens. Snapshots share the origin's
 * mapping subtree root; a mapping is reported shared when the device was snapshotted after the
 * mapping's time, as the kernel does.
 *
 * <p>Thread safety: none. The pool calls every method under its metadata lock.
 */
public final class ThinMetadata {
    /** The largest thin device id (24 bits). */
    public static final long MAX_DEV_ID = (1L << 24) - 1;
    private static final long MAX_DATA_BLOCK = (1L << 40) - 1;

    private final BlockManager bm;
    private final int dataBlockSectors;
    private TransactionManager tm;
    private MetadataSpaceMap msm;
    private DataSpaceMap dsm;
    private BTree.Info info;
    private BTree.Info tlInfo;
    private BTree.Info blInfo;
    private BTree.Info detailsInfo;

    private int flags;
    private byte[] uuid = new byte[16];
    private int version;
    private int time;
    private long transactionId;
    private long heldRoot;
    private long mappingRoot;
    private long detailsRoot;
    private long metadataNrBlocksAtFormat;
    private int compatFlags;
    private int compatRoFlags;
    private int incompatFlags;
    private final TreeMap<Long, DeviceDetails> devices = new TreeMap<>();
    private boolean changed;
    private long commits;

    /** A mapping found by {@link #lookup}: the data block, and whether the device was snapshotted since it was written. */
    public record Mapping(long dataBlock, boolean shared, int time) {}

    private ThinMetadata(BlockManager bm, int dataBlockSectors) {
        this.bm = bm;
        this.dataBlockSectors = dataBlockSectors;
    }

    /**
     * Opens the metadata on {@code device}; formats it (for {@code nrDataBlocks} data blocks) when block 0
     * is all zeros and {@code mayFormat}. The data block size must be the one it was formatted with.
     */
    public static ThinMetadata open(Submitter submitter, BlockDevice device, int dataBlockSectors, long nrDataBlocks,
            boolean mayFormat, int cacheBlocks) throws MetadataException {
        BlockManager bm = new BlockManager(submitter, device, cacheBlocks);
        if (bm.nrBlocks() < 2) {
            throw new MetadataException("metadata device " + device.name() + ": " + device.capacitySectors()
                    + " sectors (expected: at least two 4 KiB blocks)");
        }
        ThinMetadata md = new ThinMetadata(bm, dataBlockSectors);
        md.bind();
        if (md.superblockIsZero()) {
            if (!mayFormat) {
                throw new MetadataException("metadata device " + device.name() + " is not formatted and the pool is read-only");
            }
            md.format(nrDataBlocks);
        } else {
            md.load();
        }
        return md;
    }

    /** Blocks the metadata space map may use on a device of {@code blocks}: clipped at the format's maximum. */
    public static long usableMetadataBlocks(long blocks) {
        return Math.min(blocks, MetadataSpaceMap.MAX_BLOCKS);
    }

    private void bind() {
        tm = new TransactionManager(bm);
        msm = new MetadataSpaceMap(tm);
        tm.setSpaceMap(msm);
    }

    private void makeInfos() {
        ValueType mapping = new ValueType() {
            @Override
            public int size() {
                return 8;
            }

            @Override
            public void inc(ByteBuffer node, int offsetBytes) throws MetadataException {
                dsm.inc(node.getLong(offsetBytes) >>> 24);
            }

            @Override
            public void dec(ByteBuffer node, int offsetBytes) throws MetadataException {
                dsm.dec(node.getLong(offsetBytes) >>> 24);
            }

            @Override
            public boolean equal(ByteBuffer node, int offsetBytes, byte[] value) {
                return (node.getLong(offsetBytes) >>> 24) == (BTree.le64(value) >>> 24);
            }
        };
        blInfo = new BTree.Info(tm, 1, mapping);
        info = new BTree.Info(tm, 2, mapping);
        tlInfo = new BTree.Info(tm, 1, new ValueType() {
            @Override
            public int size() {
                return 8;
            }

            @Override
            public void inc(ByteBuffer node, int offsetBytes) throws MetadataException {
                tm.inc(node.getLong(offsetBytes));
            }

            @Override
            public void dec(ByteBuffer node, int offsetBytes) throws MetadataException {
                BTree.delete(blInfo, node.getLong(offsetBytes));
            }
        });
        detailsInfo = new BTree.Info(tm, 1, ValueType.plain(DeviceDetails.BYTES));
    }

    private boolean superblockIsZero() throws MetadataException {
        byte[] raw = new byte[BlockManager.BLOCK_SIZE];
        // A raw look at block 0 without a validator: an unformatted device fails every check.
        try {
            Block b = bm.read(Superblock.LOCATION, Superblock.VALIDATOR);
            bm.forget(b.location());
            return false;
        } catch (MetadataException e) {
            bm.forget(Superblock.LOCATION);
            bm.readRaw(Superblock.LOCATION, raw);
            for (byte x : raw) {
                if (x != 0) {
                    throw new MetadataException("superblock: " + e.getMessage());
                }
            }
            return true;
        }
    }

    private void format(long nrDataBlocks) throws MetadataException {
        checkDataBlocks(nrDataBlocks);
        long nrMeta = usableMetadataBlocks(bm.nrBlocks());
        msm.format(nrMeta, Superblock.LOCATION);
        dsm = DataSpaceMap.create(tm, nrDataBlocks);
        makeInfos();
        mappingRoot = BTree.empty(info);
        detailsRoot = BTree.empty(detailsInfo);
        flags = 0;
        version = Superblock.VERSION;
        time = 0;
        transactionId = 0;
        heldRoot = 0;
        metadataNrBlocksAtFormat = nrMeta;
        changed = true;
        commit();
    }

    private void load() throws MetadataException {
        Block b = bm.read(Superblock.LOCATION, Superblock.VALIDATOR);
        ByteBuffer d = b.data();
        if (Superblock.magic(d) != Superblock.MAGIC) {
            throw new MetadataException("superblock: magic " + Superblock.magic(d) + " (expected: " + Superblock.MAGIC + ")");
        }
        Superblock sb = Superblock.read(d);
        if (sb.incompatFlags() != 0) {
            throw new MetadataException("superblock: unsupported incompatible features 0x" + Integer.toHexString(sb.incompatFlags()));
        }
        if (sb.dataBlockSectors() != dataBlockSectors) {
            throw new MetadataException("changing the data block size (from " + sb.dataBlockSectors() + " to "
                    + dataBlockSectors + ") is not supported");
        }
        msm.open(sb.metadataSpaceMapRoot());
        dsm = DataSpaceMap.open(tm, sb.dataSpaceMapRoot());
        makeInfos();
        flags = sb.flags();
        uuid = sb.uuid();
        version = sb.version();
        time = sb.time();
        transactionId = sb.transactionId();
        heldRoot = sb.heldRoot();
        mappingRoot = sb.dataMappingRoot();
        detailsRoot = sb.deviceDetailsRoot();
        metadataNrBlocksAtFormat = sb.metadataNrBlocks();
        compatFlags = sb.compatFlags();
        compatRoFlags = sb.compatRoFlags();
        incompatFlags = sb.incompatFlags();
        devices.clear();
        BTree.walk(detailsInfo, detailsRoot, (id, v) -> devices.put(id, DeviceDetails.decode(v)));
        changed = false;
    }

    /** Unsupported compat_ro features: the metadata may only be opened read-only. */
    public boolean hasReadOnlyFeatures() {
        return compatRoFlags != 0;
    }

    // ---------------------------------------------------------------- transactions

    /** True when something changed since the last commit. */
    public boolean changed() {
        return changed;
    }

    /** Commits the current transaction when anything changed ({@code __commit_transaction}). */
    public void commit() throws MetadataException {
        if (!changed) {
            return;
        }
        for (Map.Entry<Long, DeviceDetails> e : devices.entrySet()) {
            DeviceDetails dd = e.getValue();
            if (dd.changed) {
                detailsRoot = BTree.insert(detailsInfo, detailsRoot, new long[] {e.getKey()}, dd.encode()).root();
            }
        }
        dsm.commit(tm);
        tm.preCommit();
        Block sb = bm.zeroed(Superblock.LOCATION, Superblock.VALIDATOR);
        superblock().write(sb.data());
        tm.commit(sb);
        dsm.transactionCommitted();
        for (DeviceDetails dd : devices.values()) {
            dd.changed = false;
        }
        changed = false;
        commits++;
        bm.trim();
    }

    private Superblock superblock() {
        return new Superblock(flags, uuid, version, time, transactionId, heldRoot, dsm.root(), msm.root(), mappingRoot,
                detailsRoot, dataBlockSectors, metadataNrBlocksAtFormat, compatFlags, compatRoFlags, incompatFlags);
    }

    /** Drops every change since the last commit and reopens from disk ({@code dm_pool_abort_metadata}). */
    public void abort() throws MetadataException {
        Map<Long, Integer> opens = new TreeMap<>();
        devices.forEach((id, dd) -> opens.put(id, dd.openCount));
        tm.abort();
        bind();
        load();
        opens.forEach((id, n) -> {
            DeviceDetails dd = devices.get(id);
            if (dd != null) {
                dd.openCount = n;
            }
        });
    }

    /** Sets NEEDS_CHECK and writes the superblock at once, naming the last committed roots. */
    public void setNeedsCheck() throws MetadataException {
        flags |= Superblock.NEEDS_CHECK;
        Block sb = bm.zeroed(Superblock.LOCATION, Superblock.VALIDATOR);
        superblock().write(sb.data());
        bm.writeFua(sb);
    }

    public boolean needsCheck() {
        return (flags & Superblock.NEEDS_CHECK) != 0;
    }

    /** Gives the cache back down to its bound; call between operations. */
    public void trim() throws MetadataException {
        bm.trim();
    }

    /** Commits done since open. */
    public long commits() {
        return commits;
    }

    public long transactionId() {
        return transactionId;
    }

    /** {@code set_transaction_id}: a compare-and-swap. */
    public void setTransactionId(long current, long next) throws ThinRequestException {
        if (current != transactionId) {
            throw new ThinRequestException(22, "set_transaction_id: current " + current + " (expected: " + transactionId + ")");
        }
        transactionId = next;
        changed = true;
    }

    public int time() {
        return time;
    }

    public long heldRoot() {
        return heldRoot;
    }

    public int dataBlockSectors() {
        return dataBlockSectors;
    }

    // ---------------------------------------------------------------- devices

    public boolean deviceExists(long id) {
        return devices.containsKey(id);
    }

    /** Device ids in ascending order. */
    public List<Long> deviceIds() {
        return new ArrayList<>(devices.keySet());
    }

    private static void checkId(long id) throws ThinRequestException {
        if (id < 0 || id > MAX_DEV_ID) {
            throw new ThinRequestException(22, "device id: " + id + " (expected: 0 to " + MAX_DEV_ID + ")");
        }
    }

    /** {@code create_thin}: a new empty device. */
    public void createThin(long id) throws ThinRequestException, MetadataException {
        checkId(id);
        if (devices.containsKey(id)) {
            throw new ThinRequestException(17, "device " + id + " already exists");
        }
        long root = BTree.empty(blInfo);
        mappingRoot = BTree.insert(tlInfo, mappingRoot, new long[] {id}, BTree.le64(root)).root();
        DeviceDetails dd = new DeviceDetails(0, transactionId, time, time);
        dd.changed = true;
        devices.put(id, dd);
        changed = true;
    }

    /** {@code create_snap}: a new device sharing {@code origin}'s mappings; the pool's time moves on. */
    public void createSnap(long id, long origin) throws ThinRequestException, MetadataException {
        checkId(id);
        checkId(origin);
        if (devices.containsKey(id)) {
            throw new ThinRequestException(17, "device " + id + " already exists");
        }
        DeviceDetails od = devices.get(origin);
        byte[] v = BTree.lookup(tlInfo, mappingRoot, origin);
        if (od == null || v == null) {
            throw new ThinRequestException(61, "origin device " + origin + " does not exist");
        }
        long originRoot = BTree.le64(v);
        tm.inc(originRoot);
        mappingRoot = BTree.insert(tlInfo, mappingRoot, new long[] {id}, BTree.le64(originRoot)).root();
        time++;
        DeviceDetails dd = new DeviceDetails(od.mappedBlocks, transactionId, time, time);
        dd.changed = true;
        devices.put(id, dd);
        od.snapshottedTime = time;
        od.changed = true;
        changed = true;
    }

    /** {@code delete}: removes a device that no thin target has open, releasing its unshared blocks. */
    public void deleteDevice(long id) throws ThinRequestException, MetadataException {
        checkId(id);
        DeviceDetails dd = devices.get(id);
        if (dd == null) {
            throw new ThinRequestException(61, "device " + id + " does not exist");
        }
        if (dd.openCount > 0) {
            throw new ThinRequestException(16, "device " + id + " is open");
        }
        detailsRoot = BTree.remove(detailsInfo, detailsRoot, id).root();
        mappingRoot = BTree.remove(tlInfo, mappingRoot, id).root();
        devices.remove(id);
        changed = true;
    }

    /** A thin target opened device {@code id}; it cannot be deleted until closed. */
    public void openDevice(long id) throws ThinRequestException {
        DeviceDetails dd = devices.get(id);
        if (dd == null) {
            throw new ThinRequestException(61, "device " + id + " does not exist");
        }
        dd.openCount++;
    }

    public void closeDevice(long id) {
        DeviceDetails dd = devices.get(id);
        if (dd != null && dd.openCount > 0) {
            dd.openCount--;
        }
    }

    public long mappedBlocks(long id) {
        DeviceDetails dd = devices.get(id);
        return dd == null ? 0 : dd.mappedBlocks;
    }

    /** Device {@code id}'s details as stored: mapped blocks, transaction id, creation and snapshot times. */
    public record Details(long mappedBlocks, long transactionId, int creationTime, int snapshottedTime) {}

    public Details details(long id) {
        DeviceDetails dd = devices.get(id);
        return dd == null ? null : new Details(dd.mappedBlocks, dd.transactionId, dd.creationTime, dd.snapshottedTime);
    }

    /** The highest mapped virtual block of device {@code id}, or empty. */
    public OptionalLong highestMapped(long id) throws MetadataException {
        byte[] v = BTree.lookup(tlInfo, mappingRoot, id);
        return v == null ? OptionalLong.empty() : BTree.highestKey(blInfo, BTree.le64(v));
    }

    // ---------------------------------------------------------------- mappings

    /** The mapping of virtual block {@code vblock} of device {@code id}, or null. */
    public Mapping lookup(long id, long vblock) throws MetadataException {
        DeviceDetails dd = devices.get(id);
        if (dd == null) {
            return null;
        }
        byte[] v = BTree.lookup(info, mappingRoot, id, vblock);
        if (v == null) {
            return null;
        }
        long packed = BTree.le64(v);
        int t = (int) (packed & 0xFFFFFF);
        return new Mapping(packed >>> 24, dd.snapshottedTime > t, t);
    }

    /** Maps {@code vblock} to {@code dataBlock}, whose one reference the mapping takes over. */
    public void insert(long id, long vblock, long dataBlock) throws MetadataException {
        DeviceDetails dd = devices.get(id);
        if (dd == null) {
            throw new MetadataException("insert: device " + id + " does not exist");
        }
        if (dataBlock < 0 || dataBlock > MAX_DATA_BLOCK) {
            throw new MetadataException("insert: data block " + dataBlock + " (expected: below 2^40)");
        }
        long packed = (dataBlock << 24) | (time & 0xFFFFFFL);
        BTree.InsertResult r = BTree.insert(info, mappingRoot, new long[] {id, vblock}, BTree.le64(packed));
        mappingRoot = r.root();
        if (r.inserted()) {
            dd.mappedBlocks++;
        }
        dd.changed = true;
        changed = true;
    }

    /** Unmaps {@code vblock}, dropping the mapping's reference to its data block; false when it was not mapped. */
    public boolean remove(long id, long vblock) throws MetadataException {
        DeviceDetails dd = devices.get(id);
        if (dd == null) {
            return false;
        }
        BTree.RemoveResult r = BTree.remove(info, mappingRoot, id, vblock);
        mappingRoot = r.root();
        if (r.removed()) {
            dd.mappedBlocks--;
            dd.changed = true;
            changed = true;
        }
        return r.removed();
    }

    /** Every mapping of device {@code id}, in virtual block order. */
    public TreeMap<Long, Mapping> mappings(long id) throws MetadataException {
        TreeMap<Long, Mapping> out = new TreeMap<>();
        DeviceDetails dd = devices.get(id);
        byte[] v = BTree.lookup(tlInfo, mappingRoot, id);
        if (dd == null || v == null) {
            return out;
        }
        BTree.walk(blInfo, BTree.le64(v), (k, val) -> {
            long packed = BTree.le64(val);
            int t = (int) (packed & 0xFFFFFF);
            out.put(k, new Mapping(packed >>> 24, dd.snapshottedTime > t, t));
        });
        return out;
    }

    // ---------------------------------------------------------------- space

    /** Allocates a data block (one reference, which {@link #insert} takes over). */
    public long allocDataBlock() throws MetadataException {
        long b = dsm.newBlock();
        changed = true;
        return b;
    }

    /** Drops a data block reference taken by {@link #allocDataBlock} or {@link #incDataBlock}. */
    public void decDataBlock(long b) throws MetadataException {
        dsm.dec(b);
        changed = true;
    }

    public void incDataBlock(long b) throws MetadataException {
        dsm.inc(b);
        changed = true;
    }

    public long dataBlockRefCount(long b) throws MetadataException {
        return dsm.count(b);
    }

    public long dataBlocks() {
        return dsm.nrBlocks();
    }

    public long freeDataBlocks() {
        return dsm.nrFree();
    }

    public long metadataBlocks() {
        return msm.nrBlocks();
    }

    /** Headroom kept back for metadata: {@code min(4096, blocks / 10)} ({@code __set_metadata_reserve}). */
    public long metadataReserve() {
        return Math.min(4096, msm.nrBlocks() / 10);
    }

    /** Free metadata blocks as reported: the space map's free count less the reserve, at least 0. */
    public long freeMetadataBlocks() {
        return Math.max(0, msm.nrFree() - metadataReserve());
    }

    /** Free metadata blocks including the reserve. */
    public long freeMetadataBlocksWithReserve() {
        return msm.nrFree();
    }

    /** Grows the data space map ({@code dm_pool_resize_data_dev}). */
    public void resizeData(long nrBlocks) throws MetadataException {
        checkDataBlocks(nrBlocks);
        if (nrBlocks < dsm.nrBlocks()) {
            throw new MetadataException("pool target (" + nrBlocks + " blocks) too small: expected " + dsm.nrBlocks());
        }
        if (nrBlocks > dsm.nrBlocks()) {
            dsm.extend(nrBlocks);
            changed = true;
        }
    }

    /** Grows the metadata space map to {@code nrBlocks} of the (larger) metadata device. */
    public void resizeMetadata(long nrBlocks) throws MetadataException {
        long n = usableMetadataBlocks(nrBlocks);
        if (n < msm.nrBlocks()) {
            throw new MetadataException("metadata device (" + n + " blocks) too small: expected " + msm.nrBlocks());
        }
        if (n > msm.nrBlocks()) {
            msm.extend(n);
            changed = true;
        }
    }

    private static void checkDataBlocks(long nrBlocks) throws MetadataException {
        if (nrBlocks < 1 || nrBlocks > MAX_DATA_BLOCK + 1) {
            throw new MetadataException("data blocks: " + nrBlocks + " (expected: 1 to 2^40)");
        }
    }

    // ---------------------------------------------------------------- metadata snapshot

    /** {@code reserve_metadata_snap}: commits, then keeps a copy of the superblock and its trees. */
    public void reserveMetadataSnap() throws ThinRequestException, MetadataException {
        if (heldRoot != 0) {
            throw new ThinRequestException(16, "pool metadata snapshot already exists: release this before taking another");
        }
        changed = true;
        commit();
        tm.inc(Superblock.LOCATION);
        Block copy = tm.shadow(Superblock.LOCATION, Superblock.VALIDATOR).block();
        ByteBuffer d = copy.data();
        java.util.Arrays.fill(d.array(), 64, 320, (byte) 0);
        tm.inc(d.getLong(320));
        tm.inc(d.getLong(328));
        heldRoot = copy.location();
        changed = true;
    }

    /** {@code release_metadata_snap}: drops the held copy and everything only it referenced. */
    public void releaseMetadataSnap() throws ThinRequestException, MetadataException {
        if (heldRoot == 0) {
            throw new ThinRequestException(22, "no pool metadata snapshot found");
        }
        long held = heldRoot;
        heldRoot = 0;
        ByteBuffer d = tm.read(held, Superblock.VALIDATOR).data();
        long mapRoot = d.getLong(320);
        long detRoot = d.getLong(328);
        BTree.delete(info, mapRoot);
        BTree.delete(detailsInfo, detRoot);
        tm.dec(held);
        changed = true;
    }

    /** The block manager's counters. */
    public BlockManager.Stats cacheStats() {
        return bm.stats();
    }

    /** For checks: the metadata and data space maps' counts (block to count). */
    public Map<Long, Long> metadataCounts() {
        return msm.countsSnapshot();
    }

    public Map<Long, Long> dataCounts() {
        return dsm.countsSnapshot();
    }

    public SpaceMapRoot metadataSpaceMapRoot() {
        return msm.root();
    }
}
