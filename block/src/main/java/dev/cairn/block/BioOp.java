package dev.cairn.block;

/** What a bio asks the device to do. */
public enum BioOp {
    /** Read {@code sizeBytes} into the bio's segments. */
    READ(false, true),
    /** Write the bio's segments. */
    WRITE(true, true),
    /** Empty flush: make every write completed before it durable. Has no data and no range. */
    FLUSH(true, false),
    /** Deallocate a range; afterwards it reads as zeros or as old data, depending on the device. */
    DISCARD(true, false),
    /** Make a range read as zeros; may deallocate unless {@link BioFlags#NOUNMAP} is set. */
    WRITE_ZEROES(true, false);

    private final boolean write;
    private final boolean data;

    BioOp(boolean write, boolean data) {
        this.write = write;
        this.data = data;
    }

    /** True for every operation that can change the device's contents or durability. */
    public boolean isWrite() {
        return write;
    }

    /** True when the bio carries data segments (READ and WRITE). */
    public boolean hasData() {
        return data;
    }
}
