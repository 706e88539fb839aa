package dev.cairn.dm;

/** A device (mapped or leaf) with the given name exists already. */
public final class DeviceExistsException extends DmException {
    private static final long serialVersionUID = 1L;

    public DeviceExistsException(String name) {
        super("device: " + name + " (expected: a name not in use)");
    }
}
