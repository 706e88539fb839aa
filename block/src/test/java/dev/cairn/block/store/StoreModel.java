package dev.cairn.block.store;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.Extents;
import dev.cairn.block.IoCompletion;
import dev.cairn.block.Sectors;
import dev.cairn.block.SpliceSink;
import dev.cairn.block.Submitter;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A byte-array model of a store and a seeded random I/O driver for the store tests. (The block module
 * cannot use testkit, which depends on it; testkit's own tests run its richer model on these stores too.)
 *
 * <p>Thread safety: one instance per thread; concurrent instances use disjoint ranges.
 */
final class StoreModel {
    /** How the data of a generated READ or WRITE is laid out in memory. */
    enum Memory {
        /** One heap segment. */
        HEAP,
        /** One native segment, 4096-aligned. */
        NATIVE,
        /** Page-sized native segments (as a page cache would hand out). */
        NATIVE_PAGES,
        /** Odd-sized native pieces at odd addresses. */
        NATIVE_ODD,
        /** Odd-sized heap and native pieces, alternating: nothing aligned. */
        MIXED
    }

    final long firstSector;
    final int sectors;
    final byte[] bytes;
    final int alignSectors;
    final Memory memory;
    final SplittableRandom random;
    final long seed;
    private int generation;

    StoreModel(long seed, long firstSector, int sectors, int alignSectors, Memory memory) {
        this.seed = seed;
        this.firstSector = firstSector;
        this.sectors = sectors;
        this.bytes = new byte[sectors * 512];
        this.alignSectors = alignSectors;
        this.memory = memory;
        this.random = new SplittableRandom(seed);
    }

    static long seed() {
        String fixed = System.getProperty("cairn.seed");
        long seed = fixed != null ? Long.parseLong(fixed) : new SplittableRandom().nextLong();
        System.out.println("store test seed: " + seed + " (replay with -Dcairn.seed=" + seed + ")");
        return seed;
    }

    static BioStatus io(Submitter submitter, BlockDevice device, BioOp op, int flags, long sector, MemorySegment... data) {
        Bio bio = Bio.alloc().setDevice(device).setOp(op).setFlags(flags).setSector(sector).setData(data);
        return IoCompletion.submitAndWait(submitter, bio);
    }

    static BioStatus range(Submitter submitter, BlockDevice device, BioOp op, int flags, long sector, int sectors) {
        Bio bio = Bio.alloc().setDevice(device).setOp(op).setFlags(flags).setSector(sector).setSizeBytes(sectors * 512);
        return IoCompletion.submitAndWait(submitter, bio);
    }

    /**
     * What a read by reference returned: {@code buffer} (the sink's base) overlaid with the sink's pieces.
     * The buffer itself is left as it was.
     */
    static byte[] assembled(SpliceSink sink, MemorySegment buffer) throws IOException {
        byte[] before = buffer.toArray(ValueLayout.JAVA_BYTE);
        sink.copyInto(buffer);
        byte[] out = buffer.toArray(ValueLayout.JAVA_BYTE);
        buffer.copyFrom(MemorySegment.ofArray(before));
        return out;
    }

    static BioStatus flush(Submitter submitter, BlockDevice device) {
        return IoCompletion.submitAndWait(submitter, Bio.alloc().setDevice(device).setOp(BioOp.FLUSH));
    }

    static byte[] read(Submitter submitter, BlockDevice device, long sector, int lengthBytes) {
        byte[] out = new byte[lengthBytes];
        assertThat(io(submitter, device, BioOp.READ, 0, sector, MemorySegment.ofArray(out))).isEqualTo(BioStatus.OK);
        return out;
    }

    static List<long[]> extents(BlockDevice device, long sector, long sectors) {
        List<long[]> out = new ArrayList<>();
        long[] pos = {sector};
        while (pos[0] < sector + sectors) {
            long before = pos[0];
            device.queryExtents(pos[0], sector + sectors - pos[0], (n, flags) -> {
                assertThat(n).isPositive();
                if (!out.isEmpty() && out.getLast()[2] == flags) {
                    out.getLast()[1] += n;
                } else {
                    out.add(new long[] {pos[0], n, flags});
                }
                pos[0] += n;
                return true;
            });
            assertThat(pos[0]).isGreaterThan(before);
        }
        assertThat(pos[0]).isEqualTo(sector + sectors);
        return out;
    }

    static final int HOLE = Extents.HOLE | Extents.ZERO;

    /** Deterministic data: the byte at device offset x for generation g. */
    static byte dataByte(long offsetBytes, int generation) {
        long h = offsetBytes * 0x9E3779B97F4A7C15L + generation * 0xC2B2AE3D27D4EB4FL;
        h ^= h >>> 29;
        return (byte) (h ^ (h >>> 17));
    }

    /** Splits {@code src} into segments laid out per {@link #memory}; native ones come from {@code arena}. */
    MemorySegment[] layout(byte[] src, Arena arena) {
        MemorySegment heap = MemorySegment.ofArray(src);
        return switch (memory) {
            case HEAP -> new MemorySegment[] {heap};
            case NATIVE -> new MemorySegment[] {arena.allocate(src.length, 4096).copyFrom(heap)};
            case NATIVE_PAGES -> {
                MemorySegment[] out = new MemorySegment[(src.length + 4095) / 4096];
                for (int i = 0; i < out.length; i++) {
                    int n = Math.min(4096, src.length - i * 4096);
                    out[i] = arena.allocate(n, 4096).copyFrom(heap.asSlice(i * 4096L, n));
                }
                yield out;
            }
            case NATIVE_ODD, MIXED -> {
                List<MemorySegment> out = new ArrayList<>();
                int pos = 0;
                boolean nativePiece = true;
                while (pos < src.length) {
                    int n = Math.min(src.length - pos, 1 + random.nextInt(3000));
                    MemorySegment piece = nativePiece ? arena.allocate(n + 1, 1).asSlice(1)
                            : MemorySegment.ofArray(new byte[n + 3]).asSlice(3);
                    MemorySegment.copy(heap, pos, piece, 0, n);
                    out.add(piece);
                    nativePiece = memory == Memory.NATIVE_ODD || !nativePiece;
                    pos += n;
                }
                yield out.toArray(MemorySegment[]::new);
            }
        };
    }

    /** Runs {@code ops} random operations on {@code device} and this model; every read is checked. */
    void run(Submitter submitter, BlockDevice device, int ops, int maxSectors) {
        String[] op = {""};
        for (int i = 0; i < ops; i++) {
            // a shared arena per operation: the store's threads touch the memory, and it is freed at once
            try (Arena arena = Arena.ofShared()) {
                step(submitter, device, maxSectors, arena, op);
            } catch (AssertionError | RuntimeException e) {
                throw new AssertionError("seed " + seed + ", op #" + i + " " + op[0] + " (" + memory + ") on "
                        + device.name() + ": " + e.getMessage(), e);
            }
        }
    }

    private void step(Submitter submitter, BlockDevice device, int maxSectors, Arena arena, String[] op) {
        int units = sectors / alignSectors;
        int len = (1 + random.nextInt(Math.min(units, maxSectors / alignSectors))) * alignSectors;
        int start = random.nextInt(units - len / alignSectors + 1) * alignSectors;
        long sector = firstSector + start;
        int off = start * 512;
        int pick = random.nextInt(100);
        if (pick < 40) {
            op[0] = "READ [" + sector + ", +" + len + ")";
            byte[] back = new byte[len * 512];
            MemorySegment[] segs = layout(back, arena);
            assertThat(io(submitter, device, BioOp.READ, 0, sector, segs)).isEqualTo(BioStatus.OK);
            int at = 0;
            for (MemorySegment s : segs) {
                MemorySegment.copy(s, 0, MemorySegment.ofArray(back), at, s.byteSize());
                at += (int) s.byteSize();
            }
            compare(back, off, sector);
        } else if (pick < 80) {
            int flags = (random.nextInt(8) == 0 ? BioFlags.FUA : 0) | (random.nextInt(8) == 0 ? BioFlags.PREFLUSH : 0);
            op[0] = "WRITE " + BioFlags.toString(flags) + " [" + sector + ", +" + len + ")";
            int g = ++generation;
            byte[] data = new byte[len * 512];
            for (int b = 0; b < data.length; b++) {
                data[b] = dataByte(Sectors.toBytes(sector) + b, g);
            }
            assertThat(io(submitter, device, BioOp.WRITE, flags, sector, layout(data, arena))).isEqualTo(BioStatus.OK);
            System.arraycopy(data, 0, bytes, off, data.length);
        } else if (pick < 85) {
            op[0] = "FLUSH";
            assertThat(flush(submitter, device)).isEqualTo(BioStatus.OK);
        } else if (pick < 93) {
            op[0] = "DISCARD [" + sector + ", +" + len + ")";
            assertThat(range(submitter, device, BioOp.DISCARD, 0, sector, len)).isEqualTo(BioStatus.OK);
            java.util.Arrays.fill(bytes, off, off + len * 512, (byte) 0);
        } else {
            int flags = random.nextBoolean() ? BioFlags.NOUNMAP : 0;
            op[0] = "WRITE_ZEROES " + BioFlags.toString(flags) + " [" + sector + ", +" + len + ")";
            assertThat(range(submitter, device, BioOp.WRITE_ZEROES, flags, sector, len)).isEqualTo(BioStatus.OK);
            java.util.Arrays.fill(bytes, off, off + len * 512, (byte) 0);
        }
    }

    /** Compares {@code actual} (device data at model offset {@code off}) with the model. */
    void compare(byte[] actual, int off, long sector) {
        int m = java.util.Arrays.mismatch(actual, 0, actual.length, bytes, off, off + actual.length);
        if (m >= 0) {
            throw new AssertionError("data differs at byte " + m + " of the read at sector " + sector + " (model offset "
                    + (off + m) + "): expected " + bytes[off + m] + ", found " + actual[m]);
        }
    }

    /** Reads the model's whole range from {@code device} and compares. */
    void verifyAll(Submitter submitter, BlockDevice device) {
        for (int s = 0; s < sectors; s += 2048) {
            int n = Math.min(2048, sectors - s);
            compare(read(submitter, device, firstSector + s, n * 512), s * 512, firstSector + s);
        }
    }
}
