package dev.cairn.dm;

/**
 * A device-mapper operation was refused or failed. Nothing was changed unless the subclass says
 * otherwise. Subclasses let a caller (the daemon, the CLI) map a failure to an exit code or a
 * protocol error without parsing messages: {@link TableException}, {@link NoSuchDeviceException},
 * {@link DeviceExistsException}, {@link DeviceBusyException}.
 */
public class DmException extends Exception {
    private static final long serialVersionUID = 1L;

    public DmException(String message) {
        super(message);
    }

    public DmException(String message, Throwable cause) {
        super(message, cause);
    }
}
