package dev.cairn.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The daemon's life cycle through real processes: start, lock, signals, corrupt state, no daemon. */
class ServeIT {
    @TempDir Path tmp;
    private CairnProcesses cairn;
    private Path state;

    @BeforeEach
    void setUp() throws Exception {
        cairn = new CairnProcesses(Files.createDirectories(tmp.resolve("logs")));
        state = tmp.resolve("state");
    }

    @AfterEach
    void tearDown() {
        cairn.close();
    }

    @Test
    void secondDaemonOnTheSameStateDirIsRefused() throws Exception {
        CairnProcesses.Daemon first = cairn.serve(state, "--nbd-port", Integer.toString(CairnProcesses.freePort()));
        assertThat(first.process.isAlive()).as(first.log()).isTrue();
        CairnProcesses.Daemon second = cairn.serve(state, "--nbd-port", Integer.toString(CairnProcesses.freePort()));
        assertThat(second.waitForExit()).isEqualTo(1);
        assertThat(second.stderr()).contains("another cairn daemon (pid " + first.process.pid() + ") is already running on state directory "
                + state, "hint: stop it first");
        // The first one is unharmed.
        assertThat(cairn.ok("version", "--state-dir", state.toString())).contains("Daemon version:    ")
                .doesNotContain("not running");
        assertThat(first.stop()).isZero();
    }

    @Test
    void sigtermStopsCleanlyWithExitZeroAndReleasesTheLock() throws Exception {
        CairnProcesses.Daemon d = cairn.serve(state, "--nbd-port", Integer.toString(CairnProcesses.freePort()));
        assertThat(d.stdout()).contains("serving state directory " + state);
        assertThat(d.stop()).as(d.log()).isZero();
        assertThat(state.resolve("control.sock")).doesNotExist();
        assertThat(d.stderr()).contains("stopped");
        CairnProcesses.Daemon again = cairn.serve(state, "--nbd-port", Integer.toString(CairnProcesses.freePort()));
        assertThat(again.process.isAlive()).as(again.log()).isTrue();
        assertThat(again.stop()).isZero();
    }

    @Test
    void afterKill9TheNextStartTakesOver() throws Exception {
        CairnProcesses.Daemon d = cairn.serve(state, "--nbd-port", Integer.toString(CairnProcesses.freePort()));
        d.kill9();
        // The stale socket file is still there; the CLI reports it instead of hanging.
        CairnProcesses.Result r = cairn.cli("version", "--state-dir", state.toString());
        assertThat(r.out()).contains("not running");
        CairnProcesses.Daemon again = cairn.serve(state, "--nbd-port", Integer.toString(CairnProcesses.freePort()));
        assertThat(again.process.isAlive()).as(again.log()).isTrue();
        assertThat(cairn.ok("version", "--state-dir", state.toString())).doesNotContain("not running");
        assertThat(again.stop()).isZero();
    }

    @Test
    void corruptStateFileIsRefusedWithItsPath() throws Exception {
        Files.createDirectories(state);
        Files.writeString(state.resolve("state.json"), "{\"format\": \"cairn-state\", \"version\": 1, ");
        CairnProcesses.Daemon d = cairn.serve(state, "--nbd-port", Integer.toString(CairnProcesses.freePort()));
        assertThat(d.waitForExit()).isEqualTo(1);
        assertThat(d.stderr()).contains("state file " + state.resolve("state.json") + " is corrupt", "will not guess");
        // Nothing was overwritten.
        assertThat(Files.readString(state.resolve("state.json"))).isEqualTo("{\"format\": \"cairn-state\", \"version\": 1, ");
    }

    @Test
    void badLogLevelIsAUsageError() throws Exception {
        CairnProcesses.Result r = cairn.cli("serve", "--state-dir", state.toString(), "--log-level", "loud");
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err()).contains("--log-level: loud (expected: error, warn, info, debug or trace)");
    }

    @Test
    void aSilentNbdClientIsDroppedAfterTheHandshakeLimit() throws Exception {
        int port = CairnProcesses.freePort();
        CairnProcesses.Daemon d = cairn.serve(state, "--nbd-port", Integer.toString(port), "--handshake-limit", "1");
        try (java.net.Socket silent = new java.net.Socket("127.0.0.1", port)) {
            silent.setSoTimeout(30_000); // far beyond the limit: a hang fails the test instead of blocking it
            java.io.InputStream in = silent.getInputStream();
            byte[] greeting = in.readNBytes(18);
            assertThat(greeting).as("the server's greeting").hasSize(18);
            // Send nothing: the server closes its end once the limit has passed.
            assertThat(in.read()).as("the stream ends").isEqualTo(-1);
        }
        assertThat(d.stop()).isZero();
        assertThat(d.stderr()).contains("dropped: handshake not finished within PT1S");
    }

    @Test
    void aNegativeHandshakeLimitIsAUsageError() throws Exception {
        CairnProcesses.Result r = cairn.cli("serve", "--state-dir", state.toString(), "--handshake-limit", "-1");
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.err()).contains("--handshake-limit: -1 (expected: >= 0; 0: no limit)");
    }
}
