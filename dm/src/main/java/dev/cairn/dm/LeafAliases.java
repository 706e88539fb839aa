package dev.cairn.dm;

import dev.cairn.block.BlockDevice;
import dev.cairn.block.store.FileStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;

/**
 * The identity rule for the devices one target uses: no two of its references may reach the same sectors of
 * one writable leaf, and no file may be reached through two paths (two opens of one file by device and
 * inode: a hard link, a symbolic link, a bind mount). Linux refuses a snapshot whose COW is its origin
 * ("COW device cannot be the same as origin device"); Cairn's origins are stacked ({@code vol0-real} over
 * {@code file:vol0.img}), so the rule follows each reference down to its leaves: a COW that is the origin's
 * own image wrote its header over the origin's first bytes (issue 22 item 5).
 *
 * <p>A reference reaches, through a mapped device, the leaf ranges its live table's targets name over the
 * part in use (whole targets: an over-approximation, exact for linear). At the top a reference counts as
 * whole, since the target has not said yet which part it uses. Two references written the same way are
 * one path, used on purpose (two stripes on one device), and are not checked against each other. Memory
 * stores are each their own. Read-only leaves may be shared. A target that knows what it does with aliases
 * opts out with {@link TargetContext#allowSharedLeaves}.
 *
 * <p>The check runs when a reference is opened ({@link TargetContext#open}), before the target's
 * constructor can write anything (a persistent snapshot writes its header while it is built).
 *
 * <p>Thread safety: stateless; runs on the thread building a table, reading other devices' live tables
 * (volatile) as they are at that moment.
 */
final class LeafAliases {
    private LeafAliases() {}

    /** A range of one leaf reached through a reference. */
    private record Extent(Object identity, String leafName, BlockDevice leaf, long startSector, long lengthSectors) {
        boolean overlaps(Extent o) {
            return startSector < o.startSector + o.lengthSectors && o.startSector < startSector + lengthSectors;
        }
    }

    /**
     * Null when {@code fresh} may be used beside {@code earlier} (the references the same target opened
     * before it); otherwise what was expected, for {@code "<spec> (expected: ...)"}.
     */
    static String check(DeviceRef fresh, List<DeviceRef> earlier) {
        List<Extent> mine = null;
        for (DeviceRef other : earlier) {
            if (other == fresh || other.spec().equals(fresh.spec())) {
                continue;
            }
            if (mine == null) {
                mine = extents(fresh);
                if (mine.isEmpty()) {
                    return null;
                }
            }
            for (Extent theirs : extents(other)) {
                for (Extent e : mine) {
                    if (!e.identity.equals(theirs.identity)) {
                        continue;
                    }
                    if (e.leaf != theirs.leaf) {
                        return "one path per file: " + e.leafName + " is " + theirs.leafName + ", which " + other.spec()
                                + " also opened (same device and inode)";
                    }
                    if (e.overlaps(theirs)) {
                        long start = Math.max(e.startSector, theirs.startSector);
                        long end = Math.min(e.startSector + e.lengthSectors, theirs.startSector + theirs.lengthSectors);
                        return "a device that shares no sector of a writable leaf with " + other.spec() + ": both reach"
                                + " sectors [" + start + ", +" + (end - start) + ") of " + e.leafName
                                + " (a COW device cannot be the same as its origin device)";
                    }
                }
            }
        }
        return null;
    }

    private static List<Extent> extents(DeviceRef ref) {
        List<Extent> out = new ArrayList<>();
        collect(ref, 0, ref.capacitySectors(), out);
        return out;
    }

    private static void collect(DeviceRef ref, long startSector, long lengthSectors, List<Extent> out) {
        BlockDevice device = ref.device();
        switch (ref.kind()) {
            case MEMORY -> { } // a store of its own: nothing else can reach it
            case MAPPED -> {
                Table t = device instanceof MappedDevice md ? md.liveTable() : null;
                if (t == null) {
                    return;
                }
                long end = startSector + lengthSectors;
                for (int i = 0; i < t.size(); i++) {
                    TableTarget tt = t.target(i);
                    if (tt.beginSector < end && startSector < tt.endSector) {
                        tt.target().iterateDevices((lower, s, l) -> collect(lower, s, l, out));
                    }
                }
            }
            case FILE, LEAF, EXTERNAL -> {
                if (device.limits().readOnly()) {
                    return;
                }
                Path path = device instanceof FileStore fs ? fs.path().toAbsolutePath().normalize() : null;
                if (path == null) {
                    out.add(new Extent(device, ref.spec(), device, startSector, lengthSectors));
                } else {
                    out.add(new Extent(fileIdentity(path), path.toString(), device, startSector, lengthSectors));
                }
            }
        }
    }

    /** The file's device and inode ({@link BasicFileAttributes#fileKey}), else its real path, else the path. */
    private static Object fileIdentity(Path path) {
        try {
            Object key = Files.readAttributes(path, BasicFileAttributes.class).fileKey();
            return key != null ? key : path.toRealPath();
        } catch (IOException e) {
            return path;
        }
    }
}
