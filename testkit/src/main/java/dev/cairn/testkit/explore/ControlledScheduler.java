package dev.cairn.testkit.explore;

import dev.cairn.block.SchedulingHook;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.BooleanSupplier;

/**
 * A deterministic scheduler for one run of a scenario: of the threads it controls, exactly one runs at a
 * time, and it chooses who runs next at every scheduling point (every call of {@link SchedulingHook}, that
 * is every use of a block-layer blocking primitive and the rescuer's wait for work), taking the choice
 * from {@link ScheduleChoices}.
 *
 * <h2>Implementation notes</h2>
 * <b>Who is controlled.</b> Scenario threads are started with {@link #spawn}. A rescuer is announced by
 * {@link #threadStarting} and controlled from its first scheduling point. Any other thread that reaches a
 * scheduling point while the scheduler is live (a copy worker started while the scenario's devices were
 * built) is adopted there; {@link #awaitAdopted} lets the set-up wait for those, so that every run starts
 * with the same threads. The thread that made the scheduler (the test's) is never controlled: its
 * scheduling points pass through, which is how the scenario is built and checked with real waits.
 *
 * <p><b>A decision.</b> The running thread stops at a scheduling point. Once every announced thread has
 * reached its first point, the enabled threads are: those at a point of {@code beforeUse} (they can go on),
 * and those at {@code beforePark} whose {@code ready} is true now (their wait would end at once). If the
 * thread that stopped is enabled, it is option 0 and switching away from it is a <em>preemption</em>;
 * the others follow in the order they became known. Once {@code preemptionBound} preemptions were made,
 * an enabled current thread is the only option. A timed wait is treated as untimed (time does not pass).
 * When no thread is enabled the run is <em>quiescent</em>: every controlled thread has ended or waits for
 * something no controlled thread will do. A quiescent run with a scenario thread still waiting is a deadlock.
 *
 * <p><b>After the run</b>, {@link #release} lets every waiting thread go on uncontrolled (into the
 * primitive's real wait), so that the scenario can be checked and torn down with real waits.
 *
 * <p>Granularity: code between two scheduling points runs without interruption. That is the model of the
 * block layer's rule (driver code may sleep only in its primitives); races on plain memory between two
 * points are not explored.
 *
 * <p>Thread safety: all state is guarded by {@code lock}; hook methods are called from the controlled
 * threads, the others from the test's thread.
 */
public final class ControlledScheduler implements SchedulingHook {
    private static final Duration ARRIVAL_TIMEOUT = Duration.ofSeconds(20);

    private enum State {
        /** Announced, not at its first scheduling point yet. */
        STARTING,
        /** At a scheduling point, waiting to be chosen. */
        WAITING,
        /** Chosen: runs until its next scheduling point. */
        RUNNING,
        DONE
    }

    private static final class Controlled {
        final int id;
        final Thread thread;
        final boolean scenario;
        State state = State.STARTING;
        /** What it waits in (at a point), or null. */
        Object at;
        /** Null at a {@code beforeUse} point: always enabled. */
        BooleanSupplier ready;
        boolean go;

        Controlled(int id, Thread thread, boolean scenario) {
            this.id = id;
            this.thread = thread;
            this.scenario = scenario;
        }

        String name() {
            return thread.getName();
        }
    }

    /** One entry of the run's trace: at decision {@code step}, {@code thread} chose to run {@code next}. */
    public record Step(int step, String thread, String at, String next, int options) {
        @Override
        public String toString() {
            return "#" + step + " " + thread + " at " + at + " -> " + next + (options > 1 ? " (1 of " + options + ")" : "");
        }
    }

    /** What a controlled thread waits in when the run is quiescent. */
    public record Waiter(String thread, boolean scenario, String waitsIn) {
        @Override
        public String toString() {
            return thread + (scenario ? "" : " (service)") + " waits in " + waitsIn;
        }
    }

    /**
     * How a run ended.
     *
     * @param deadlock  a scenario thread waits and nothing can wake it
     * @param waiters   the controlled threads that still wait, and in what
     * @param failures  what the scenario threads threw
     * @param steps     decisions made
     * @param preemptions preemptions made
     */
    public record Quiescence(boolean deadlock, List<Waiter> waiters, List<Throwable> failures, int steps, int preemptions) {}

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final ScheduleChoices choices;
    private final int preemptionBound;
    private final boolean keepTrace;
    private final Thread owner = Thread.currentThread();
    private final List<Controlled> threads = new ArrayList<>();
    private final Map<Thread, Controlled> byThread = new HashMap<>();
    private final List<Step> trace = new ArrayList<>();
    private final List<Throwable> failures = new ArrayList<>();
    private int steps;
    private int preemptions;
    private boolean begun;
    private boolean quiescent;
    private boolean released;
    private RuntimeException schedulerError;

    /**
     * @param choices         where the decisions come from
     * @param preemptionBound at most this many preemptions per run (Integer.MAX_VALUE: unbounded)
     * @param keepTrace       keep a step-by-step trace (costs a string per decision)
     */
    public ControlledScheduler(ScheduleChoices choices, int preemptionBound, boolean keepTrace) {
        if (preemptionBound < 0) {
            throw new IllegalArgumentException("preemptionBound: " + preemptionBound + " (expected: >= 0)");
        }
        this.choices = choices;
        this.preemptionBound = preemptionBound;
        this.keepTrace = keepTrace;
    }

    // ---------------------------------------------------------------- the test's side

    /** Starts a scenario thread named {@code name}; it waits to be chosen before running {@code body}. */
    public Thread spawn(String name, Runnable body) {
        Thread t = Thread.ofPlatform().name(name).unstarted(() -> {
            Controlled me;
            lock.lock();
            try {
                me = byThread.get(Thread.currentThread());
                arrive(me, "start", null);
            } finally {
                lock.unlock();
            }
            try {
                body.run();
            } catch (Throwable e) {
                lock.lock();
                try {
                    failures.add(e);
                } finally {
                    lock.unlock();
                }
            } finally {
                exit(me);
            }
        });
        lock.lock();
        try {
            if (begun) {
                throw new IllegalStateException("spawn before begin");
            }
            register(t, true);
        } finally {
            lock.unlock();
        }
        t.start();
        return t;
    }

    /** Waits until {@code count} threads were adopted (reached a scheduling point without being announced). */
    public void awaitAdopted(int count, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        lock.lock();
        try {
            while (adopted() < count) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new IllegalStateException(adopted() + " threads adopted after " + timeout + ", expected " + count
                            + ": " + threads.stream().map(Controlled::name).toList());
                }
                changed.awaitNanos(left);
            }
        } finally {
            lock.unlock();
        }
    }

    private int adopted() {
        int n = 0;
        for (Controlled c : threads) {
            if (!c.scenario && c.state == State.WAITING) {
                n++;
            }
        }
        return n;
    }

    /**
     * Makes the first decision, then waits until the run is quiescent (see the class comment). Throws
     * {@link RunHangException} when it is not within {@code timeout}: a controlled thread blocked outside
     * the scheduling points (a wait the scheduler cannot see), which is a bug of the scenario or the system.
     */
    public Quiescence run(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        lock.lock();
        try {
            if (begun) {
                throw new IllegalStateException("run twice");
            }
            begun = true;
            decide(null);
            while (!quiescent && schedulerError == null) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new RunHangException("no scheduling point reached for " + timeout + "; running: "
                            + threads.stream().filter(c -> c.state == State.RUNNING).map(Controlled::name).toList()
                            + "; schedule " + choices.replayString());
                }
                changed.awaitNanos(left);
            }
            if (schedulerError != null) {
                throw schedulerError;
            }
            List<Waiter> waiters = new ArrayList<>();
            boolean deadlock = false;
            for (Controlled c : threads) {
                if (c.state == State.WAITING) {
                    waiters.add(new Waiter(c.name(), c.scenario, String.valueOf(c.at)));
                    deadlock |= c.scenario;
                }
            }
            return new Quiescence(deadlock, List.copyOf(waiters), List.copyOf(failures), steps, preemptions);
        } finally {
            lock.unlock();
        }
    }

    /** Lets every controlled thread go on uncontrolled; later scheduling points pass through. Idempotent. */
    public void release() {
        lock.lock();
        try {
            released = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** The decisions so far, if kept. */
    public List<Step> trace() {
        lock.lock();
        try {
            return List.copyOf(trace);
        } finally {
            lock.unlock();
        }
    }

    public String replayString() {
        lock.lock();
        try {
            return choices.replayString();
        } finally {
            lock.unlock();
        }
    }

    // ---------------------------------------------------------------- the hook

    @Override
    public void beforeUse(Object primitive) {
        point(primitive, null);
    }

    @Override
    public void beforePark(Object primitive, BooleanSupplier ready) {
        point(primitive, ready);
    }

    @Override
    public void threadStarting(Thread thread) {
        lock.lock();
        try {
            if (!released) {
                register(thread, false);
            }
        } finally {
            lock.unlock();
        }
    }

    private void point(Object primitive, BooleanSupplier ready) {
        Thread t = Thread.currentThread();
        if (t == owner) {
            return;
        }
        lock.lock();
        try {
            if (released) {
                return;
            }
            Controlled me = byThread.get(t);
            if (me == null) {
                if (begun) {
                    // A thread that nobody announced appeared during the run: the runs would differ.
                    fail(new ScheduleChoices.NondeterminismException("thread " + t.getName() + " reached a scheduling point at "
                            + primitive + " but was never announced"));
                    return;
                }
                me = register(t, false);
            }
            if (me.state == State.RUNNING) {
                me.state = State.WAITING;
                me.at = primitive;
                me.ready = ready;
                decide(me);
                awaitGo(me);
            } else {
                arrive(me, primitive, ready);
            }
        } finally {
            lock.unlock();
        }
    }

    /** A thread at its first scheduling point. @GuardedBy("lock"). */
    private void arrive(Controlled me, Object primitive, BooleanSupplier ready) {
        me.state = State.WAITING;
        me.at = primitive;
        me.ready = ready;
        changed.signalAll();
        awaitGo(me);
    }

    /** A scenario thread ended: the next one is chosen. */
    private void exit(Controlled me) {
        lock.lock();
        try {
            me.state = State.DONE;
            me.at = "its end";
            changed.signalAll();
            if (!released && begun) {
                decide(me);
            }
        } finally {
            lock.unlock();
        }
    }

    /** @GuardedBy("lock"). */
    private Controlled register(Thread t, boolean scenario) {
        Controlled c = new Controlled(threads.size(), t, scenario);
        threads.add(c);
        byThread.put(t, c);
        return c;
    }

    /** @GuardedBy("lock"). */
    private void awaitGo(Controlled me) {
        while (!me.go && !released) {
            changed.awaitUninterruptibly();
        }
        me.go = false;
        if (!released) {
            me.state = State.RUNNING;
        }
    }

    /** Chooses who runs next after {@code me} (null: the test's first decision) stopped. @GuardedBy("lock"). */
    private void decide(Controlled me) {
        try {
            awaitArrivals();
            List<Controlled> options = new ArrayList<>(threads.size());
            boolean meEnabled = me != null && me.state == State.WAITING && enabled(me);
            if (meEnabled) {
                options.add(me);
            }
            if (!(meEnabled && preemptions >= preemptionBound)) {
                for (Controlled c : threads) {
                    if (c != me && c.state == State.WAITING && enabled(c)) {
                        options.add(c);
                    }
                }
            }
            if (options.isEmpty()) {
                quiescent = true;
                changed.signalAll();
                return;
            }
            int i = choices.choose(options.size());
            Controlled next = options.get(i);
            if (meEnabled && next != me) {
                preemptions++;
            }
            if (keepTrace) {
                trace.add(new Step(steps, me == null ? "(start)" : me.name(), me == null ? "-" : String.valueOf(me.at),
                        next.name(), options.size()));
            }
            steps++;
            next.go = true;
            next.at = null;
            next.ready = null;
            changed.signalAll();
        } catch (RuntimeException | Error e) {
            fail(e instanceof RuntimeException r ? r : new RuntimeException(e));
        }
    }

    private static boolean enabled(Controlled c) {
        return c.ready == null || c.ready.getAsBoolean();
    }

    /** Waits (real time) until every announced thread reached its first scheduling point. @GuardedBy("lock"). */
    private void awaitArrivals() {
        long deadline = System.nanoTime() + ARRIVAL_TIMEOUT.toNanos();
        while (true) {
            Controlled starting = null;
            for (Controlled c : threads) {
                if (c.state == State.STARTING) {
                    starting = c;
                    break;
                }
            }
            if (starting == null) {
                return;
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new RunHangException("thread " + starting.name() + " never reached its first scheduling point");
            }
            try {
                changed.awaitNanos(left);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new RunHangException("interrupted while waiting for " + starting.name());
            }
        }
    }

    /** @GuardedBy("lock"). */
    private void fail(RuntimeException e) {
        if (schedulerError == null) {
            schedulerError = e;
        }
        changed.signalAll();
    }

    /** A run did not reach quiescence in time, or a thread never reached a scheduling point. */
    public static final class RunHangException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        RunHangException(String message) {
            super(message);
        }
    }
}
