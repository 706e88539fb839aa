package dev.cairn.nbd.server;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The time a client has from accept to the end of option negotiation (TLS handshake included), as
 * qemu-nbd's {@code --handshake-limit} (10 s by default there, 0 for none): a client that connects and
 * never finishes negotiating would otherwise hold a connection slot, a socket and a thread until the
 * server closes. When the limit passes first, the connection's transport is closed, which wakes the
 * handshake's blocked read; {@link #finish} then tells the connection it lost.
 *
 * <p>One virtual thread per connection sleeps for the limit and is interrupted when the handshake ends in
 * time (a sleeping virtual thread holds no carrier; this is the pattern of {@link ServerTls}'s own TLS
 * timer).
 *
 * <p>Thread safety: the outcome is decided once by a compare-and-set between {@link #finish} (the
 * connection's thread) and the timer thread.
 */
final class HandshakeLimit {
    private static final int RUNNING = 0;
    private static final int FINISHED = 1;
    private static final int EXPIRED = 2;

    private final AtomicInteger state = new AtomicInteger(RUNNING);
    private final Thread timer;

    /**
     * Starts the clock. When {@code limit} passes before {@link #finish}, {@code onExpiry} runs (on the timer
     * thread; it counts) and then {@code transport} is closed.
     *
     * @param limit a positive duration, or {@link Duration#ZERO} for no limit
     */
    HandshakeLimit(Duration limit, NbdTransport transport, Runnable onExpiry, String timerName) {
        if (limit.isZero()) {
            timer = null;
            return;
        }
        timer = Thread.ofVirtual().name(timerName).start(() -> {
            try {
                Thread.sleep(limit);
            } catch (InterruptedException e) {
                return; // finished in time
            }
            if (state.compareAndSet(RUNNING, EXPIRED)) {
                onExpiry.run();
                transport.close();
            }
        });
    }

    /** Stops the clock at the end of the handshake (however it ended); false when the limit had passed. */
    boolean finish() {
        boolean inTime = state.compareAndSet(RUNNING, FINISHED);
        if (timer != null) {
            timer.interrupt();
        }
        return inTime || state.get() == FINISHED;
    }

    /** True when the limit passed before the handshake ended. */
    boolean expired() {
        return state.get() == EXPIRED;
    }
}
