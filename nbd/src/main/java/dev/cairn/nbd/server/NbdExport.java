package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.*;

import dev.cairn.block.BlockDevice;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.Sectors;
import dev.cairn.nbd.protocol.BlockSizeConstraints;
import java.nio.charset.StandardCharsets;
import java.util.Objects;

/**
 * One export: a name clients ask for, the device behind it, whether writes are refused, and a
 * description shown by {@code nbdinfo --list}.
 *
 * <pre>{@code
 * server.addExport(NbdExport.of("disk0", device).readOnly(true).description("golden image"));
 * }</pre>
 *
 * An export is read-only when it says so or when its device is ({@link QueueLimits#readOnly()}).
 *
 * @param name        UTF-8, at most 4096 bytes, no NUL ("" is a valid name: the default export of most URIs)
 * @param device      the device served
 * @param readOnly    refuse every write-like command with EPERM
 * @param description free text for NBD_INFO_DESCRIPTION and NBD_REP_SERVER (may be empty)
 */
public record NbdExport(String name, BlockDevice device, boolean readOnly, String description) {
    public NbdExport {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(device, "device");
        Objects.requireNonNull(description, "description");
        checkString("name", name);
        checkString("description", description);
        readOnly = readOnly || device.limits().readOnly();
    }

    /** A writable export of {@code device} (read-only when the device is), without description. */
    public static NbdExport of(String name, BlockDevice device) {
        return new NbdExport(name, device, false, "");
    }

    /** This export, read-only or not (a read-only device stays read-only). */
    public NbdExport readOnly(boolean value) {
        return new NbdExport(name, device, value, description);
    }

    /** This export with {@code value} as description. */
    public NbdExport description(String value) {
        return new NbdExport(name, device, readOnly, value);
    }

    private static void checkString(String what, String value) {
        if (value.indexOf('\0') >= 0) {
            throw new IllegalArgumentException(what + ": contains NUL (expected: no NUL characters)");
        }
        int bytes = value.getBytes(StandardCharsets.UTF_8).length;
        if (bytes > MAX_STRING_BYTES) {
            throw new IllegalArgumentException(what + ": " + bytes + " bytes (expected: <= " + MAX_STRING_BYTES + ")");
        }
    }

    // ------------------------------------------------------------------ what clients are told

    /** Export size in bytes, now (a dm device may change size while suspended). */
    long sizeBytes() {
        return Sectors.toBytes(device.capacitySectors());
    }

    /**
     * The transmission flags, derived from the device's limits: writes, trim, flush/FUA only where the device
     * does them; DF only with structured replies. WRITE_ZEROES is always offered on a writable export
     * (emulated by writing zeros when the device lacks it) and so is FAST_ZERO (answered ENOTSUP at once
     * when zeroing is not native). CAN_MULTI_CONN is always true: every connection submits to the same device,
     * and a block-layer FLUSH covers every write completed before it, whoever sent it. CACHE is accepted
     * (advisory).
     */
    int transmissionFlags(boolean structuredReplies) {
        QueueLimits limits = device.limits();
        int flags = TF_HAS_FLAGS | TF_CAN_MULTI_CONN | TF_SEND_CACHE;
        if (structuredReplies) {
            flags |= TF_SEND_DF;
        }
        if (readOnly) {
            flags |= TF_READ_ONLY;
        } else {
            flags |= TF_SEND_WRITE_ZEROES | TF_SEND_FAST_ZERO;
            if (limits.writeCache()) {
                flags |= TF_SEND_FLUSH | TF_SEND_FUA;
            }
            if (limits.supportsDiscard()) {
                flags |= TF_SEND_TRIM;
            }
        }
        return flags;
    }

    /**
     * Minimum = logical block; preferred = max(4096, physical block), raised to the device's optimal I/O size
     * (an RBD object, a full stripe) when that is larger: the spec wants a power of two, so the largest power
     * of two dividing it, and no more than the maximum payload; maximum = the server's payload bound.
     */
    BlockSizeConstraints blockSizes(int maxPayloadBytes) {
        QueueLimits limits = device.limits();
        int min = limits.logicalBlockBytes();
        int preferred = Math.max(4096, limits.physicalBlockBytes());
        int max = Math.max(preferred, maxPayloadBytes - maxPayloadBytes % min);
        int optimalPowerOfTwo = Integer.lowestOneBit(limits.optimalIoBytes());
        if (optimalPowerOfTwo > preferred && optimalPowerOfTwo <= max) {
            preferred = optimalPowerOfTwo;
        }
        return new BlockSizeConstraints(min, preferred, max);
    }
}
