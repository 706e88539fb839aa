package dev.cairn.dm;

/** The device is open or another device's table uses it, so it cannot be removed (without force). */
public final class DeviceBusyException extends DmException {
    private static final long serialVersionUID = 1L;

    public DeviceBusyException(String message) {
        super(message);
    }
}
