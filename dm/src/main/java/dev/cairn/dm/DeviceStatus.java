package dev.cairn.dm;

import java.util.List;
import java.util.Objects;

/**
 * The status of one device's live (or inactive) table.
 *
 * @param name  the device
 * @param type  INFO or TABLE
 * @param lines one per target, in table order; empty when there is no such table
 */
public record DeviceStatus(String name, StatusType type, List<StatusLine> lines) {
    public DeviceStatus {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(type, "type");
        lines = List.copyOf(lines);
    }

    /** The lines joined with newlines, each ending with one; for TABLE this is loadable table text. */
    public String text() {
        StringBuilder sb = new StringBuilder();
        for (StatusLine l : lines) {
            sb.append(l).append('\n');
        }
        return sb.toString();
    }
}
