package dev.cairn.snapshot;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioSet;
import dev.cairn.block.BioStatus;
import dev.cairn.block.IoCompletion;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.SubmitterConfig;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.dm.MappedDevice;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.Pattern;
import dev.cairn.testkit.explore.ControlledScheduler;
import dev.cairn.testkit.explore.ScheduleExplorer;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Systematic exploration of the race of the patch "block: flush queued bios when the process blocks" on
 * the real {@code snapshot} target (persistent COW, 4 KiB chunks, through dm core, over memory stores),
 * under a {@link ControlledScheduler}: exactly one of the scenario's threads runs at a time, and every use
 * of a block-layer blocking primitive (the snapshot's lock, the commit mutex, the waits for completions and
 * for tracked reads, bio set allocations, the rescuer's wait for work) is a point where the explorer
 * chooses who runs next. The threads are the reader, the origin writer, the snapshot's copy worker and
 * whatever rescuers the run starts.
 *
 * <pre>
 *  reader: reads 4 KiB at sector 6 of the snapshot (piece 1: sectors 6..7 of chunk 0, piece 2: chunk 1)
 *  origin writer: writes chunk 0 of the origin (generation 2), which copies chunk 0 to the COW first
 *  copy worker: copies, commits, then pendingComplete waits under the lock for reads of chunk 0
 * </pre>
 *
 * Under LEGACY the depth-first search must find the deadlock by itself. Under FLUSH_ON_BLOCK and
 * DEPTH_FIRST every schedule of the budget (or of the whole bounded space) must end with both bios
 * completed exactly once, the read seeing the snapshot's data, and every pooled bio back in its set.
 *
 * <p>Knobs (system properties): {@code explore.schedules} (budget per policy, default 20,000: more than the bounded spaces),
 * {@code explore.preemptions} (bound, default 3), {@code explore.replay} (one schedule,
 * {@code POLICY:choices} as a report prints it). Each schedule's line (number, replay string, outcome) goes
 * to {@code snapshot/target/exploration/POLICY.log}. See docs/architecture.md.
 */
class SnapshotRaceExplorationTest {
    private static final int CHUNK_SECTORS = 8;
    private static final int ORIGIN_SECTORS = 2 * CHUNK_SECTORS;
    private static final int COW_BYTES = 64 * 1024;
    private static final long READ_SECTOR = 6;
    private static final int READ_BYTES = 4096;
    private static final Duration RUN_TIMEOUT = Duration.ofSeconds(60);
    /** The LEGACY deadlock's replay string, as the search finds it (the choices after it are all 0). */
    private static final String LEGACY_DEADLOCK = "0.0.0.0.0.1";

    private static long budget() {
        return Long.getLong("explore.schedules", 20_000);
    }

    private static int preemptionBound() {
        return Integer.getInteger("explore.preemptions", 3);
    }

    private static ScheduleExplorer.Options options(SubmitPolicy policy, boolean stopAtFirstDeadlock) {
        return new ScheduleExplorer.Options(preemptionBound(), budget(), RUN_TIMEOUT, stopAtFirstDeadlock,
                Path.of("target", "exploration", policy.configName() + ".log"));
    }

    @Test
    @Timeout(600)
    void underLegacyTheExplorerFindsTheDeadlockByItself() throws Exception {
        ScheduleExplorer.Result r = new ScheduleExplorer(new Race(SubmitPolicy.LEGACY), options(SubmitPolicy.LEGACY, true))
                .explore();
        System.out.println("LEGACY: " + r.summary());
        assertThat(r.failure()).as("%s", r.failure() == null ? "" : r.failure().describe()).isNull();
        assertThat(r.firstDeadlock()).as("a deadlock within %s schedules", r.schedules()).isNotNull();
        ScheduleExplorer.Deadlock d = r.firstDeadlock();
        System.out.println(d.describe());
        // The cycle of the patch: the reader waits for the lock, which the copy worker holds while it waits for
        // piece 1 of the read, which waits on the reader's list; the writer waits for its bio.
        assertThat(d.waiters()).anySatisfy(w -> {
            assertThat(w.thread()).isEqualTo("reader");
            assertThat(w.waitsIn()).startsWith("IoRwSemaphore[snapshot snap-1, write-held by cairn-kcopyd-snap-1");
        });
        assertThat(d.waiters()).anySatisfy(w -> {
            assertThat(w.thread()).isEqualTo("cairn-kcopyd-snap-1");
            assertThat(w.waitsIn()).contains("no read of chunk 0 of snap-1 is in flight");
        });
        assertThat(d.waiters()).anySatisfy(w -> assertThat(w.thread()).isEqualTo("origin-writer"));
    }

    @ParameterizedTest
    @EnumSource(value = SubmitPolicy.class, names = {"FLUSH_ON_BLOCK", "DEPTH_FIRST"})
    @Timeout(3600)
    void underTheFixedPoliciesEveryScheduleCompletesWithTheRightData(SubmitPolicy policy) throws Exception {
        Race race = new Race(policy);
        ScheduleExplorer.Result r = new ScheduleExplorer(race, options(policy, true)).explore();
        System.out.println(policy + ": " + r.summary() + "; " + race.conflictSchedules + " schedules where pendingComplete"
                + " found a tracked read, " + race.rescueSchedules + " where a rescuer submitted bios");
        assertThat(r.failure()).as("%s", r.failure() == null ? "" : r.failure().describe()).isNull();
        assertThat(r.firstDeadlock()).as("%s", r.firstDeadlock() == null ? "" : r.firstDeadlock().describe()).isNull();
        assertThat(r.exhausted() || r.schedules() >= budget())
                .as("explored %s schedules (budget %s) or the whole bounded space", r.schedules(), budget()).isTrue();
        if (policy == SubmitPolicy.FLUSH_ON_BLOCK) {
            // Not vacuous: the search reached the race (the copy worker waited under the lock for piece 1) and
            // the fix (the reader's parked piece went to the rescuer).
            assertThat(race.conflictSchedules.get()).as("schedules that reached the race").isPositive();
            assertThat(race.rescueSchedules.get()).as("schedules where the rescuer submitted").isPositive();
        } else {
            // pendingComplete may find piece 1 in flight under DEPTH_FIRST too (the reader is preempted while it
            // splits off the rest of the read), but the reader never blocks with piece 1 parked, so no rescuer is
            // needed: the fix is the order alone.
            assertThat(race.rescueSchedules.get()).as("schedules where the rescuer submitted").isZero();
        }
    }

    /**
     * Replays one schedule from its replay string: {@code -Dexplore.replay=POLICY:choices} as a report prints
     * it, printing its steps; by default the LEGACY deadlock that the search finds (docs/architecture.md), which
     * must deadlock again, with the same threads waiting in the same primitives.
     */
    @Test
    @Timeout(120)
    void aScheduleReplaysFromItsString() throws Exception {
        String replay = System.getProperty("explore.replay", "");
        boolean asked = !replay.isBlank();
        if (!asked) {
            replay = "legacy:" + LEGACY_DEADLOCK;
        }
        int colon = replay.indexOf(':');
        if (colon < 0) {
            throw new IllegalArgumentException("explore.replay: '" + replay + "' (expected: POLICY:choices, e.g. legacy:0.1.0)");
        }
        SubmitPolicy policy = SubmitPolicy.valueOf(replay.substring(0, colon).toUpperCase(Locale.ROOT).replace('-', '_'));
        ScheduleExplorer.Result r = new ScheduleExplorer(new Race(policy), options(policy, true))
                .replay(replay.substring(colon + 1));
        System.out.println(policy + " replay: " + r.summary());
        if (r.firstDeadlock() != null) {
            System.out.println(r.firstDeadlock().describe());
        }
        if (r.failure() != null) {
            System.out.println(r.failure().describe());
        }
        if (r.firstDeadlock() == null && r.failure() == null) {
            r.lastTrace().forEach(step -> System.out.println("    " + step));
        }
        assertThat(r.schedules()).isEqualTo(1);
        assertThat(r.failure()).as("%s", r.failure() == null ? "" : r.failure().describe()).isNull();
        if (!asked) {
            assertThat(r.firstDeadlock()).as("the replayed schedule deadlocks again").isNotNull();
            assertThat(r.firstDeadlock().waiters()).extracting(ControlledScheduler.Waiter::thread)
                    .containsExactlyInAnyOrder("reader", "origin-writer", "cairn-kcopyd-snap-1");
        }
    }

    /**
     * Builds the stack and starts the reader and the origin writer for one run; counts, over the runs, those that
     * reached the race and those where a rescuer submitted bios.
     */
    private static final class Race implements ScheduleExplorer.Scenario {
        final SubmitPolicy policy;
        final AtomicInteger conflictSchedules = new AtomicInteger();
        final AtomicInteger rescueSchedules = new AtomicInteger();

        Race(SubmitPolicy policy) {
            this.policy = policy;
        }

        @Override
        public ScheduleExplorer.Run start(ControlledScheduler scheduler) throws Exception {
            SnapStack stack = new SnapStack(SubmitterConfig.defaults().withName("explore-" + policy.configName())
                    .withPolicy(policy).withWatchdog(null, r -> { }).withSchedulingHook(scheduler));
            try {
                MemoryStore real = new MemoryStore("real-store", ORIGIN_SECTORS * 512L);
                Io.writeOk(stack.submitter, real, 0, Pattern.segment(0, ORIGIN_SECTORS * 512, 1));
                stack.leaf("real", real);
                stack.leaf("cow", new MemoryStore("cow-store", COW_BYTES));
                MappedDevice origin = stack.create("origin", "0 " + ORIGIN_SECTORS + " snapshot-origin real");
                MappedDevice snap = stack.create("snap", "0 " + ORIGIN_SECTORS + " snapshot real cow P " + CHUNK_SECTORS);
                // The snapshot's copy worker started with it and waits for work: controlled from there on.
                scheduler.awaitAdopted(1, Duration.ofSeconds(20));
                return new RaceRun(this, stack, scheduler, origin, snap);
            } catch (Exception | Error e) {
                stack.submitter.shutdown();
                stack.close();
                throw e;
            }
        }
    }

    private static final class RaceRun implements ScheduleExplorer.Run {
        final Race race;
        final SnapStack stack;
        final MappedDevice origin;
        final MappedDevice snap;
        final MemorySegment buffer = MemorySegment.ofArray(new byte[READ_BYTES]);
        final AtomicInteger readEnds = new AtomicInteger();
        final AtomicInteger writeEnds = new AtomicInteger();
        final AtomicReference<BioStatus> readStatus = new AtomicReference<>();
        final AtomicReference<BioStatus> writeStatus = new AtomicReference<>();
        final Thread reader;
        final Thread writer;

        RaceRun(Race race, SnapStack stack, ControlledScheduler scheduler, MappedDevice origin, MappedDevice snap) {
            this.race = race;
            this.stack = stack;
            this.origin = origin;
            this.snap = snap;
            reader = scheduler.spawn("reader", () -> {
                Bio read = Bio.alloc().setDevice(snap).setOp(BioOp.READ).setSector(READ_SECTOR).setData(buffer);
                read.setEndIo(b -> {
                    readStatus.set(b.status());
                    readEnds.incrementAndGet();
                });
                stack.submitter.submit(read);
            });
            writer = scheduler.spawn("origin-writer", () -> {
                Bio write = Bio.alloc().setDevice(origin).setOp(BioOp.WRITE).setSector(0)
                        .setData(Pattern.segment(0, CHUNK_SECTORS * 512, 2));
                write.setEndIo(b -> writeEnds.incrementAndGet());
                writeStatus.set(IoCompletion.submitAndWait(stack.submitter, write));
            });
        }

        @Override
        public void check() throws Exception {
            reader.join(10_000);
            writer.join(10_000);
            assertThat(readEnds.get()).as("the read completed exactly once").isEqualTo(1);
            assertThat(writeEnds.get()).as("the origin write completed exactly once").isEqualTo(1);
            assertThat(readStatus.get()).isEqualTo(BioStatus.OK);
            assertThat(writeStatus.get()).isEqualTo(BioStatus.OK);
            // The model: the snapshot is the origin at generation 1 whatever the order; the origin has the write.
            Pattern.check(buffer, READ_SECTOR * 512, 1);
            Pattern.check(Io.readOk(stack.submitter, snap, 0, ORIGIN_SECTORS * 512), 0, 1);
            Pattern.check(Io.readOk(stack.submitter, origin, 0, CHUNK_SECTORS * 512), 0, 2);
            Pattern.check(Io.readOk(stack.submitter, origin, CHUNK_SECTORS, CHUNK_SECTORS * 512), CHUNK_SECTORS * 512L, 1);
            Snapshot s = stack.snapshot("snap");
            assertThat(s.lookup(0)).as("chunk 0 has its exception").isGreaterThanOrEqualTo(0);
            assertThat(s.pendingExceptions()).as("no pending exception left").isZero();
            long rescued = 0;
            for (BioSet set : stack.submitter.openBioSets()) {
                assertThat(set.available()).as("every bio of %s is back", set.name()).isEqualTo(set.capacity());
                rescued += set.rescuedCount();
            }
            if (s.conflictWaits() > 0) {
                race.conflictSchedules.incrementAndGet();
            }
            if (rescued > 0) {
                race.rescueSchedules.incrementAndGet();
            }
        }

        @Override
        public void abortDeadlock() {
            stack.submitter.shutdown();
        }

        @Override
        public void close() {
            try {
                reader.join(10_000);
                writer.join(10_000);
                assertThat(reader.isAlive() || writer.isAlive()).as("the scenario threads ended").isFalse();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted while joining the scenario threads", e);
            } finally {
                stack.close();
            }
        }
    }
}
