package dev.cairn.block;

import java.time.Duration;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * Configuration of one {@link Submitter}.
 *
 * @param name              used in thread names and reports
 * @param policy            the submission policy
 * @param watchdogThreshold how long a thread may wait in a blocking primitive, or a pooled bio may be
 *                          in flight, before the watchdog reports it; null turns the watchdog off
 * @param watchdogReporter  receives each report (the default logs it at WARNING)
 * @param schedulingHook    where a controlled-concurrency explorer schedules the threads (see
 *                          {@link SchedulingHook}); null, the default, in production
 */
public record SubmitterConfig(
        String name, SubmitPolicy policy, Duration watchdogThreshold, Consumer<WatchdogReport> watchdogReporter,
        SchedulingHook schedulingHook) {

    public SubmitterConfig {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(policy, "policy");
        Objects.requireNonNull(watchdogReporter, "watchdogReporter");
        if (watchdogThreshold != null && (watchdogThreshold.isNegative() || watchdogThreshold.isZero())) {
            throw new IllegalArgumentException("watchdogThreshold: " + watchdogThreshold + " (expected: > 0)");
        }
    }

    /** The default: FLUSH_ON_BLOCK, a watchdog at 30 s that logs. */
    public static SubmitterConfig defaults() {
        return new SubmitterConfig("cairn", SubmitPolicy.FLUSH_ON_BLOCK, Duration.ofSeconds(30), WatchdogReport::log, null);
    }

    public SubmitterConfig withName(String value) {
        return new SubmitterConfig(value, policy, watchdogThreshold, watchdogReporter, schedulingHook);
    }

    public SubmitterConfig withPolicy(SubmitPolicy value) {
        return new SubmitterConfig(name, value, watchdogThreshold, watchdogReporter, schedulingHook);
    }

    public SubmitterConfig withWatchdog(Duration threshold, Consumer<WatchdogReport> reporter) {
        return new SubmitterConfig(name, policy, threshold, reporter, schedulingHook);
    }

    /** The same configuration with {@code hook} (null: none) scheduling the submitter's threads. */
    public SubmitterConfig withSchedulingHook(SchedulingHook hook) {
        return new SubmitterConfig(name, policy, watchdogThreshold, watchdogReporter, hook);
    }
}
