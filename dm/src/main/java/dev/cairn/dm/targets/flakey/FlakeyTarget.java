package dev.cairn.dm.targets.flakey;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioSet;
import dev.cairn.block.BioStatus;
import dev.cairn.block.Extents;
import dev.cairn.dm.DeviceRef;
import dev.cairn.dm.EndIoResult;
import dev.cairn.dm.MapResult;
import dev.cairn.dm.ShiftRemap;
import dev.cairn.dm.Target;
import dev.cairn.dm.TargetContext;
import dev.cairn.dm.TargetIo;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.time.Instant;
import java.time.InstantSource;
import java.util.random.RandomGenerator;

/**
 * The flakey target (Linux {@code dm-flakey.c}, 6.x behaviour). Starting when the table is loaded, the
 * device works for {@code up} seconds, then misbehaves for {@code down} seconds, and so on; time comes
 * from the injected clock. While down:
 *
 * <ul>
 *   <li>a READ fails if {@code error_reads}; otherwise it goes down, and after it completes
 *       successfully {@code corrupt_bio_byte ... r} and {@code random_read_corrupt} may change its data;</li>
 *   <li>a write-type bio (WRITE, FLUSH, DISCARD, WRITE_ZEROES) is completed at once if
 *       {@code drop_writes}, fails if {@code error_writes}; otherwise a WRITE that
 *       {@code corrupt_bio_byte ... w} or {@code random_write_corrupt} picks is copied, the copy is
 *       corrupted and written (the caller's buffer is never changed), and the rest go down unchanged.</li>
 * </ul>
 *
 * <p>Status: INFO is empty; TABLE is {@code <dev> <offset> <up> <down> <#args> <feat>...} as Linux
 * prints it (so a table with no features shows {@code 2 error_reads error_writes}).
 *
 * <p>Random corruption draws from the registry's injected {@link dev.cairn.dm.RandomSource}: seeded, a run
 * replays (the same I/O in the same order corrupts the same bytes).
 *
 * <p>Thread safety: immutable apart from the copy bio set, which is thread-safe, and the random generator,
 * whose draws are synchronized on it (only bios that may be corrupted draw).
 */
final class FlakeyTarget implements Target {
    private final TargetContext ctx;
    private final FlakeyConfig config;
    private final FlakeyConfig.Features f;
    private final ShiftRemap remap;
    private final InstantSource clock;
    private final Instant start;
    private final long cycleSeconds;
    private final BioSet copies;
    /** Guarded by itself. */
    private final RandomGenerator random;

    /** Marker stored in the per-bio context: the read was mapped while down and may be corrupted. */
    private static final Object CAN_CORRUPT = new Object();

    FlakeyTarget(TargetContext ctx, FlakeyConfig config, DeviceRef dev) {
        this.ctx = ctx;
        this.config = config;
        this.f = config.features();
        this.remap = new ShiftRemap(ctx, dev, config.offsetSectors());
        this.clock = ctx.clock();
        this.start = clock.instant();
        this.cycleSeconds = config.upSeconds() + config.downSeconds();
        boolean writesCorrupt = (f.corruptByte() != null && f.corruptByte().write()) || f.randomWriteCorrupt() > 0;
        this.copies = writesCorrupt ? ctx.newBioSet("flakey-copy", 64) : null;
        this.random = ctx.newRandom();
    }

    /** True while in the down part of the cycle. */
    boolean isDown() {
        long elapsed = Duration.between(start, clock.instant()).toSeconds();
        if (elapsed < 0) {
            elapsed = 0;
        }
        return elapsed % cycleSeconds >= config.upSeconds();
    }

    @Override
    public MapResult map(Bio clone) {
        if (isDown()) {
            if (clone.op() == BioOp.READ) {
                if (f.errorReads()) {
                    return MapResult.kill(BioStatus.IOERR);
                }
                if (clone.hasData()) {
                    TargetIo.of(clone).setData(CAN_CORRUPT);
                }
                return remap.map(clone);
            }
            if (f.dropWrites()) {
                clone.complete(BioStatus.OK);
                return MapResult.SUBMITTED;
            }
            if (f.errorWrites()) {
                return MapResult.kill(BioStatus.IOERR);
            }
            if (clone.op() == BioOp.WRITE && clone.sizeBytes() > 0) {
                FlakeyConfig.CorruptByte cb = f.corruptByte();
                boolean fixed = cb != null && cb.write() && flagsMatch(clone, cb);
                boolean random = f.randomWriteCorrupt() > 0 && chance(f.randomWriteCorrupt());
                if (fixed || random) {
                    return writeCorruptedCopy(clone, fixed, random);
                }
            }
        }
        return remap.map(clone);
    }

    /** Linux clones the data into new pages so the writer's buffer stays intact; so do we. */
    private MapResult writeCorruptedCopy(Bio clone, boolean fixed, boolean random) {
        int size = clone.sizeBytes();
        MemorySegment copy = MemorySegment.ofArray(new byte[size]);
        clone.copyTo(0, copy, 0, size);
        if (fixed) {
            long index = config.features().corruptByte().nthByte() - 1;
            if (index < size) {
                copy.set(ValueLayout.JAVA_BYTE, index, (byte) f.corruptByte().value());
            }
        }
        if (random) {
            synchronized (this.random) {
                copy.set(ValueLayout.JAVA_BYTE, this.random.nextInt(size), (byte) this.random.nextInt(256));
            }
        }
        Bio w = copies.alloc();
        remap.apply(w.setOp(BioOp.WRITE).setFlags(clone.flags()).setSector(clone.sector())).setData(copy);
        w.setEndIo(done -> clone.complete(done.status()));
        ctx.submitter().submit(w);
        return MapResult.SUBMITTED;
    }

    @Override
    public EndIoResult endIo(Bio clone, BioStatus status) {
        if (status.isOk() && clone.op() == BioOp.READ && TargetIo.of(clone).data() == CAN_CORRUPT) {
            FlakeyConfig.CorruptByte cb = f.corruptByte();
            if (cb != null && !cb.write() && flagsMatch(clone, cb) && cb.nthByte() - 1 < clone.sizeBytes()) {
                clone.fill(cb.nthByte() - 1, 1, (byte) cb.value());
            }
            if (f.randomReadCorrupt() > 0 && chance(f.randomReadCorrupt()) && clone.sizeBytes() > 0) {
                int at;
                byte value;
                synchronized (random) {
                    at = random.nextInt(clone.sizeBytes());
                    value = (byte) random.nextInt(256);
                }
                clone.fill(at, 1, value);
            }
        }
        return EndIoResult.done(status);
    }

    private static boolean flagsMatch(Bio bio, FlakeyConfig.CorruptByte cb) {
        return (bio.flags() & cb.flags()) == cb.flags();
    }

    private boolean chance(long perBillion) {
        synchronized (random) {
            return random.nextLong(FlakeyConfig.PROBABILITY_BASE) < perBillion;
        }
    }

    @Override
    public String statusTable() {
        return config.toTable();
    }

    @Override
    public void iterateDevices(DeviceVisitor visitor) {
        remap.visit(visitor);
    }

    @Override
    public void queryExtents(long sector, long sectors, Extents.Sink sink) {
        if (isDown()) {
            // Reads may fail (error_reads) or come back changed (corrupt_bio_byte, random_read_corrupt): a hole
            // of the device below is not zeros to a reader now, and "data" never claims more than a read gives.
            sink.extent(sectors, 0);
            return;
        }
        remap.queryExtents(sector, sectors, sink);
    }
}
