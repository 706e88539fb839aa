package dev.cairn.daemon;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.dm.DeviceState;
import dev.cairn.dm.MappedDevice;
import dev.cairn.testkit.Poll;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 22 item 1, the exact scenario through the control socket: {@code up: 0 32768 linear low 0}
 * exported; {@code suspend low}; a write to {@code up} (held in low); {@code suspend up} waits for
 * it. Before, that suspend held the daemon-wide lock, so {@code ls} and {@code resume low} hung for
 * ever and SIGTERM could not stop the daemon.
 */
class ControlPlaneDeadlockTest {
    @TempDir Path tmp;
    private Daemon daemon;
    private StateDir dir;
    private final List<BioStatus> writes = new CopyOnWriteArrayList<>();

    @BeforeEach
    void start() throws Exception {
        dir = new StateDir(tmp.resolve("state"));
        dir.create();
        new StateFile(dir.stateFile()).save(DaemonState.empty());
        daemon = Daemon.start(new Daemon.Config(dir, "127.0.0.1", -1, true,
                new PrintStream(PrintStream.nullOutputStream(), true, StandardCharsets.UTF_8)));
        Path img = Files.createDirectories(tmp.resolve("data")).resolve("low.img");
        Images.createSparse(img, 16L << 20);
        call("create", Map.of("name", "low", "table", "0 32768 linear file:" + img + " 0\n", "noExport", true));
        call("create", Map.of("name", "up", "table", "0 32768 linear low 0\n"));
        call("suspend", Map.of("name", "low"));
        // A client write to up: in flight in up, held in low.
        Bio b = Bio.alloc().setDevice(dev("up")).setOp(BioOp.WRITE).setSector(0).setData(MemorySegment.ofArray(new byte[4096]));
        b.setEndIo(x -> writes.add(x.status()));
        daemon.submitter().submit(b);
        assertThat(dev("low").info().heldBios()).isEqualTo(1);
    }

    @AfterEach
    void stop() {
        if (daemon != null) {
            daemon.stop();
        }
    }

    private MappedDevice dev(String name) {
        return daemon.registry().find(name).orElseThrow();
    }

    private Object call(String verb, Map<String, Object> args) {
        try (ControlClient c = ControlClient.connect(dir)) {
            return c.call(verb, args);
        }
    }

    /** {@code cairn suspend up} on its own connection, waiting. */
    private CompletableFuture<Object> suspendUpInBackground(ControlClient client, Map<String, Object> args) throws Exception {
        CompletableFuture<Object> f = CompletableFuture.supplyAsync(() -> {
            try {
                return client.call("suspend", args);
            } catch (DaemonException e) {
                return e;
            }
        }, r -> Thread.ofVirtual().start(r));
        assertThat(Poll.until(() -> dev("up").isSuspendWaiting(), Duration.ofSeconds(10))).as("suspend up waits").isTrue();
        return f;
    }

    @Test
    void lsAndTheResumeBelowRunWhileASuspendWaits() throws Exception {
        try (ControlClient waiting = ControlClient.connect(dir)) {
            CompletableFuture<Object> suspend = suspendUpInBackground(waiting, Map.of("name", "up"));
            Object ls = CompletableFuture.supplyAsync(() -> call("ls", Map.of("tree", true))).get(10, TimeUnit.SECONDS);
            assertThat(ls.toString()).contains("name=up", "name=low");
            assertThat(suspend).isNotDone();
            CompletableFuture.supplyAsync(() -> call("resume", Map.of("name", "low"))).get(10, TimeUnit.SECONDS);
            // The held write went through, so the suspend of up finished normally.
            assertThat(suspend.get(10, TimeUnit.SECONDS)).isInstanceOf(Map.class);
            assertThat(writes).containsExactly(BioStatus.OK);
            assertThat(dev("up").state()).isEqualTo(DeviceState.SUSPENDED);
            assertThat(new StateFile(dir.stateFile()).load().device("up").suspended()).isTrue();
        }
        call("resume", Map.of("name", "up"));
    }

    @Test
    void aWaitingSuspendIsCancelledWhenItsClientGoesAway() throws Exception {
        ControlClient waiting = ControlClient.connect(dir);
        suspendUpInBackground(waiting, Map.of("name", "up"));
        waiting.close(); // Ctrl-C of cairn suspend
        assertThat(Poll.until(() -> !dev("up").isSuspendWaiting(), Duration.ofSeconds(10))).as("suspend gave up").isTrue();
        assertThat(dev("up").state()).isEqualTo(DeviceState.ACTIVE);
        assertThat(new StateFile(dir.stateFile()).load().device("up").suspended()).isFalse();
        assertThat(writes).isEmpty(); // still held in low, nothing lost
        call("resume", Map.of("name", "low"));
        assertThat(Poll.until(() -> writes.size() == 1, Duration.ofSeconds(10))).isTrue();
        assertThat(writes).containsExactly(BioStatus.OK);
    }

    @Test
    void aWaitingSuspendGivesUpAfterItsTimeout() {
        assertThatThrownBy(() -> call("suspend", Map.of("name", "up", "timeoutSeconds", 1L)))
                .isInstanceOfSatisfying(DaemonException.class, e -> {
                    assertThat(e.kind()).isEqualTo(ErrorKind.FAILED);
                    assertThat(e.getMessage()).contains("suspend: up (timed out after PT1S while 1 I/O request was still in flight");
                    assertThat(e.hint()).contains("resume what is suspended under it");
                });
        assertThat(dev("up").state()).isEqualTo(DeviceState.ACTIVE);
    }

    @Test
    void sigtermStopsTheDaemonWithin30SecondsWhateverWaits() throws Exception {
        try (ControlClient waiting = ControlClient.connect(dir)) {
            CompletableFuture<Object> suspend = suspendUpInBackground(waiting, Map.of("name", "up"));
            long start = System.nanoTime();
            CompletableFuture.runAsync(daemon::stop).get(30, TimeUnit.SECONDS);
            assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(30));
            assertThat(suspend.get(10, TimeUnit.SECONDS)).isInstanceOf(DaemonException.class);
            daemon = null;
        }
        // The held write failed at the stop (it could never complete); low stays suspended as the user left it.
        assertThat(writes).containsExactly(BioStatus.IOERR);
        DaemonState saved = new StateFile(dir.stateFile()).load();
        assertThat(saved.device("low").suspended()).isTrue();
        assertThat(saved.device("up").suspended()).isFalse();
    }
}
