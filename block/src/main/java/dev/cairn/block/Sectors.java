package dev.cairn.block;

/** Sector arithmetic: a sector is always 512 bytes, whatever the device's block size. */
public final class Sectors {
    public static final int SECTOR_SHIFT = 9;
    public static final int SECTOR_SIZE = 1 << SECTOR_SHIFT;
    /**
     * The largest capacity of any device, in sectors: 2^54 - 1, so that its size in bytes (2^63 - 512)
     * and every byte offset inside it fit a signed long (Linux's bound is the same: {@code loff_t}, whose
     * maximum is {@code LLONG_MAX}). Tables and stores refuse anything larger.
     */
    public static final long MAX_DEVICE_SECTORS = Long.MAX_VALUE >>> SECTOR_SHIFT;

    private Sectors() {}

    public static long toBytes(long sectors) {
        return sectors << SECTOR_SHIFT;
    }

    /** Sectors in {@code bytes}; throws when {@code bytes} is not a whole number of sectors. */
    public static long fromBytes(long bytes) {
        if ((bytes & (SECTOR_SIZE - 1)) != 0 || bytes < 0) {
            throw new IllegalArgumentException("bytes: " + bytes + " (expected: a multiple of 512)");
        }
        return bytes >>> SECTOR_SHIFT;
    }

    public static boolean isAligned(long bytes) {
        return (bytes & (SECTOR_SIZE - 1)) == 0;
    }
}
