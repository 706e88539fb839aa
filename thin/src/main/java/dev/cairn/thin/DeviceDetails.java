package dev.cairn.thin;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * One thin device's details (Linux {@code struct disk_device_details}, 24 bytes: mapped_blocks u64,
 * transaction_id u64, creation_time u32, snapshotted_time u32), plus whether they changed in this
 * transaction and how many thin targets have the device open.
 *
 * <p>Thread safety: none; guarded by the pool's metadata lock.
 */
final class DeviceDetails {
    static final int BYTES = 24;

    long mappedBlocks;
    long transactionId;
    int creationTime;
    int snapshottedTime;
    boolean changed;
    int openCount;

    DeviceDetails(long mappedBlocks, long transactionId, int creationTime, int snapshottedTime) {
        this.mappedBlocks = mappedBlocks;
        this.transactionId = transactionId;
        this.creationTime = creationTime;
        this.snapshottedTime = snapshottedTime;
    }

    static DeviceDetails decode(byte[] v) {
        ByteBuffer b = ByteBuffer.wrap(v).order(ByteOrder.LITTLE_ENDIAN);
        return new DeviceDetails(b.getLong(0), b.getLong(8), b.getInt(16), b.getInt(20));
    }

    byte[] encode() {
        byte[] v = new byte[BYTES];
        ByteBuffer.wrap(v).order(ByteOrder.LITTLE_ENDIAN).putLong(0, mappedBlocks).putLong(8, transactionId)
                .putInt(16, creationTime).putInt(20, snapshottedTime);
        return v;
    }
}
