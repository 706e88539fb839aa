package dev.cairn.pdata;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * One cached 4 KiB metadata block: its location, its bytes (little-endian view) and the validator it
 * was read or created with. Writers change {@link #data()} and call {@link BlockManager#markDirty}.
 *
 * <p>Thread safety: none; blocks belong to the {@link BlockManager}'s single owner.
 */
public final class Block {
    private final long location;
    private final byte[] bytes;
    private final ByteBuffer data;
    BlockValidator validator;
    boolean dirty;

    Block(long location, byte[] bytes, BlockValidator validator) {
        this.location = location;
        this.bytes = bytes;
        this.data = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        this.validator = validator;
    }

    /** The block number on the metadata device. */
    public long location() {
        return location;
    }

    /** The block's 4096 bytes, little-endian, absolute access only (position and limit are not used). */
    public ByteBuffer data() {
        return data;
    }

    byte[] bytes() {
        return bytes;
    }

    @Override
    public String toString() {
        return "Block[" + location + (dirty ? " dirty" : "") + " " + (validator == null ? "-" : validator.name()) + "]";
    }
}
