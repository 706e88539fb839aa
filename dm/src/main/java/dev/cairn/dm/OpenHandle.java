package dev.cairn.dm;

import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One open of a mapped device ({@link MappedDevice#open()}): while any handle is open the device
 * counts as in use and cannot be removed without force. Closing is idempotent.
 *
 * <p>Thread safety: {@link #close()} may be called from any thread.
 */
public final class OpenHandle implements AutoCloseable {
    private final MappedDevice device;
    private final AtomicBoolean closed = new AtomicBoolean();

    OpenHandle(MappedDevice device) {
        this.device = device;
    }

    public MappedDevice device() {
        return device;
    }

    @Override
    public void close() {
        if (closed.compareAndSet(false, true)) {
            device.closeOne();
        }
    }
}
