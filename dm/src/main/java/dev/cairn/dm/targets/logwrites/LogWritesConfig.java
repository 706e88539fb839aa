package dev.cairn.dm.targets.logwrites;

import dev.cairn.dm.TableException;
import dev.cairn.dm.TargetArgs;
import java.util.Objects;

/**
 * Arguments of {@code log-writes <dev> <log dev>} (Linux {@code dm-log-writes}).
 *
 * @param device    the data device: I/O goes there unchanged, at the same sectors
 * @param logDevice the device the log is written to, from its sector 0
 */
public record LogWritesConfig(String device, String logDevice) {
    public static final String USAGE = "<dev> <log dev>";

    public LogWritesConfig {
        Objects.requireNonNull(device, "device");
        Objects.requireNonNull(logDevice, "logDevice");
    }

    public static LogWritesConfig parse(TargetArgs args) throws TableException {
        args.expectCount(USAGE, 2);
        String dev = args.nextDeviceSpec("dev");
        String log = args.nextDeviceSpec("log dev");
        args.expectEnd();
        if (dev.equals(log)) {
            throw args.error("log dev", log, "a device other than the data device");
        }
        return new LogWritesConfig(dev, log);
    }

    /** The TABLE status form: {@code <dev> <log dev>}. */
    public String toTable() {
        return device + " " + logDevice;
    }
}
