package dev.cairn.testkit.explore;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.IoMutex;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.SubmitterConfig;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The explorer on small systems of block-layer mutexes whose schedules can be counted by hand. */
class ScheduleExplorerTest {
    private static final Duration RUN_TIMEOUT = Duration.ofSeconds(30);

    /** Two threads each take two mutexes, in the given orders; {@code sum} counts the critical sections. */
    private static ScheduleExplorer.Scenario twoLocks(boolean sameOrder, AtomicInteger runs) {
        return scheduler -> {
            Submitter submitter = Submitter.create(SubmitterConfig.defaults().withName("explore-test")
                    .withPolicy(SubmitPolicy.FLUSH_ON_BLOCK).withWatchdog(null, r -> { }).withSchedulingHook(scheduler));
            IoMutex m1 = new IoMutex(submitter, "m1");
            IoMutex m2 = new IoMutex(submitter, "m2");
            AtomicInteger sections = new AtomicInteger();
            List<Thread> threads = new ArrayList<>();
            threads.add(scheduler.spawn("a", () -> both(m1, m2, sections)));
            threads.add(scheduler.spawn("b", () -> {
                if (sameOrder) {
                    both(m1, m2, sections);
                } else {
                    both(m2, m1, sections);
                }
            }));
            runs.incrementAndGet();
            return new ScheduleExplorer.Run() {
                @Override
                public void check() {
                    assertThat(sections.get()).isEqualTo(2);
                }

                @Override
                public void abortDeadlock() {
                    submitter.shutdown();
                }

                @Override
                public void close() {
                    submitter.shutdown();
                    for (Thread t : threads) {
                        try {
                            t.join(10_000);
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                            throw new AssertionError(e);
                        }
                        assertThat(t.isAlive()).as("%s ended", t.getName()).isFalse();
                    }
                }
            };
        };
    }

    private static void both(IoMutex first, IoMutex second, AtomicInteger sections) {
        first.lock();
        try {
            second.lock();
            try {
                sections.incrementAndGet();
            } finally {
                second.unlock();
            }
        } finally {
            first.unlock();
        }
    }

    private static ScheduleExplorer.Options options(int bound, boolean stop) {
        return new ScheduleExplorer.Options(bound, 100_000, RUN_TIMEOUT, stop, null);
    }

    @Test
    @Timeout(120)
    void findsTheLockOrderDeadlockWithOnePreemptionAndReplaysIt() throws Exception {
        AtomicInteger runs = new AtomicInteger();
        ScheduleExplorer explorer = new ScheduleExplorer(twoLocks(false, runs), options(1, true));
        ScheduleExplorer.Result r = explorer.explore();
        assertThat(r.failure()).as("%s", r.failure() == null ? "" : r.failure().describe()).isNull();
        assertThat(r.firstDeadlock()).as("a deadlock is found").isNotNull();
        ScheduleExplorer.Deadlock d = r.firstDeadlock();
        assertThat(d.waiters()).extracting(ControlledScheduler.Waiter::thread).containsExactlyInAnyOrder("a", "b");
        assertThat(d.waiters()).extracting(ControlledScheduler.Waiter::waitsIn).allMatch(w -> w.startsWith("IoMutex[m"));

        ScheduleExplorer.Result again = new ScheduleExplorer(twoLocks(false, runs), options(1, true)).replay(d.replay());
        assertThat(again.schedules()).isEqualTo(1);
        assertThat(again.firstDeadlock()).as("the replay string reproduces the deadlock").isNotNull();
        assertThat(again.firstDeadlock().waiters()).isEqualTo(d.waiters());
    }

    @Test
    @Timeout(120)
    void withoutPreemptionsTheDeadlockIsOutOfReach() throws Exception {
        // Each thread runs until it ends: a then b, or b then a.
        ScheduleExplorer.Result r = new ScheduleExplorer(twoLocks(false, new AtomicInteger()), options(0, false)).explore();
        assertThat(r.failure()).isNull();
        assertThat(r.exhausted()).isTrue();
        assertThat(r.schedules()).isEqualTo(2);
        assertThat(r.deadlocks()).isZero();
    }

    @Test
    @Timeout(120)
    void theSameOrderNeverDeadlocksAndTheWholeSpaceIsRunOnce() throws Exception {
        AtomicInteger runs = new AtomicInteger();
        ScheduleExplorer.Result r = new ScheduleExplorer(twoLocks(true, runs), options(Integer.MAX_VALUE, false)).explore();
        assertThat(r.failure()).as("%s", r.failure() == null ? "" : r.failure().describe()).isNull();
        assertThat(r.exhausted()).isTrue();
        assertThat(r.deadlocks()).isZero();
        assertThat(runs.get()).isEqualTo((int) r.schedules());
        // Counted by hand. Each thread stops at its start, at lock(m1) and at lock(m2) (and parks when it finds a
        // mutex taken). a first: (a to m2; then a ends | b runs to m1 and parks or a ends first) = 3 schedules, or
        // b runs to m1 before a takes m1 (b takes m1: 2 ways to finish; a takes m1: 2 ways) = 4; 7, and 7 with b first.
        assertThat(r.schedules()).isEqualTo(14);
    }

    @Test
    void aReplayStringThatIsNotNumbersIsRefused() {
        assertThatThrownBy(() -> ScheduleChoices.replay("0.x.1")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("numbers separated by dots");
    }
}
