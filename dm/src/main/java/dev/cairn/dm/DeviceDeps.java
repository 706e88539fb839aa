package dev.cairn.dm;

import java.util.List;
import java.util.Objects;

/**
 * The devices a mapped device's tables use ({@code dmsetup deps}), as written in the tables.
 *
 * @param name     the device
 * @param live     references of the live table, in table order, without duplicates
 * @param inactive references of the loaded (inactive) table, empty when none is loaded
 */
public record DeviceDeps(String name, List<String> live, List<String> inactive) {
    public DeviceDeps {
        Objects.requireNonNull(name, "name");
        live = List.copyOf(live);
        inactive = List.copyOf(inactive);
    }
}
