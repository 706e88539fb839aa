package dev.cairn.nbd.client;

/**
 * What one handshake agreed: the export's size and transmission flags, whether replies are structured,
 * the id of {@code base:allocation} (or -1), and the block sizes (NBD_INFO_BLOCK_SIZE, or the protocol's
 * defaults when the server sent none: 1 byte, 4 KiB, 32 MiB).
 */
record NegotiatedExport(long sizeBytes, int transmissionFlags, boolean structuredReplies, long baseAllocationId,
        int minimumBlockBytes, int preferredBlockBytes, int maximumBlockBytes) {

    boolean has(int flag) {
        return (transmissionFlags & flag) != 0;
    }

    boolean canBlockStatus() {
        return structuredReplies && baseAllocationId >= 0;
    }

    /** True when a reconnect reached the same export (same size and capabilities). */
    boolean sameAs(NegotiatedExport o) {
        return sizeBytes == o.sizeBytes && transmissionFlags == o.transmissionFlags
                && structuredReplies == o.structuredReplies && (baseAllocationId >= 0) == (o.baseAllocationId >= 0);
    }

    @Override
    public String toString() {
        return sizeBytes + " bytes, flags " + dev.cairn.nbd.protocol.NbdWire.transmissionFlagsToString(transmissionFlags)
                + (structuredReplies ? ", structured" : ", simple") + (canBlockStatus() ? ", base:allocation" : "")
                + ", blocks " + minimumBlockBytes + "/" + preferredBlockBytes + "/" + Integer.toUnsignedString(maximumBlockBytes);
    }

    /** The largest payload a client should send when the server gave no NBD_INFO_BLOCK_SIZE. */
    static final int DEFAULT_MAX_BLOCK_BYTES = 32 << 20;
}
