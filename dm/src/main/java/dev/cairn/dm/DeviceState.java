package dev.cairn.dm;

/** Whether a mapped device passes I/O to its live table. */
public enum DeviceState {
    /** I/O goes to the live table. */
    ACTIVE,
    /** New I/O is held (queued in order) until resume. A new device without a table starts suspended. */
    SUSPENDED
}
