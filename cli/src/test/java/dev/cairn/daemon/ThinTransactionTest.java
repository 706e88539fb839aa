package dev.cairn.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.StatusType;
import dev.cairn.testkit.ExternalTools;
import dev.cairn.testkit.Io;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every thin verb is a transaction: a failure injected at each step, and a crash at each step (the
 * state directory's files as a {@code kill -9} there leaves them, then a restart), end in the state
 * before or after the verb, with that state's data; the pool's transaction id matches the state file,
 * {@code thin_check} is clean and {@code thin_dump} lists exactly the device ids the state has. The
 * steps are recorded by a first run, so a step added later is covered too.
 */
class ThinTransactionTest {
    private static final long VOLUME_BYTES = 16L << 20;
    private static final int BLOCK = 64 << 10;
    private static final long[] SECTORS = {0, VOLUME_BYTES / 512 / 2};

    @TempDir Path tmp;
    private Daemon daemon;
    private StateDir dir;
    private final SnapshotTransactionTest.CrashHook hook = new SnapshotTransactionTest.CrashHook();

    enum Verb { POOL_CREATE, THIN_CREATE, SNAPSHOT_CREATE, MERGE, REMOVE, POOL_REMOVE }

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

    private MappedDevice dev(String name) {
        return daemon.registry().find(name).orElseThrow(() -> new AssertionError("no device " + name));
    }

    private void write(String device, int value) {
        byte[] b = new byte[BLOCK];
        Arrays.fill(b, (byte) value);
        for (long s : SECTORS) {
            Io.writeOk(daemon.submitter(), dev(device), s, MemorySegment.ofArray(b));
        }
        assertThat(Io.flush(daemon.submitter(), dev(device)).isOk()).isTrue();
    }

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

    /** Pool p; then (as the verb needs) volume v with 0xA1, snapshot s of it, v overwritten with 0xB2. */
    private void setUp(Path root, Verb verb) throws Exception {
        synchronized (hook) {
            hook.seen.clear();
        }
        StateDir d = new StateDir(root);
        d.create();
        new StateFile(d.stateFile()).save(DaemonState.empty());
        start(root);
        if (verb == Verb.POOL_CREATE) {
            return;
        }
        call("pool-create", "name", "p", "sizeBytes", 64L << 20);
        if (verb == Verb.THIN_CREATE || verb == Verb.POOL_REMOVE) {
            return;
        }
        call("thin-create", "pool", "p", "name", "v", "sizeBytes", VOLUME_BYTES);
        write("v", 0xA1);
        if (verb != Verb.SNAPSHOT_CREATE) {
            call("snapshot-create", "origin", "v", "name", "s");
            write("v", 0xB2);
        }
    }

    private void runVerb(Verb verb) {
        switch (verb) {
            case POOL_CREATE -> call("pool-create", "name", "p", "sizeBytes", 64L << 20);
            case THIN_CREATE -> call("thin-create", "pool", "p", "name", "v", "sizeBytes", VOLUME_BYTES);
            case SNAPSHOT_CREATE -> call("snapshot-create", "origin", "v", "name", "s");
            case MERGE -> call("snapshot-merge", "name", "s");
            case REMOVE -> call("remove", "name", "s");
            case POOL_REMOVE -> call("remove", "name", "p");
        }
    }

    private static String verbName(Verb verb) {
        return switch (verb) {
            case POOL_CREATE -> ThinVolumes.POOL_CREATE;
            case THIN_CREATE -> ThinVolumes.THIN_CREATE;
            case SNAPSHOT_CREATE -> ThinVolumes.SNAPSHOT_CREATE;
            case MERGE -> ThinVolumes.MERGE;
            case REMOVE -> ThinVolumes.REMOVE;
            case POOL_REMOVE -> ThinVolumes.POOL_REMOVE;
        };
    }

    private List<String> steps(Verb verb) throws Exception {
        setUp(tmp.resolve("record-" + verb), verb);
        synchronized (hook) {
            hook.seen.clear();
        }
        runVerb(verb);
        daemon.stop();
        daemon = null;
        String prefix = verbName(verb) + "/";
        List<String> steps = hook.seen.stream().filter(s -> s.startsWith(prefix)).toList();
        assertThat(steps).as("steps of " + verb).isNotEmpty().contains(prefix + "commit#0");
        hook.seen.clear();
        return steps;
    }

    private boolean isAfter(Verb verb) {
        ThinState t = daemon.state().thin();
        return switch (verb) {
            case POOL_CREATE -> t.pool("p") != null;
            case THIN_CREATE -> t.volume("v") != null;
            case SNAPSHOT_CREATE -> t.volume("s") != null;
            case MERGE, REMOVE -> t.volume("s") == null;
            case POOL_REMOVE -> t.pool("p") == null;
        };
    }

    /** The data and devices of the side the verb ended on, and the pool in step with the state. */
    private void assertConsistent(Verb verb, boolean after) throws Exception {
        DaemonState saved = new StateFile(dir.stateFile()).load();
        assertThat(saved.intent()).isNull();
        assertThat(saved.thin()).isEqualTo(daemon.state().thin());
        assertThat(daemon.registry().names()).containsExactlyInAnyOrderElementsOf(
                saved.devices().stream().map(DaemonState.Device::name).toList());
        for (ThinState.Pool p : saved.thin().pools()) {
            String info = dev(p.name()).status(StatusType.INFO).lines().get(0).params();
            assertThat(info).startsWith(p.transactionId() + " ");
            assertThat(p.pendingDeletes()).isEmpty();
        }
        switch (verb) {
            case POOL_CREATE -> {
                assertThat(Files.exists(dir.imagesDir().resolve("p_tmeta.img"))).as("metadata file exists").isEqualTo(after);
                assertThat(Files.exists(dir.imagesDir().resolve("p_tdata.img"))).as("data file exists").isEqualTo(after);
            }
            case THIN_CREATE -> {
                if (after) {
                    assertThat(read("v")).isZero();
                    write("v", 0x5A);
                    assertThat(read("v")).isEqualTo(0x5A);
                }
            }
            case SNAPSHOT_CREATE -> {
                assertThat(read("v")).isEqualTo(0xA1);
                if (after) {
                    assertThat(read("s")).isEqualTo(0xA1);
                    write("v", 0xB2);
                    assertThat(read("s")).isEqualTo(0xA1);
                    assertThat(saved.thin().volume("s").origin()).isEqualTo("v");
                }
            }
            case MERGE -> {
                assertThat(read("v")).isEqualTo(after ? 0xA1 : 0xB2);
                if (!after) {
                    assertThat(read("s")).isEqualTo(0xA1);
                }
            }
            case REMOVE -> {
                assertThat(read("v")).isEqualTo(0xB2);
                if (!after) {
                    assertThat(read("s")).isEqualTo(0xA1);
                }
            }
            case POOL_REMOVE -> {
                assertThat(Files.exists(dir.imagesDir().resolve("p_tmeta.img"))).as("metadata file exists").isEqualTo(!after);
                assertThat(Files.exists(dir.imagesDir().resolve("p_tdata.img"))).as("data file exists").isEqualTo(!after);
            }
        }
        ThinState thin = saved.thin();
        daemon.stop();
        daemon = null;
        for (ThinState.Pool p : thin.pools()) {
            assertThat(thinDumpIds(Path.of(p.metadataFile()))).as("thin_dump of pool " + p.name()).isEqualTo(thin.deviceIds(p.name()));
        }
    }

    /** thin_check must be clean; the device ids thin_dump lists. */
    static Set<Long> thinDumpIds(Path metadata) {
        ExternalTools.Result check = ExternalTools.run(Duration.ofSeconds(60),
                ExternalTools.require("thin_check", "thin-provisioning-tools"), metadata.toString());
        assertThat(check.exitCode()).as(check.all()).isZero();
        assertThat(check.all()).doesNotContainIgnoringCase("warning");
        ExternalTools.Result dump = ExternalTools.run(Duration.ofSeconds(60),
                ExternalTools.require("thin_dump", "thin-provisioning-tools"), metadata.toString()).ok();
        Set<Long> ids = new TreeSet<>();
        Matcher m = Pattern.compile("<device dev_id=\"(\\d+)\"").matcher(dump.stdout());
        while (m.find()) {
            ids.add(Long.parseLong(m.group(1)));
        }
        return ids;
    }

    @Test
    void verbsThatWouldDesynchroniseThePoolAreRefusedAndChangeNothing() throws Exception {
        setUp(tmp.resolve("guards"), Verb.MERGE);
        DaemonState before = daemon.state();
        for (String msg : List.of("create_thin 9", "create_snap 9 1", "delete 1", "set_transaction_id 2 3")) {
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> call("message", "name", "p", "sector", 0L,
                            "message", List.of(msg.split(" "))))
                    .isInstanceOf(DaemonException.class).hasMessageContaining("message: " + msg.split(" ")[0] + " to pool p");
        }
        call("message", "name", "p", "sector", 0L, "message", List.of("reserve_metadata_snap"));
        call("message", "name", "p", "sector", 0L, "message", List.of("release_metadata_snap"));
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> call("load", "name", "v", "table", "0 8 zero\n"))
                .isInstanceOf(DaemonException.class).hasMessageContaining("thin volume managed by cairn");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> call("snapshot-ls", "name", "v", "strict", true))
                .isInstanceOf(DaemonException.class).hasMessageContaining("snapshot: v (expected: an existing snapshot)");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> call("snapshot-create", "origin", "v", "name", "t", "transient", true))
                .isInstanceOf(DaemonException.class).hasMessageContaining("--transient: given for a thin snapshot");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> call("remove", "name", "p"))
                .isInstanceOf(DaemonException.class).hasMessageContaining("pool p has thin volumes: v, s");
        assertThat(daemon.state()).isEqualTo(before);
        assertConsistent(Verb.MERGE, false);
    }

    @Test
    void aFailureAtAnyStepEndsBeforeOrAfterAndBeforeThePointOfNoReturnIsUndone() throws Exception {
        int cases = 0;
        for (Verb verb : Verb.values()) {
            boolean pastPointOfNoReturn = false;
            for (String step : steps(verb)) {
                pastPointOfNoReturn |= step.contains("/point-of-no-return#");
                Path root = tmp.resolve("fail-" + cases++);
                setUp(root, verb);
                hook.fired = false;
                hook.copyTo = null;
                hook.target = step;
                try {
                    runVerb(verb);
                } catch (DaemonException e) {
                    assertThat(e).as(step).hasMessageContaining("injected failure at " + step);
                }
                assertThat(hook.fired).as(step).isTrue();
                boolean after = isAfter(verb);
                if (!pastPointOfNoReturn) {
                    assertThat(after).as("a failure at " + step + " is undone").isFalse();
                }
                if (daemon.state().intent() != null) {
                    // A failure at the commit (after the point of no return) leaves the intent: a restart completes it.
                    daemon.stop();
                    start(root);
                    assertThat(isAfter(verb)).as(step).isTrue();
                    after = true;
                }
                assertConsistent(verb, after);
            }
        }
        assertThat(cases).isGreaterThanOrEqualTo(25);
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
                assertThat(hook.fired).as(step).isTrue();
                daemon.stop();
                daemon = null;
                SnapshotTransactionTest.restoreFiles(copy, root);
                assertThat(new StateFile(new StateDir(root).stateFile()).load().intent()).as(step).isNotNull();
                start(root);
                assertConsistent(verb, isAfter(verb));
            }
        }
        assertThat(cases).isGreaterThanOrEqualTo(25);
    }
}
