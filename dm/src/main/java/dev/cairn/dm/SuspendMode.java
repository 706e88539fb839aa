package dev.cairn.dm;

/** How {@link MappedDevice#suspend} treats I/O (dmsetup {@code suspend [--noflush]}). */
public enum SuspendMode {
    /**
     * Hold new I/O, wait for in-flight I/O to finish, then flush every device the table uses so
     * completed writes are durable. A target's requeue during the suspend fails with IOERR, as in Linux.
     */
    FLUSH,
    /**
     * Hold new I/O and wait for in-flight I/O, without the final flush; a target may requeue I/O it
     * cannot finish (it is held and replayed after resume).
     */
    NOFLUSH
}
