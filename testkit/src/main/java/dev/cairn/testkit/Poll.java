package dev.cairn.testkit;

import java.time.Duration;
import java.util.function.BooleanSupplier;

/**
 * Waits, in test code, for a condition that another thread makes true: instead of a fixed sleep that is too
 * short on a loaded machine, the test polls the state it is about to rely on and asserts the result.
 *
 * <pre>{@code
 * assertThat(Poll.until(() -> md.gateStats().gateClosed(), Duration.ofSeconds(10))).as("the suspend closed the gate").isTrue();
 * }</pre>
 *
 * <p>Thread safety: stateless; the condition must be safe to call from the test's thread.
 */
public final class Poll {
    private static final long INTERVAL_MILLIS = 5;

    private Poll() {}

    /**
     * Checks {@code condition} every few milliseconds until it holds or {@code timeout} has passed; returns
     * whether it held (checked once more at the end, so a condition that became true just then counts).
     */
    public static boolean until(BooleanSupplier condition, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - deadline >= 0) {
                return condition.getAsBoolean();
            }
            Thread.sleep(INTERVAL_MILLIS);
        }
        return true;
    }
}
