package dev.cairn.dm;

import java.util.List;
import java.util.Objects;

/**
 * What {@code dmsetup info} reports for one device.
 *
 * @param name           the device name
 * @param state          ACTIVE or SUSPENDED
 * @param liveTable      true when a table is live
 * @param inactiveTable  true when a table is loaded but not yet live
 * @param readOnly       true when the live table's devices refuse writes
 * @param openCount      external opens ({@link MappedDevice#open()}) plus tables of other devices that use it
 * @param holders        names of the devices whose live or inactive table uses this one, sorted
 * @param eventNumber    goes up on every table swap and every event a target raises
 * @param capacitySectors size of the live table (0 without one)
 * @param targetCount    lines in the live table
 * @param heldBios       bios held while suspended, to be replayed at resume
 */
public record DeviceInfo(
        String name,
        DeviceState state,
        boolean liveTable,
        boolean inactiveTable,
        boolean readOnly,
        int openCount,
        List<String> holders,
        long eventNumber,
        long capacitySectors,
        int targetCount,
        int heldBios) {
    public DeviceInfo {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(state, "state");
        holders = List.copyOf(holders);
    }
}
