package dev.cairn.daemon;

import dev.cairn.dm.DeviceBusyException;
import dev.cairn.dm.DeviceExistsException;
import dev.cairn.dm.DmException;
import dev.cairn.dm.NoSuchDeviceException;
import dev.cairn.dm.TableException;

/** Turns dm's typed failures into {@link DaemonException}s with a kind and a next step. */
final class DmErrors {
    private DmErrors() {}

    static DaemonException of(String verb, String device, DmException e) {
        return switch (e) {
            case NoSuchDeviceException n -> new DaemonException(ErrorKind.NOT_FOUND, e.getMessage(),
                    "cairn ls lists the devices; create one with: cairn create NAME --table-file FILE", e);
            case DeviceExistsException x -> new DaemonException(ErrorKind.EXISTS, e.getMessage(),
                    "pick another name, or remove the old device first: cairn remove " + device, e);
            // cairn remove --force is refused for the devices the snapshot verbs manage: never suggest it there.
            case DeviceBusyException b -> new DaemonException(ErrorKind.BUSY, e.getMessage(), verb.startsWith("snapshot")
                    ? "cairn ls --tree shows what uses it and cairn info " + device + " its open count; close or remove that, then retry"
                    : "remove what uses it first (cairn ls --tree shows the stack), or force it: cairn remove --force " + device, e);
            case TableException t -> new DaemonException(ErrorKind.BAD_TABLE, "bad table: " + e.getMessage(),
                    "fix the table and retry; the device was not changed. Lines are <start> <length> <target> <args...> "
                            + "in 512-byte sectors; cairn targets lists the targets, docs/targets/ describes them", e);
            default -> new DaemonException(ErrorKind.FAILED, verb + " " + device + ": " + e.getMessage(),
                    "cairn info " + device + " shows the device's state", e);
        };
    }
}
