package dev.cairn.nbd.server;

import dev.cairn.block.Extents;
import dev.cairn.block.Sectors;
import java.util.Arrays;

/**
 * Collects a device's extents for one request: merges neighbours with the same (masked) flags, clips to
 * the request, stops at {@code maxExtents}, and for reads ({@link #finish}) covers the rest as data.
 *
 * <p>Thread safety: none; confined to the reader thread that handles the request.
 */
final class ExtentCollector implements Extents.Sink {
    final long limitBytes;
    final int maxExtents;
    final int mask;
    long[] lengths = new long[4];
    int[] flags = new int[4];
    int count;
    long coveredBytes;

    ExtentCollector(long limitBytes, int maxExtents, int mask) {
        this.limitBytes = limitBytes;
        this.maxExtents = maxExtents;
        this.mask = mask;
    }

    @Override
    public boolean extent(long sectors, int extentFlags) {
        long left = limitBytes - coveredBytes;
        if (sectors <= 0 || left <= 0) {
            return false;
        }
        long bytes = Math.min(left, Math.min(sectors, left >>> Sectors.SECTOR_SHIFT) << Sectors.SECTOR_SHIFT);
        if (bytes == 0) {
            bytes = left;
        }
        int key = extentFlags & mask;
        if (count > 0 && flags[count - 1] == key) {
            lengths[count - 1] += bytes;
        } else {
            if (count == maxExtents) {
                return false;
            }
            if (count == lengths.length) {
                lengths = Arrays.copyOf(lengths, count * 2);
                flags = Arrays.copyOf(flags, count * 2);
            }
            lengths[count] = bytes;
            flags[count] = key;
            count++;
        }
        coveredBytes += bytes;
        return coveredBytes < limitBytes;
    }

    /** For a read the layout must cover everything: what the device did not describe is data. */
    void finish() {
        if (count == 0) {
            // A device that described nothing broke its contract; "data" is always a safe answer.
            lengths[0] = limitBytes;
            flags[0] = 0;
            count = 1;
            coveredBytes = limitBytes;
        }
    }

    /** Lengths for a sparse read: positive for data, negative for zeros; the tail beyond coverage is data. */
    int[] signedLengths() {
        int[] out = new int[count + 1];
        int n = 0;
        for (int i = 0; i < count; i++) {
            out[n++] = flags[i] != 0 ? -(int) lengths[i] : (int) lengths[i];
        }
        long rest = limitBytes - coveredBytes;
        if (rest > 0) {
            if (out[n - 1] > 0) {
                out[n - 1] += (int) rest;
            } else {
                out[n++] = (int) rest;
            }
        }
        count = n;
        return out;
    }
}
