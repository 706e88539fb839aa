package dev.cairn.dm.targets.linear;

import dev.cairn.dm.TableException;
import dev.cairn.dm.TargetArgs;
import java.util.Objects;

/**
 * Arguments of {@code linear <dev> <offset>}.
 *
 * @param device        the lower device reference (a name, {@code mem:SIZE} or {@code file:PATH})
 * @param offsetSectors where this target starts on the lower device
 */
public record LinearConfig(String device, long offsetSectors) {
    public static final String USAGE = "<dev> <offset>";

    public LinearConfig {
        Objects.requireNonNull(device, "device");
        if (offsetSectors < 0) {
            throw new IllegalArgumentException("offsetSectors: " + offsetSectors + " (expected: >= 0)");
        }
    }

    public static LinearConfig parse(TargetArgs args) throws TableException {
        args.expectCount(USAGE, 2);
        String dev = args.nextDeviceSpec("dev");
        long offset = args.nextSector("offset");
        args.expectEnd();
        return new LinearConfig(dev, offset);
    }

    /** The TABLE status form: {@code <dev> <offset>}. */
    public String toTable() {
        return device + " " + offsetSectors;
    }
}
