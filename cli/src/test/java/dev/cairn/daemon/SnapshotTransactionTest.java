package dev.cairn.daemon;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.dm.MappedDevice;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.Poll;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every multi-step snapshot verb is a transaction: a failure injected at each of its steps leaves the
 * state before the verb, and a crash at each step (the state directory's files as a {@code kill -9}
 * at that point leaves them, then a restart) ends in the state before or the state after it, with
 * the data of that state. The steps are not listed here: a first run records them through the hook,
 * so a step added later is covered too.
 */
class SnapshotTransactionTest {
    private static final long ORIGIN_BYTES = 4L << 20;
    private static final int BLOCK = 64 << 10;
    /** Sectors written with each pattern: the start and the middle of the origin. */
    private static final long[] SECTORS = {0, ORIGIN_BYTES / 512 / 2};

    @TempDir Path tmp;
    private Daemon daemon;
    private StateDir dir;
    private final CrashHook hook = new CrashHook();

    /** Records the steps; at the chosen one, copies the state directory's files (if asked) and fails. */
    static final class CrashHook implements DaemonHooks {
        final List<String> seen = new ArrayList<>();
        volatile String target;
        volatile Path copyTo;
        volatile Path stateRoot;
        volatile boolean fired;

        @Override
        public synchronized void beforeStep(String verb, String name, String step) {
            String key = verb + "/" + step + "#" + seen.stream().filter(s -> s.startsWith(verb + "/" + step + "#")).count();
            seen.add(key);
            if (key.equals(target) && !fired) {
                fired = true;
                if (copyTo != null) {
                    copyFiles(stateRoot, copyTo);
                }
                throw new IllegalStateException("injected failure at " + key);
            }
        }
    }

    @AfterEach
    void stop() {
        if (daemon != null) {
            daemon.stop();
        }
    }

    private void start(Path root) throws Exception {
        dir = new StateDir(root);
        hook.stateRoot = root;
        daemon = Daemon.start(new Daemon.Config(dir, "127.0.0.1", 0, true,
                new PrintStream(PrintStream.nullOutputStream(), true, StandardCharsets.UTF_8)), hook);
    }

    private Object call(String verb, Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return Wire.call(daemon, verb, m);
    }

    // ------------------------------------------------------------------ data

    private MappedDevice dev(String name) {
        return daemon.registry().find(name).orElseThrow(() -> new AssertionError("no device " + name));
    }

    private void write(String device, int value) {
        byte[] b = new byte[BLOCK];
        Arrays.fill(b, (byte) value);
        for (long s : SECTORS) {
            Io.writeOk(daemon.submitter(), dev(device), s, MemorySegment.ofArray(b));
        }
    }

    /** The pattern byte the device shows (the same at every written place), or -1 when they differ. */
    private int read(String device) {
        int value = -2;
        for (long s : SECTORS) {
            byte[] got = Io.readOk(daemon.submitter(), dev(device), s, BLOCK).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            for (byte x : got) {
                if (value == -2) {
                    value = x & 0xff;
                } else if ((x & 0xff) != value) {
                    return -1;
                }
            }
        }
        return value;
    }

    // ------------------------------------------------------------------ scenarios

    enum Verb { CREATE, REMOVE, MERGE, MERGE_END }

    /** Origin o (data 0xA1); unless the verb is create, snapshot s of it, then o overwritten with 0xB2. */
    private void setUp(Path root, Verb verb) throws Exception {
        synchronized (hook) {
            hook.seen.clear();
        }
        // Not a first start (no 1 GiB vol0 to copy at each crash point).
        StateDir d = new StateDir(root);
        d.create();
        new StateFile(d.stateFile()).save(DaemonState.empty());
        start(root);
        Path img = Files.createDirectories(root.resolve("data")).resolve("o.img");
        Images.createSparse(img, ORIGIN_BYTES);
        call("create", "name", "o", "table", "0 " + ORIGIN_BYTES / 512 + " linear file:" + img + " 0\n");
        write("o", 0xA1);
        if (verb != Verb.CREATE) {
            call("snapshot-create", "origin", "o", "name", "s");
            write("o", 0xB2);
        }
    }

    private void runVerb(Verb verb) {
        switch (verb) {
            case CREATE -> call("snapshot-create", "origin", "o", "name", "s");
            case REMOVE -> call("snapshot-rm", "name", "s");
            case MERGE, MERGE_END -> call("snapshot-merge", "name", "s");
        }
    }

    private static String verbName(Verb verb) {
        return switch (verb) {
            case CREATE -> Snapshots.CREATE;
            case REMOVE -> Snapshots.REMOVE;
            case MERGE -> Snapshots.MERGE;
            case MERGE_END -> Snapshots.MERGE_END;
        };
    }

    /** The steps of {@code verb}, recorded on a run without failures. */
    private List<String> steps(Verb verb) throws Exception {
        setUp(tmp.resolve("record-" + verb), verb);
        synchronized (hook) {
            hook.seen.clear();
        }
        runVerb(verb);
        if (verb == Verb.MERGE || verb == Verb.MERGE_END) {
            assertThat(Poll.until(() -> daemon.state().snapshot("s") == null, Duration.ofSeconds(30))).isTrue();
        }
        daemon.stop();
        daemon = null;
        String prefix = verbName(verb) + "/";
        List<String> steps = hook.seen.stream().filter(s -> s.startsWith(prefix)).toList();
        assertThat(steps).as("steps of " + verb).isNotEmpty().contains(prefix + "commit#0");
        hook.seen.clear();
        return steps;
    }

    private DaemonState.Intent savedIntent() {
        try {
            return new StateFile(dir.stateFile()).load().intent();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private boolean snapshotExists() {
        return daemon.state().snapshot("s") != null;
    }

    /** The state before the verb, live and in the state file, with its data. */
    private void assertBefore(Verb verb) throws Exception {
        DaemonState saved = new StateFile(dir.stateFile()).load();
        assertThat(saved.intent()).isNull();
        if (verb == Verb.CREATE) {
            assertThat(snapshotExists()).isFalse();
            assertThat(daemon.registry().names()).containsExactly("o");
            assertThat(saved.devices()).extracting(DaemonState.Device::name).containsExactly("o");
            assertThat(dir.imagesDir().resolve("s.cow")).doesNotExist();
            assertThat(read("o")).isEqualTo(0xA1);
            return;
        }
        assertThat(snapshotExists()).isTrue();
        assertThat(saved.snapshot("s").merging()).isFalse();
        assertThat(daemon.registry().names()).containsExactlyInAnyOrder("o", "o-real", "s");
        assertThat(read("s")).isEqualTo(0xA1);
        assertThat(read("o")).isEqualTo(0xB2);
        write("o", 0xC3); // the snapshot still copies out: it keeps its data
        assertThat(read("s")).isEqualTo(0xA1);
        assertThat(daemon.exportsOf("s")).containsExactly("s");
    }

    /** The state after the verb (a merge: finished once its monitor has run). */
    private void assertAfter(Verb verb) throws Exception {
        if (verb == Verb.CREATE) {
            assertThat(snapshotExists()).isTrue();
            assertThat(read("s")).isEqualTo(0xA1);
            write("o", 0xB2);
            assertThat(read("s")).isEqualTo(0xA1);
            assertThat(read("o")).isEqualTo(0xB2);
            return;
        }
        if (verb != Verb.REMOVE) {
            // Finished: the snapshot gone and the end of the merge recorded (its COW deleted, then the intent dropped).
            assertThat(Poll.until(() -> !snapshotExists() && savedIntent() == null, Duration.ofSeconds(30))).as("merge finished").isTrue();
        }
        DaemonState saved = new StateFile(dir.stateFile()).load();
        assertThat(saved.intent()).isNull();
        assertThat(snapshotExists()).isFalse();
        assertThat(daemon.registry().names()).containsExactly("o");
        assertThat(saved.device("o").table()).contains(" linear ");
        assertThat(dir.imagesDir().resolve("s.cow")).doesNotExist();
        assertThat(read("o")).isEqualTo(verb == Verb.REMOVE ? 0xB2 : 0xA1);
    }

    private void assertBeforeOrAfter(Verb verb) throws Exception {
        boolean before = verb == Verb.CREATE ? !snapshotExists()
                : snapshotExists() && !daemon.state().snapshot("s").merging() && daemon.registry().find("s").isPresent();
        if (before) {
            assertBefore(verb);
        } else {
            assertAfter(verb);
        }
    }

    // ------------------------------------------------------------------ tests

    @Test
    void aFailureAtAnyStepBeforeThePointOfNoReturnLeavesTheStateBefore() throws Exception {
        int cases = 0;
        for (Verb verb : List.of(Verb.CREATE, Verb.REMOVE, Verb.MERGE)) {
            for (String step : steps(verb)) {
                if (step.contains("/resume-origin#") && verb != Verb.CREATE || step.contains("/commit#") && verb != Verb.CREATE
                        || step.contains("/remove-real#")) {
                    continue; // after the point of no return a failure completes the verb: covered by the crash test
                }
                Path root = tmp.resolve("fail-" + cases++);
                setUp(root, verb);
                hook.fired = false;
                hook.copyTo = null;
                hook.target = step;
                assertThatThrownBy(() -> runVerb(verb)).as(step).isInstanceOf(DaemonException.class)
                        .hasMessageContaining("injected failure at " + step);
                hook.target = null;
                assertBefore(verb);
                daemon.stop();
                daemon = null;
            }
        }
        assertThat(cases).isGreaterThanOrEqualTo(12);
    }

    @Test
    void aCrashAtAnyStepEndsBeforeOrAfterTheVerbOnRestart() throws Exception {
        int cases = 0;
        for (Verb verb : Verb.values()) {
            for (String step : steps(verb)) {
                Path root = tmp.resolve("crash-" + cases);
                Path copy = tmp.resolve("crash-copy-" + cases++);
                setUp(root, verb);
                hook.fired = false;
                hook.copyTo = copy;
                hook.target = step;
                try {
                    runVerb(verb);
                } catch (DaemonException e) {
                    assertThat(e).hasMessageContaining("injected failure at " + step);
                }
                if (verb == Verb.MERGE_END) {
                    assertThat(Poll.until(() -> hook.fired, Duration.ofSeconds(30))).as(step).isTrue();
                }
                hook.target = null;
                assertThat(hook.fired).as(step).isTrue();
                daemon.stop();
                daemon = null;
                // What kill -9 at the step would have left: the files as they were then.
                restoreFiles(copy, root);
                assertThat(new StateFile(new StateDir(root).stateFile()).load().intent()).as(step).isNotNull();
                start(root);
                assertBeforeOrAfter(verb);
                daemon.stop();
                daemon = null;
            }
        }
        assertThat(cases).isGreaterThanOrEqualTo(20);
    }

    @Test
    void aStateFileOfTodaysFormatStillLoads() throws Exception {
        Path root = tmp.resolve("old");
        StateDir d = new StateDir(root);
        d.create();
        Files.writeString(d.stateFile(), """
                {
                  "format": "cairn-state",
                  "version": 1,
                  "devices": [ { "name": "z", "table": "0 8 zero\\n", "inactive": null, "suspended": false, "hidden": false, "deps": [] } ],
                  "exports": [ { "name": "z", "device": "z", "readOnly": false, "description": "" } ],
                  "snapshots": []
                }
                """);
        DaemonState s = new StateFile(d.stateFile()).load();
        assertThat(s.intent()).isNull();
        assertThat(s.device("z").table()).isEqualTo("0 8 zero\n");
        start(root);
        assertThat(daemon.registry().names()).containsExactly("z");
    }

    // ------------------------------------------------------------------ files

    /** Copies state.json and the image directories (everything but sockets and the lock). */
    static void copyFiles(Path root, Path to) {
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : all.toList()) {
                Path rel = root.relativize(p);
                if (Files.isDirectory(p)) {
                    Files.createDirectories(to.resolve(rel.toString()));
                } else if (Files.isRegularFile(p) && !p.getFileName().toString().endsWith(".lock")) {
                    Files.copy(p, to.resolve(rel.toString()), StandardCopyOption.REPLACE_EXISTING);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Makes {@code root}'s regular files exactly those of {@code copy}. */
    static void restoreFiles(Path copy, Path root) throws IOException {
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : all.sorted((a, b) -> b.compareTo(a)).toList()) {
                if (Files.isRegularFile(p) && !p.getFileName().toString().endsWith(".lock")) {
                    Files.delete(p);
                }
            }
        }
        copyFiles(copy, root);
    }
}
