package dev.cairn.dm;

/**
 * A mapped device's I/O gate at one moment ({@link MappedDevice#ioStats()}): what a suspend is waiting for
 * and what it holds back. Each figure is read on its own, so they need not be consistent with each other.
 *
 * @param inFlightBios bios that entered the device and have not finished (held bios are not counted): a
 *                     suspend waits until this is zero
 * @param gateClosed   new I/O is held: a suspend got past its targets' presuspend, until resume
 * @param replaying    a resume is replaying held I/O (new I/O queues behind it)
 * @param heldBios     bios held by the gate, to be replayed at resume
 */
public record DeviceIoStats(long inFlightBios, boolean gateClosed, boolean replaying, int heldBios) {}
