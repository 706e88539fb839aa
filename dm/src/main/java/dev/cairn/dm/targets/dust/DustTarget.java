package dev.cairn.dm.targets.dust;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.Extents;
import dev.cairn.block.IoMutex;
import dev.cairn.dm.DeviceRef;
import dev.cairn.dm.DmException;
import dev.cairn.dm.MapResult;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetContext;
import java.util.TreeMap;
import java.util.logging.Logger;

/**
 * The dust target (Linux {@code dm-dust.c}, 1.0.0): linear to {@code <dev>} at {@code <offset>}, with a list
 * of bad blocks ({@code blksz} units, numbered from sector 0 of the lower device, as the kernel does) kept
 * by messages. It starts in <em>bypass</em> mode: the list is kept but ignored. After {@code enable}:
 *
 * <ul>
 *   <li>a READ of a listed block fails with an I/O error;</li>
 *   <li>a write (WRITE, DISCARD, WRITE_ZEROES) to a listed block whose write-fail count is above zero
 *       fails and counts it down; otherwise the block leaves the list and the write goes through, as on a
 *       disk that remaps a sector when it is written;</li>
 *   <li>in bypass mode writes do not clear entries.</li>
 * </ul>
 * Clones never span two blocks ({@link #maxIoSectors} is the block size). An empty FLUSH passes through
 * untouched (the kernel maps it as a write to block 0, which could fail or clear that block; that is a
 * quirk of its empty-bio sector, not a behaviour worth copying).
 *
 * <p>Messages and replies are the kernel's: {@code addbadblock <blk> [<wr_fail_cnt>]},
 * {@code removebadblock <blk>}, {@code queryblock <blk>}, {@code countbadblocks}, {@code clearbadblocks},
 * {@code listbadblocks}, {@code enable}, {@code disable}, {@code quiet} (toggles the log lines of adds,
 * removals and remaps). Status: INFO {@code <dev> fail_read_on_bad_block|bypass quiet|verbose}; TABLE
 * {@code <dev> <offset> <blksz>}.
 *
 * <p>Thread safety: the list and the two mode flags are guarded by an {@link IoMutex}, held for a lookup
 * in {@code map} (as the kernel's spinlock).
 */
final class DustTarget implements Target {
    private static final Logger LOG = Logger.getLogger(DustTarget.class.getName());

    private final TargetContext ctx;
    private final DustConfig config;
    private final DeviceRef dev;
    private final long shift;
    private final int blockShift;
    private final IoMutex lock;

    // guarded by lock
    /** Bad block number to its remaining write-fail count. */
    private final TreeMap<Long, Integer> bad = new TreeMap<>();
    private boolean failReadOnBadBlock;
    private boolean quiet;

    DustTarget(TargetContext ctx, DustConfig config, DeviceRef dev) {
        this.ctx = ctx;
        this.config = config;
        this.dev = dev;
        this.shift = config.offsetSectors() - ctx.beginSector();
        this.blockShift = Long.numberOfTrailingZeros(config.blockSectors());
        this.lock = new IoMutex(ctx.submitter(), "dust " + ctx);
    }

    @Override
    public long maxIoSectors() {
        return config.blockSectors();
    }

    @Override
    public MapResult map(Bio clone) {
        long lower = clone.sector() + shift;
        clone.setDevice(dev.device()).setSector(lower);
        BioOp op = clone.op();
        if (op == BioOp.FLUSH) {
            return MapResult.REMAPPED;
        }
        long block = lower >>> blockShift;
        lock.lock();
        try {
            if (!failReadOnBadBlock) {
                return MapResult.REMAPPED;
            }
            Integer failCount = bad.get(block);
            if (failCount == null) {
                return MapResult.REMAPPED;
            }
            if (op == BioOp.READ) {
                return MapResult.kill(BioStatus.IOERR);
            }
            if (failCount > 0) {
                bad.put(block, failCount - 1);
                return MapResult.kill(BioStatus.IOERR);
            }
            bad.remove(block);
            if (!quiet) {
                LOG.info(ctx + ": block " + block + " removed from badblocklist by write");
            }
            return MapResult.REMAPPED;
        } finally {
            lock.unlock();
        }
    }

    @Override
    public String message(String... args) throws DmException {
        lock.lock();
        try {
            return handle(args);
        } finally {
            lock.unlock();
        }
    }

    private String handle(String[] args) throws DmException {
        String cmd = args.length > 0 ? args[0].toLowerCase(java.util.Locale.ROOT) : "";
        switch (args.length) {
            case 1 -> {
                switch (cmd) {
                    case "addbadblock", "removebadblock", "queryblock" ->
                            throw new DmException(args[0] + " requires an additional argument");
                    case "disable" -> {
                        LOG.info(ctx + ": disabling read failures on bad sectors");
                        failReadOnBadBlock = false;
                        return "";
                    }
                    case "enable" -> {
                        LOG.info(ctx + ": enabling read failures on bad sectors");
                        failReadOnBadBlock = true;
                        return "";
                    }
                    case "countbadblocks" -> {
                        return "countbadblocks: " + bad.size() + " badblock(s) found";
                    }
                    case "clearbadblocks" -> {
                        boolean any = !bad.isEmpty();
                        bad.clear();
                        return any ? "dust_clear_badblocks: badblocks cleared" : "dust_clear_badblocks: no badblocks found";
                    }
                    case "quiet" -> {
                        quiet = !quiet;
                        return "";
                    }
                    case "listbadblocks" -> {
                        if (bad.isEmpty()) {
                            return "No blocks in badblocklist";
                        }
                        StringBuilder sb = new StringBuilder();
                        for (long b : bad.keySet()) {
                            sb.append(b).append('\n');
                        }
                        sb.setLength(sb.length() - 1);
                        return sb.toString();
                    }
                    default -> throw unrecognized(args[0]);
                }
            }
            case 2, 3 -> {
                long block = number("block", args[1], Long.MAX_VALUE);
                int failCount = args.length == 3 ? (int) number("write fail count", args[2], Integer.MAX_VALUE) : 0;
                if (args.length == 3 && failCount > 255) {
                    throw new DmException("selected write fail count out of range: " + failCount + " (expected: 0 to 255)");
                }
                long blocks = dev.capacitySectors() >>> blockShift;
                if (block > blocks) {
                    throw new DmException("selected block value out of range: " + block + " (expected: at most " + blocks + ")");
                }
                if (args.length == 3 && !cmd.equals("addbadblock")) {
                    throw unrecognized(args[0]);
                }
                return switch (cmd) {
                    case "addbadblock" -> add(block, failCount);
                    case "removebadblock" -> remove(block);
                    case "queryblock" -> "dust_query_block: block " + block + (bad.containsKey(block) ? " found" : " not found")
                            + " in badblocklist";
                    default -> throw unrecognized(args[0]);
                };
            }
            default -> throw new DmException("invalid number of arguments '" + args.length + "'");
        }
    }

    private String add(long block, int failCount) throws DmException {
        if (bad.containsKey(block)) {
            throw new DmException("dust_add_block: block " + block + " already in badblocklist");
        }
        bad.put(block, failCount);
        if (!quiet) {
            LOG.info(ctx + ": dust_add_block: badblock added at block " + block + " with write fail count " + failCount);
        }
        return "";
    }

    private String remove(long block) throws DmException {
        if (bad.remove(block) == null) {
            throw new DmException("dust_remove_block: block " + block + " not found in badblocklist");
        }
        if (!quiet) {
            LOG.info(ctx + ": dust_remove_block: badblock removed at block " + block);
        }
        return "";
    }

    private static long number(String what, String text, long max) throws DmException {
        try {
            long v = Long.parseLong(text);
            if (v >= 0 && v <= max) {
                return v;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new DmException(what + ": " + text + " (expected: a number from 0 to " + max + ")");
    }

    private static DmException unrecognized(String name) {
        return new DmException("unrecognized message '" + name + "' received");
    }

    @Override
    public String statusInfo() {
        lock.lock();
        try {
            return dev.spec() + " " + (failReadOnBadBlock ? "fail_read_on_bad_block" : "bypass") + " "
                    + (quiet ? "quiet" : "verbose");
        } finally {
            lock.unlock();
        }
    }

    @Override
    public String statusTable() {
        return config.toTable();
    }

    @Override
    public void iterateDevices(DeviceVisitor visitor) {
        visitor.visit(dev, config.offsetSectors(), ctx.lengthSectors());
    }

    @Override
    public void queryExtents(long sector, long sectors, Extents.Sink sink) {
        dev.device().queryExtents(sector + shift, sectors, sink);
    }
}
