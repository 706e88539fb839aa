package dev.cairn.dm.targets.dust;

import dev.cairn.dm.TableException;
import dev.cairn.dm.TargetArgs;
import java.util.Objects;

/**
 * Arguments of {@code dust <dev> <offset> <blksz>} (Linux {@code dm-dust}).
 *
 * @param device        the lower device
 * @param offsetSectors where this target starts on the lower device
 * @param blockBytes    the bad-block unit in bytes: a power of two from 512 to 1 GiB, at most the target's length
 */
public record DustConfig(String device, long offsetSectors, int blockBytes) {
    public static final String USAGE = "<dev> <offset> <blksz>";
    /** Linux {@code DUST_MAX_BLKSZ_SECTORS}: 1 GiB. */
    public static final long MAX_BLOCK_SECTORS = 2_097_152;

    public DustConfig {
        Objects.requireNonNull(device, "device");
    }

    public static DustConfig parse(TargetArgs args, long targetSectors) throws TableException {
        args.expectCount(USAGE, 3);
        String dev = args.nextDeviceSpec("dev");
        long offset = args.nextSector("offset");
        long blksz = args.nextLong("blksz", 512, MAX_BLOCK_SECTORS << 9);
        if (Long.bitCount(blksz) != 1) {
            throw args.error("blksz", blksz, "a power of 2");
        }
        if ((blksz >>> 9) > targetSectors) {
            throw args.error("blksz", blksz, "at most the target's length, " + (targetSectors << 9) + " bytes");
        }
        args.expectEnd();
        return new DustConfig(dev, offset, (int) blksz);
    }

    public long blockSectors() {
        return blockBytes >>> 9;
    }

    /** The TABLE status form: {@code <dev> <offset> <blksz>}. */
    public String toTable() {
        return device + " " + offsetSectors + " " + blockBytes;
    }
}
