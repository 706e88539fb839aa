package dev.cairn.testkit.explore;

import dev.cairn.testkit.explore.ControlledScheduler.Quiescence;
import dev.cairn.testkit.explore.ControlledScheduler.Step;
import dev.cairn.testkit.explore.ControlledScheduler.Waiter;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Objects;

/**
 * Systematic exploration of a scenario's schedules (stateless model checking, as CHESS does): runs the
 * scenario again and again under a {@link ControlledScheduler}, each time with the next schedule of a
 * depth-first search over the scheduler's choices, bounded by the number of preemptions per run, until
 * the tree is exhausted or a budget of schedules is spent. Each schedule is written to a log with its
 * replay string; a schedule is replayed with {@link #replay}.
 *
 * <p>Each run ends quiescent (see {@link ControlledScheduler}). A deadlock (a scenario thread waits for
 * ever) is recorded and, with {@link Options#stopAtFirstDeadlock}, ends the search; otherwise the run's
 * result is checked with {@link Run#check}. A failed check, an exception in a scenario thread, a run that
 * hangs outside the scheduling points, or a nondeterministic replay ends the search with a
 * {@link Failure}.
 *
 * <p>Thread safety: not thread-safe; one exploration per instance, on the test's thread.
 */
public final class ScheduleExplorer {
    /** Builds the system under test for one run. */
    @FunctionalInterface
    public interface Scenario {
        /**
         * Builds the system with {@code scheduler} as its submitter's scheduling hook, waits for the threads it
         * starts by itself ({@link ControlledScheduler#awaitAdopted}) and spawns the scenario's threads
         * ({@link ControlledScheduler#spawn}). Runs on the test's thread, whose waits are real.
         */
        Run start(ControlledScheduler scheduler) throws Exception;
    }

    /** One run of a scenario, after its schedule ended; every controlled thread has been released. */
    public interface Run extends AutoCloseable {
        /** The run ended without a deadlock: throws AssertionError when its result is wrong. */
        void check() throws Exception;

        /** The run deadlocked: end the waits (shut the submitter down) so that {@link #close} can tear down. */
        void abortDeadlock() throws Exception;

        /** Tears the system down (with real waits); throws AssertionError when it does not come down. */
        @Override
        void close();
    }

    /**
     * @param preemptionBound     preemptions per run (Integer.MAX_VALUE: unbounded)
     * @param maxSchedules        stop after this many schedules even if the tree is not exhausted
     * @param runTimeout          how long one run may take to become quiescent (real time)
     * @param stopAtFirstDeadlock end the search at the first deadlock (else count them and go on)
     * @param log                 where each schedule's line goes (null: nowhere)
     */
    public record Options(int preemptionBound, long maxSchedules, Duration runTimeout, boolean stopAtFirstDeadlock, Path log) {
        public Options {
            if (preemptionBound < 0) {
                throw new IllegalArgumentException("preemptionBound: " + preemptionBound + " (expected: >= 0)");
            }
            if (maxSchedules < 1) {
                throw new IllegalArgumentException("maxSchedules: " + maxSchedules + " (expected: >= 1)");
            }
            Objects.requireNonNull(runTimeout, "runTimeout");
        }
    }

    /** A schedule that deadlocked: its replay string, who waits in what, and the decisions that led there. */
    public record Deadlock(long schedule, String replay, List<Waiter> waiters, List<Step> trace) {
        /** The schedule, the waiters, then the trace, one per line. */
        public String describe() {
            StringBuilder sb = new StringBuilder("deadlock in schedule " + schedule + ", replay \"" + replay + "\"\n");
            for (Waiter w : waiters) {
                sb.append("  ").append(w).append('\n');
            }
            sb.append("  schedule:\n");
            for (Step s : trace) {
                sb.append("    ").append(s).append('\n');
            }
            return sb.toString();
        }
    }

    /** A schedule whose result was wrong, or that could not be run; {@code cause} says what. */
    public record Failure(long schedule, String replay, Throwable cause, List<Step> trace) {
        public String describe() {
            StringBuilder sb = new StringBuilder("schedule " + schedule + " failed, replay \"" + replay + "\": " + cause + "\n");
            for (Step s : trace) {
                sb.append("    ").append(s).append('\n');
            }
            return sb.toString();
        }
    }

    /**
     * The search's outcome.
     *
     * @param schedules  schedules run
     * @param exhausted  every schedule within the bound was run
     * @param deadlocks  schedules that deadlocked
     * @param firstDeadlock the first of them, or null
     * @param failure    the schedule that ended the search with a failure, or null
     * @param maxSteps   the most decisions one run made
     * @param elapsed    wall time of the search
     * @param replay     this was the replay of one schedule
     * @param lastTrace  the decisions of the last schedule run
     */
    public record Result(long schedules, boolean exhausted, long deadlocks, Deadlock firstDeadlock, Failure failure,
            int maxSteps, Duration elapsed, boolean replay, List<Step> lastTrace) {
        public String summary() {
            String why = replay ? " (a replay)"
                    : exhausted ? " (the whole bounded space)"
                    : failure != null ? " (stopped at a failure)"
                    : firstDeadlock != null && firstDeadlock.schedule() == schedules ? " (stopped at the first deadlock)"
                    : " (budget reached)";
            return schedules + " schedules" + why + ", "
                    + deadlocks + " deadlocked, " + (failure == null ? "no failure" : "FAILED") + ", at most " + maxSteps
                    + " decisions per run, " + elapsed.toMillis() + " ms";
        }
    }

    private final Scenario scenario;
    private final Options options;

    public ScheduleExplorer(Scenario scenario, Options options) {
        this.scenario = Objects.requireNonNull(scenario, "scenario");
        this.options = Objects.requireNonNull(options, "options");
    }

    /** Runs the depth-first search. */
    public Result explore() throws Exception {
        return search(ScheduleChoices.first(), false);
    }

    /** Runs the one schedule given by {@code replay} (as the log and the reports print it). */
    public Result replay(String replay) throws Exception {
        return search(ScheduleChoices.replay(replay), true);
    }

    private Result search(ScheduleChoices first, boolean replay) throws Exception {
        long start = System.nanoTime();
        long schedules = 0;
        long deadlocks = 0;
        int maxSteps = 0;
        Deadlock firstDeadlock = null;
        Failure failure = null;
        boolean exhausted = false;
        List<Step> lastTrace = List.of();
        try (BufferedWriter log = options.log() == null ? null : open(options.log())) {
            ScheduleChoices choices = first;
            while (true) {
                schedules++;
                ControlledScheduler scheduler = new ControlledScheduler(choices, options.preemptionBound(), true);
                Outcome outcome = runOne(scheduler);
                String choicesMade = scheduler.replayString();
                lastTrace = scheduler.trace();
                if (outcome.quiescence != null) {
                    maxSteps = Math.max(maxSteps, outcome.quiescence.steps());
                }
                if (log != null) {
                    log.write(schedules + " " + (choicesMade.isEmpty() ? "-" : choicesMade) + " " + outcome.label() + "\n");
                }
                if (outcome.error != null) {
                    failure = new Failure(schedules, choicesMade, outcome.error, lastTrace);
                    break;
                }
                if (outcome.quiescence.deadlock()) {
                    deadlocks++;
                    if (firstDeadlock == null) {
                        firstDeadlock = new Deadlock(schedules, choicesMade, outcome.quiescence.waiters(), lastTrace);
                    }
                    if (options.stopAtFirstDeadlock()) {
                        break;
                    }
                }
                choices = choices.next();
                if (choices == null) {
                    exhausted = !replay;
                    break;
                }
                if (schedules >= options.maxSchedules()) {
                    break;
                }
            }
        }
        return new Result(schedules, exhausted, deadlocks, firstDeadlock, failure, maxSteps,
                Duration.ofNanos(System.nanoTime() - start), replay, lastTrace);
    }

    private record Outcome(Quiescence quiescence, Throwable error) {
        String label() {
            if (error != null) {
                return "FAILED " + error;
            }
            return (quiescence.deadlock() ? "DEADLOCK" : "ok") + " steps=" + quiescence.steps() + " preemptions="
                    + quiescence.preemptions();
        }
    }

    private Outcome runOne(ControlledScheduler scheduler) {
        Quiescence q = null;
        Throwable error = null;
        Run run = null;
        try {
            run = scenario.start(scheduler);
            q = scheduler.run(options.runTimeout());
            if (!q.failures().isEmpty()) {
                error = q.failures().getFirst();
            }
        } catch (Throwable e) {
            error = e;
        }
        scheduler.release();
        if (run != null) {
            try {
                if (error != null || q.deadlock()) {
                    run.abortDeadlock();
                } else {
                    run.check();
                }
            } catch (Throwable e) {
                if (error == null) {
                    error = e;
                }
            }
            try {
                run.close();
            } catch (Throwable e) {
                if (error == null) {
                    error = e;
                }
            }
        }
        return new Outcome(q, error);
    }

    private static BufferedWriter open(Path log) {
        try {
            Files.createDirectories(log.toAbsolutePath().getParent());
            return Files.newBufferedWriter(log);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
