package dev.cairn.dm;

/**
 * A suspend gave up before in-flight I/O had finished (its timeout passed or
 * {@link MappedDevice#abortSuspend()} was called); the device is active again, unchanged.
 */
public final class SuspendAbortedException extends DmException {
    private static final long serialVersionUID = 1L;

    public SuspendAbortedException(String message) {
        super(message);
    }
}
