package dev.cairn.testkit;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.Sectors;
import dev.cairn.block.Submitter;
import java.lang.foreign.MemorySegment;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Seeded random I/O against a device and a {@link ModelDevice} at once: reads (checked against the model),
 * writes of {@link Pattern} data (FUA or PREFLUSH now and then), flushes, discards and write-zeroes of
 * random aligned ranges inside {@code [firstSector, firstSector + sectors)}. A failure throws an
 * AssertionError whose message starts with the seed and the operation number, and prints the seed, so
 * a failing run can be replayed with {@code -Dcairn.seed=<seed>}.
 *
 * <pre>{@code
 * RandomIo io = RandomIo.create(RandomIo.newSeed(), 0, device.capacitySectors());
 * io.run(submitter, device, new ModelDevice(capacityBytes), 2000);
 * }</pre>
 *
 * <p>Writes of operation number {@code i} carry generation {@code i + 1}, so a stale block names the
 * operation that wrote it.
 *
 * <p>Thread safety: one instance per thread (it holds its random generator); give concurrent instances
 * disjoint ranges of the same model.
 */
public final class RandomIo {
    /** Property that fixes the seed of {@link #newSeed()}. */
    public static final String SEED_PROPERTY = "cairn.seed";

    /** One random operation; {@code generation} is the pattern generation of a WRITE. */
    public record Op(BioOp op, int flags, long sector, int sectors, int generation) {
        @Override
        public String toString() {
            return op + (flags == 0 ? "" : " " + BioFlags.toString(flags)) + (op == BioOp.FLUSH ? ""
                    : " [" + sector + ", +" + sectors + ")") + (op == BioOp.WRITE ? " gen " + generation : "");
        }
    }

    /** Relative weights of the operations. */
    public record Mix(int reads, int writes, int flushes, int discards, int writeZeroes) {
        public Mix {
            if (reads < 0 || writes < 0 || flushes < 0 || discards < 0 || writeZeroes < 0
                    || reads + writes + flushes + discards + writeZeroes == 0) {
                throw new IllegalArgumentException("mix: " + reads + "/" + writes + "/" + flushes + "/" + discards
                        + "/" + writeZeroes + " (expected: weights >= 0, not all 0)");
            }
        }

        /** 40% reads, 40% writes, 5% flushes, 8% discards, 7% write-zeroes. */
        public static Mix defaults() {
            return new Mix(40, 40, 5, 8, 7);
        }

        int total() {
            return reads + writes + flushes + discards + writeZeroes;
        }
    }

    private final long seed;
    private final long firstSector;
    private final long sectors;
    private final SplittableRandom random;
    private Mix mix = Mix.defaults();
    private int alignSectors = 1;
    private int maxSectors = 256;
    private int flagPercent = 10;
    private boolean discardZeroes = true;
    private int count;

    private RandomIo(long seed, long firstSector, long sectors) {
        if (firstSector < 0 || sectors <= 0) {
            throw new IllegalArgumentException("range: [" + firstSector + ", +" + sectors + ") (expected: sectors > 0)");
        }
        this.seed = seed;
        this.firstSector = firstSector;
        this.sectors = sectors;
        this.random = new SplittableRandom(seed);
    }

    /** A generator for {@code [firstSector, firstSector + sectors)}. */
    public static RandomIo create(long seed, long firstSector, long sectors) {
        return new RandomIo(seed, firstSector, sectors);
    }

    /** The seed from {@code -Dcairn.seed} if set, else a fresh one; printed either way. */
    public static long newSeed() {
        String fixed = System.getProperty(SEED_PROPERTY);
        long seed = fixed != null ? Long.parseLong(fixed.trim()) : new SplittableRandom().nextLong();
        System.out.println("random I/O seed: " + seed + " (replay with -D" + SEED_PROPERTY + "=" + seed + ")");
        return seed;
    }

    public long seed() {
        return seed;
    }

    public RandomIo withMix(Mix value) {
        this.mix = Objects.requireNonNull(value, "mix");
        return this;
    }

    /** Ranges start and end on multiples of {@code value} sectors (at least the device's logical block). */
    public RandomIo withAlignment(int value) {
        if (value < 1) {
            throw new IllegalArgumentException("alignment: " + value + " (expected: >= 1)");
        }
        this.alignSectors = value;
        return this;
    }

    /** Largest range of one operation, in sectors (default 256). */
    public RandomIo withMaxSectors(int value) {
        if (value < 1) {
            throw new IllegalArgumentException("maxSectors: " + value + " (expected: >= 1)");
        }
        this.maxSectors = value;
        return this;
    }

    /** Percentage of writes that get FUA, and (independently) PREFLUSH (default 10). */
    public RandomIo withFlagPercent(int value) {
        if (value < 0 || value > 100) {
            throw new IllegalArgumentException("flagPercent: " + value + " (expected: 0..100)");
        }
        this.flagPercent = value;
        return this;
    }

    /** Whether a DISCARD makes the range read as zeros (true, the default) or leaves it unknown. */
    public RandomIo withDiscardZeroes(boolean value) {
        this.discardZeroes = value;
        return this;
    }

    /** The next operation, aligned to the alignment. */
    public Op next() {
        int n = count++;
        int pick = random.nextInt(mix.total());
        BioOp op;
        if ((pick -= mix.reads()) < 0) {
            op = BioOp.READ;
        } else if ((pick -= mix.writes()) < 0) {
            op = BioOp.WRITE;
        } else if ((pick -= mix.flushes()) < 0) {
            op = BioOp.FLUSH;
        } else if ((pick -= mix.discards()) < 0) {
            op = BioOp.DISCARD;
        } else {
            op = BioOp.WRITE_ZEROES;
        }
        if (op == BioOp.FLUSH) {
            return new Op(op, 0, 0, 0, 0);
        }
        long firstAligned = (firstSector + alignSectors - 1) / alignSectors * alignSectors;
        long endAligned = (firstSector + sectors) / alignSectors * alignSectors;
        long units = Math.max(0, endAligned - firstAligned) / alignSectors;
        if (units == 0) {
            throw new IllegalStateException("range of " + sectors + " sectors is smaller than the alignment " + alignSectors);
        }
        long maxUnits = Math.max(1, Math.min(units, maxSectors / alignSectors));
        // Small I/O is more common but large I/O must happen too: half the time up to 8 units.
        long lengthUnits = 1 + random.nextLong(random.nextBoolean() ? Math.min(8, maxUnits) : maxUnits);
        long startUnit = random.nextLong(units - lengthUnits + 1);
        long sector = firstAligned + startUnit * alignSectors;
        int flags = 0;
        if (op == BioOp.WRITE) {
            if (random.nextInt(100) < flagPercent) {
                flags |= BioFlags.FUA;
            }
            if (random.nextInt(100) < flagPercent) {
                flags |= BioFlags.PREFLUSH;
            }
        } else if (op == BioOp.WRITE_ZEROES && random.nextBoolean()) {
            flags |= BioFlags.NOUNMAP;
        }
        return new Op(op, flags, sector, (int) (lengthUnits * alignSectors), (n + 1) & Pattern.MAX_GENERATION);
    }

    /**
     * Runs {@code ops} random operations on {@code device}, applies each to {@code model}, checks every read
     * against the model and that every operation succeeds. The alignment is raised to the device's logical
     * block size.
     */
    public void run(Submitter submitter, BlockDevice device, ModelDevice model, int ops) {
        alignSectors = Math.max(alignSectors, device.limits().logicalBlockBytes() >>> Sectors.SECTOR_SHIFT);
        int i = 0;
        Op op = null;
        try {
            for (; i < ops; i++) {
                op = next();
                execute(submitter, device, model, op);
            }
        } catch (AssertionError | RuntimeException e) {
            String where = "seed " + seed + ", op #" + i + " " + op + " on " + device.name();
            System.out.println("random I/O failed: " + where + " (replay with -D" + SEED_PROPERTY + "=" + seed + ")");
            throw new AssertionError(where + ": " + e.getMessage(), e);
        }
    }

    /** Performs one operation on {@code device} and {@code model}; a read is compared with the model. */
    public void execute(Submitter submitter, BlockDevice device, ModelDevice model, Op op) {
        long offsetBytes = Sectors.toBytes(op.sector());
        int lengthBytes = (int) Sectors.toBytes(op.sectors());
        BioStatus status;
        switch (op.op()) {
            case READ -> {
                MemorySegment into = MemorySegment.ofArray(new byte[lengthBytes]);
                status = Io.read(submitter, device, op.sector(), into);
                expectOk(status, op);
                model.assertMatches(offsetBytes, into);
            }
            case WRITE -> {
                MemorySegment data = Pattern.segment(offsetBytes, lengthBytes, op.generation());
                status = Io.write(submitter, device, op.sector(), data, op.flags());
                expectOk(status, op);
                model.write(offsetBytes, data);
            }
            case FLUSH -> expectOk(Io.flush(submitter, device), op);
            case DISCARD -> {
                expectOk(Io.submit(submitter, Bio.alloc().setDevice(device).setOp(BioOp.DISCARD)
                        .setSector(op.sector()).setSizeBytes(lengthBytes)), op);
                if (discardZeroes) {
                    model.zero(offsetBytes, lengthBytes);
                } else {
                    model.forget(offsetBytes, lengthBytes);
                }
            }
            case WRITE_ZEROES -> {
                expectOk(Io.writeZeroes(submitter, device, op.sector(), op.sectors(), op.flags()), op);
                model.zero(offsetBytes, lengthBytes);
            }
        }
    }

    private static void expectOk(BioStatus status, Op op) {
        if (!status.isOk()) {
            throw new AssertionError(op + " failed: " + status);
        }
    }
}
