package dev.cairn.dm.targets.striped;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.Extents;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.Sectors;
import dev.cairn.dm.DeviceRef;
import dev.cairn.dm.EndIoResult;
import dev.cairn.dm.MapResult;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetContext;
import dev.cairn.dm.TargetIo;
import java.util.List;
import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * The striped target (Linux {@code dm-stripe.c}). Chunk {@code c} of the target (counted from its
 * start) lives on stripe {@code c % n} at chunk {@code c / n} of that stripe:
 *
 * <pre>
 *   target:   | c0 | c1 | c2 | c3 | c4 | c5 |      n = 3 stripes
 *   stripe 0: | c0 | c3 |
 *   stripe 1: | c1 | c4 |
 *   stripe 2: | c2 | c5 |
 * </pre>
 *
 * dm core splits every data bio at chunk boundaries ({@link #maxIoSectors()} = chunk), so {@code map}
 * only ever maps inside one chunk. Empty flushes come as one clone per stripe; DISCARD and
 * WRITE_ZEROES come as one clone per stripe for the whole range in this target, and each clone is cut
 * down to the part of the range that lies on its stripe (Linux {@code stripe_map_range}).
 *
 * <p>Status: INFO is {@code <#stripes> <dev>... 1 <A|D>...} (a stripe is {@code D} once an I/O on it
 * failed); TABLE is the constructor arguments.
 *
 * <p>Thread safety: the error counters are atomic; everything else is immutable.
 */
final class StripedTarget implements Target {
    private final TargetContext ctx;
    private final StripedConfig config;
    private final DeviceRef[] devs;
    private final long[] offsets;
    private final int stripes;
    private final long chunk;
    private final int chunkShift;
    private final long width;
    private final AtomicIntegerArray errors;

    StripedTarget(TargetContext ctx, StripedConfig config, List<DeviceRef> devs) {
        this.ctx = ctx;
        this.config = config;
        this.devs = devs.toArray(new DeviceRef[0]);
        this.stripes = this.devs.length;
        this.offsets = new long[stripes];
        for (int i = 0; i < stripes; i++) {
            offsets[i] = config.stripes().get(i).offsetSectors();
        }
        this.chunk = config.chunkSectors();
        this.chunkShift = Long.numberOfTrailingZeros(chunk);
        this.width = config.stripeWidthSectors(ctx.lengthSectors());
        this.errors = new AtomicIntegerArray(stripes);
    }

    /** Stripe index of target offset {@code offset}. */
    private int stripeOf(long offset) {
        return (int) ((offset >>> chunkShift) % stripes);
    }

    /** Sector within its stripe (before the stripe's own offset) of target offset {@code offset}. */
    private long stripeSector(long offset) {
        long c = offset >>> chunkShift;
        return ((c / stripes) << chunkShift) + (offset & (chunk - 1));
    }

    @Override
    public MapResult map(Bio clone) {
        BioOp op = clone.op();
        if (op == BioOp.FLUSH) {
            int leg = TargetIo.of(clone).leg();
            // An empty flush has no range; point it at the stripe's start, as linear does.
            clone.setDevice(devs[leg].device()).setSector(offsets[leg]);
            return MapResult.REMAPPED;
        }
        if (op == BioOp.DISCARD || op == BioOp.WRITE_ZEROES) {
            return mapRange(clone, TargetIo.of(clone).leg());
        }
        long offset = ctx.targetOffset(clone.sector());
        int s = stripeOf(offset);
        clone.setDevice(devs[s].device()).setSector(offsets[s] + stripeSector(offset));
        return MapResult.REMAPPED;
    }

    /**
     * The part of the clone's range on stripe {@code target}: its first and last sectors are rounded to
     * the stripe's chunks (Linux {@code stripe_map_range_sector}).
     */
    private MapResult mapRange(Bio clone, int target) {
        long begin = rangeSector(ctx.targetOffset(clone.sector()), target);
        long end = rangeSector(ctx.targetOffset(clone.endSector()), target);
        if (begin >= end) {
            clone.complete(BioStatus.OK);
            return MapResult.SUBMITTED;
        }
        clone.setDevice(devs[target].device()).setSector(offsets[target] + begin);
        clone.setSizeBytes((int) ((end - begin) << 9));
        return MapResult.REMAPPED;
    }

    private long rangeSector(long offset, int target) {
        // offset may be the target's end; the formulas then give stripe 0 at sector width, which is right.
        int s = stripeOf(offset);
        long r = stripeSector(offset);
        if (s == target) {
            return r;
        }
        r &= ~(chunk - 1);
        if (target < s) {
            r += chunk;
        }
        return r;
    }

    @Override
    public EndIoResult endIo(Bio clone, BioStatus status) {
        if (!status.isOk() && status != BioStatus.NOTSUPP) {
            BlockDevice d = clone.device();
            for (int i = 0; i < stripes; i++) {
                if (devs[i].device() == d) {
                    errors.incrementAndGet(i);
                }
            }
        }
        return EndIoResult.done(status);
    }

    /** A pure remap: a file store below may answer large reads by reference (see {@link Target#passesSpliceReads}). */
    @Override
    public boolean passesSpliceReads() {
        return true;
    }

    @Override
    public long maxIoSectors() {
        return chunk;
    }

    @Override
    public int numFlushBios() {
        return stripes;
    }

    @Override
    public int numDiscardBios() {
        return stripes;
    }

    @Override
    public String statusInfo() {
        StringBuilder sb = new StringBuilder().append(stripes).append(' ');
        for (DeviceRef d : devs) {
            sb.append(d.spec()).append(' ');
        }
        sb.append("1 ");
        for (int i = 0; i < stripes; i++) {
            sb.append(errors.get(i) > 0 ? 'D' : 'A');
        }
        return sb.toString();
    }

    @Override
    public String statusTable() {
        return config.toTable();
    }

    @Override
    public void iterateDevices(DeviceVisitor visitor) {
        for (int i = 0; i < stripes; i++) {
            visitor.visit(devs[i], offsets[i], width);
        }
    }

    /**
     * A full stripe is the optimal I/O (Linux {@code stripe_io_hints}: {@code io_opt = chunk * stripes}, replacing
     * what the stripes stacked); kept as stacked when that is not a multiple of the physical block or overflows.
     */
    @Override
    public QueueLimits ioHints(QueueLimits limits) {
        long fullStripeBytes = Sectors.toBytes(chunk) * stripes;
        if (fullStripeBytes > Integer.MAX_VALUE || fullStripeBytes % limits.physicalBlockBytes() != 0) {
            return limits;
        }
        return limits.withOptimalIo((int) fullStripeBytes);
    }

    /** Walks chunk by chunk, asking each chunk's stripe; stops at the first chunk its device answers only partly. */
    @Override
    public void queryExtents(long sector, long sectors, Extents.Sink sink) {
        long offset = ctx.targetOffset(sector);
        long end = offset + sectors;
        while (offset < end) {
            long len = Math.min(end - offset, chunk - (offset & (chunk - 1)));
            int s = stripeOf(offset);
            long[] covered = {0};
            boolean[] stop = {false};
            long want = len;
            devs[s].device().queryExtents(offsets[s] + stripeSector(offset), len, (n, flags) -> {
                long take = Math.min(n, want - covered[0]);
                if (take <= 0) {
                    return false;
                }
                covered[0] += take;
                if (!sink.extent(take, flags)) {
                    stop[0] = true;
                    return false;
                }
                return covered[0] < want;
            });
            if (stop[0] || covered[0] < len) {
                return;
            }
            offset += len;
        }
    }
}
