package dev.cairn.testkit;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.IoCompletion;
import dev.cairn.block.Sectors;
import dev.cairn.block.Submitter;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Synchronous I/O in one line, for tests: each call builds an unpooled bio, submits it through the
 * {@link Submitter} (so it gets the same checks and splits as any bio) and waits with
 * {@link IoCompletion#submitAndWait}.
 *
 * <pre>{@code
 * assertThat(Io.write(submitter, device, 8, Pattern.segment(4096, 4096, 1))).isEqualTo(BioStatus.OK);
 * MemorySegment back = Io.readOk(submitter, device, 8, 4096);
 * }</pre>
 *
 * <p>Must not be called from inside a device's {@code submitBio} (the bio could never start).
 *
 * <p>Thread safety: stateless; call from any number of threads.
 */
public final class Io {
    /** Largest DISCARD / WRITE_ZEROES bio these helpers send: just under 2 GiB, a multiple of 64 KiB. */
    static final long MAX_RANGE_SECTORS = (Integer.MAX_VALUE & ~0xFFFF) >>> Sectors.SECTOR_SHIFT;

    private Io() {}

    /** Reads {@code into.byteSize()} bytes at {@code sector} into {@code into}. */
    public static BioStatus read(Submitter submitter, BlockDevice device, long sector, MemorySegment into) {
        return submit(submitter, Bio.alloc().setDevice(device).setOp(BioOp.READ).setSector(sector).setData(into));
    }

    /** Reads {@code lengthBytes} at {@code sector} into a new heap segment; throws AssertionError unless OK. */
    public static MemorySegment readOk(Submitter submitter, BlockDevice device, long sector, int lengthBytes) {
        MemorySegment into = MemorySegment.ofArray(new byte[lengthBytes]);
        expectOk(read(submitter, device, sector, into), "read", device, sector, lengthBytes);
        return into;
    }

    /** Writes {@code data} at {@code sector}. */
    public static BioStatus write(Submitter submitter, BlockDevice device, long sector, MemorySegment data) {
        return write(submitter, device, sector, data, 0);
    }

    /** Writes {@code data} at {@code sector} with {@link dev.cairn.block.BioFlags} {@code flags} (FUA, PREFLUSH, ...). */
    public static BioStatus write(Submitter submitter, BlockDevice device, long sector, MemorySegment data, int flags) {
        return submit(submitter, Bio.alloc().setDevice(device).setOp(BioOp.WRITE).setFlags(flags).setSector(sector)
                .setData(data));
    }

    /** Writes and throws AssertionError unless OK. */
    public static void writeOk(Submitter submitter, BlockDevice device, long sector, MemorySegment data) {
        expectOk(write(submitter, device, sector, data), "write", device, sector, data.byteSize());
    }

    /** An empty FLUSH. */
    public static BioStatus flush(Submitter submitter, BlockDevice device) {
        return submit(submitter, Bio.alloc().setDevice(device).setOp(BioOp.FLUSH));
    }

    /** DISCARD of {@code sectors} sectors at {@code sector} (sent in pieces below 2 GiB); the first error wins. */
    public static BioStatus discard(Submitter submitter, BlockDevice device, long sector, long sectors) {
        return range(submitter, device, BioOp.DISCARD, 0, sector, sectors);
    }

    /** WRITE_ZEROES of {@code sectors} sectors at {@code sector} with {@code flags} (NOUNMAP, FAST_ZERO, ...). */
    public static BioStatus writeZeroes(Submitter submitter, BlockDevice device, long sector, long sectors, int flags) {
        return range(submitter, device, BioOp.WRITE_ZEROES, flags, sector, sectors);
    }

    /** Submits a bio the caller built and waits for it; its own end-io, if any, runs first. */
    public static BioStatus submit(Submitter submitter, Bio bio) {
        return IoCompletion.submitAndWait(submitter, bio);
    }

    private static BioStatus range(Submitter submitter, BlockDevice device, BioOp op, int flags, long sector,
                                   long sectors) {
        if (sectors < 0) {
            throw new IllegalArgumentException("sectors: " + sectors + " (expected: >= 0)");
        }
        long done = 0;
        do {
            long n = Math.min(MAX_RANGE_SECTORS, sectors - done);
            BioStatus s = submit(submitter, Bio.alloc().setDevice(device).setOp(op).setFlags(flags)
                    .setSector(sector + done).setSizeBytes((int) Sectors.toBytes(n)));
            if (!s.isOk()) {
                return s;
            }
            done += n;
        } while (done < sectors);
        return BioStatus.OK;
    }

    private static void expectOk(BioStatus status, String what, BlockDevice device, long sector, long lengthBytes) {
        if (!status.isOk()) {
            throw new AssertionError(what + " of " + lengthBytes + " bytes at sector " + sector + " of "
                    + device.name() + " failed: " + status);
        }
    }

    /** One extent answered by {@link BlockDevice#queryExtents}, with its start filled in. */
    public record Extent(long sector, long sectors, int flags) {}

    /**
     * Every extent of {@code [sector, sector + sectors)}, asking again where the device stopped early, with
     * neighbours of equal flags merged. Throws AssertionError when the device breaks the
     * {@code queryExtents} contract (an empty extent or one past the range).
     */
    public static List<Extent> extents(BlockDevice device, long sector, long sectors) {
        List<Extent> out = new ArrayList<>();
        long end = sector + sectors;
        long[] pos = {sector};
        while (pos[0] < end) {
            long before = pos[0];
            device.queryExtents(pos[0], end - pos[0], (n, flags) -> {
                if (n <= 0 || pos[0] + n > end) {
                    throw new AssertionError(device.name() + ": extent of " + n + " sectors at " + pos[0]
                            + " (expected: within [" + pos[0] + ", " + end + "))");
                }
                Extent last = out.isEmpty() ? null : out.getLast();
                if (last != null && last.flags() == flags && last.sector() + last.sectors() == pos[0]) {
                    out.set(out.size() - 1, new Extent(last.sector(), last.sectors() + n, flags));
                } else {
                    out.add(new Extent(pos[0], n, flags));
                }
                pos[0] += n;
                return true;
            });
            if (pos[0] == before) {
                throw new AssertionError(device.name() + ": queryExtents(" + before + ", " + (end - before)
                        + ") answered nothing (expected: at least one sector)");
            }
        }
        return out;
    }
}
