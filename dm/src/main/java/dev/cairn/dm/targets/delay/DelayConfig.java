package dev.cairn.dm.targets.delay;

import dev.cairn.dm.TableException;
import dev.cairn.dm.TargetArgs;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Arguments of {@code delay <dev> <offset> <delay_ms> [<wdev> <woffset> <wdelay_ms> [<fdev> <foffset>
 * <fdelay_ms>]]} (Linux {@code dm-delay}): 3, 6 or 9 arguments. With 3, reads, writes and flushes all
 * use the first class; with 6, writes and flushes use the second; with 9, flushes use the third.
 *
 * @param classes the 1, 2 or 3 classes as written
 */
public record DelayConfig(List<DelayClass> classes) {
    public static final String USAGE = "<dev> <offset> <delay_ms> [<wdev> <woffset> <wdelay_ms> [<fdev> <foffset> <fdelay_ms>]]";

    /** One class: where its I/O goes and how long it is held, in milliseconds. */
    public record DelayClass(String device, long offsetSectors, long delayMillis) {
        public DelayClass {
            Objects.requireNonNull(device, "device");
        }

        String toTable() {
            return device + " " + offsetSectors + " " + delayMillis;
        }
    }

    public DelayConfig {
        classes = List.copyOf(classes);
        if (classes.isEmpty() || classes.size() > 3) {
            throw new IllegalArgumentException("classes: " + classes.size() + " (expected: 1, 2 or 3)");
        }
    }

    public static DelayConfig parse(TargetArgs args) throws TableException {
        args.expectCount(USAGE, 3, 6, 9);
        List<DelayClass> classes = new ArrayList<>(3);
        String[] prefixes = {"", "w", "f"};
        for (int i = 0; i < args.size() / 3; i++) {
            String p = prefixes[i];
            String dev = args.nextDeviceSpec(p + "dev");
            long offset = args.nextSector(p + "offset");
            long delay = args.nextLong(p + "delay_ms", 0, 0xFFFF_FFFFL);
            classes.add(new DelayClass(dev, offset, delay));
        }
        args.expectEnd();
        return new DelayConfig(classes);
    }

    public DelayClass read() {
        return classes.getFirst();
    }

    public DelayClass write() {
        return classes.size() >= 2 ? classes.get(1) : classes.getFirst();
    }

    public DelayClass flush() {
        return classes.size() >= 3 ? classes.get(2) : write();
    }

    /** The TABLE status form: the classes as given (3, 6 or 9 values). */
    public String toTable() {
        StringBuilder sb = new StringBuilder();
        for (DelayClass c : classes) {
            if (!sb.isEmpty()) {
                sb.append(' ');
            }
            sb.append(c.toTable());
        }
        return sb.toString();
    }
}
