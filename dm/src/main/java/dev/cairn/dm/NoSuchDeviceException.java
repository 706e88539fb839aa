package dev.cairn.dm;

/** No mapped device has the given name. */
public final class NoSuchDeviceException extends DmException {
    private static final long serialVersionUID = 1L;

    public NoSuchDeviceException(String name) {
        super("device: " + name + " (expected: an existing device)");
    }
}
