package dev.cairn.dm;

/** The two status forms of a table (Linux {@code STATUSTYPE_INFO} and {@code STATUSTYPE_TABLE}). */
public enum StatusType {
    /** Run-time state: {@code dmsetup status}. */
    INFO,
    /** The constructor arguments in canonical form: {@code dmsetup table}; round-trips through the constructor. */
    TABLE
}
