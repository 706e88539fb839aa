package dev.cairn.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every verb's error paths through the real CLI and daemon: the exit code (1 failed, 2 usage), the
 * message, and the hint that says what to do next. One daemon serves the whole class.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ErrorPathsIT {
    @TempDir static Path tmp;
    private CairnProcesses cairn;
    private Path logs;
    private Path state;
    private int port;
    private CairnProcesses.Daemon daemon;

    @BeforeAll
    void start() throws Exception {
        logs = Files.createDirectories(tmp.resolve("logs"));
        cairn = new CairnProcesses(logs, tmp);
        state = tmp.resolve("state");
        port = CairnProcesses.freePort();
        daemon = cairn.serve(state, "--nbd-port", Integer.toString(port));
        assertThat(daemon.process.isAlive()).as(daemon.log()).isTrue();
    }

    @AfterAll
    void stop() throws Exception {
        if (daemon != null && daemon.process.isAlive()) {
            assertThat(daemon.stop()).isZero();
        }
        cairn.close();
    }

    private CairnProcesses.Result cli(String... args) throws Exception {
        String[] full = new String[args.length + 2];
        System.arraycopy(args, 0, full, 0, args.length);
        full[args.length] = "--state-dir";
        full[args.length + 1] = state.toString();
        return cairn.cli(full);
    }

    private CairnProcesses.Result fails(int exit, String... args) throws Exception {
        CairnProcesses.Result r = cli(args);
        assertThat(r.exit()).as("cairn " + String.join(" ", args) + "\n" + r).isEqualTo(exit);
        return r;
    }

    @Test
    void unknownDeviceForEveryVerb() throws Exception {
        String[][] verbs = {
            {"load", "nosuch", "--table", "0 8 zero"},
            {"suspend", "nosuch"},
            {"resume", "nosuch"},
            {"remove", "nosuch"},
            {"table", "nosuch"},
            {"status", "nosuch"},
            {"info", "nosuch"},
            {"deps", "nosuch"},
            {"clear", "nosuch"},
            {"message", "nosuch", "0", "hello"},
            {"export", "add", "nosuch"},
        };
        for (String[] v : verbs) {
            CairnProcesses.Result r = fails(1, v);
            assertThat(r.err()).as(String.join(" ", v)).contains("device: nosuch (expected: an existing device)", "hint: cairn ls");
        }
        assertThat(fails(1, "export", "rm", "nosuch").err()).contains("export: nosuch (expected: an existing export)",
                "hint: cairn export ls");
        for (String verb : new String[] {"merge", "rm", "ls"}) {
            assertThat(fails(1, "snapshot", verb, "nosuch").err()).contains("snapshot: nosuch (expected: an existing snapshot)",
                    "hint: cairn snapshot ls");
        }
    }

    @Test
    void badTablesChangeNothing() throws Exception {
        CairnProcesses.Result r = fails(1, "create", "bad", "--table", "0 100 nosuchtarget");
        assertThat(r.err()).contains("bad table: line 1", "nosuchtarget", "hint: fix the table");
        r = fails(1, "create", "bad", "--table", "0 8 zero\n10 8 zero");
        assertThat(r.err()).contains("line 2: start: 10 (expected: 8, the end of line 1)");
        r = fails(1, "create", "bad", "--table", "0 8 linear file:/no/such/file 0");
        assertThat(r.err()).contains("bad table", "/no/such/file");
        assertThat(cairn.ok("ls", "--state-dir", state.toString())).doesNotContain("bad");
        // A bad table loaded into an existing device leaves both of its tables alone.
        cairn.ok("create", "keep", "--table", "0 8 zero", "--state-dir", state.toString());
        fails(1, "load", "keep", "--table", "0 8 striped 3 8 a 0");
        assertThat(cairn.ok("info", "keep", "--state-dir", state.toString())).contains("Tables present:    LIVE\n");
        cairn.ok("remove", "keep", "--state-dir", state.toString());
    }

    @Test
    void removingADeviceInUseIsRefused() throws Exception {
        cairn.ok("create", "lower", "--table", "0 2048 zero", "--state-dir", state.toString());
        cairn.ok("create", "upper", "--table", "0 2048 linear lower 0", "--state-dir", state.toString());
        CairnProcesses.Result r = fails(1, "remove", "lower");
        assertThat(r.err()).contains("device lower is in use by upper", "hint: remove upper first");
        assertThat(cairn.ok("ls", "--state-dir", state.toString())).contains("lower", "upper");
        cairn.ok("remove", "upper", "--state-dir", state.toString());
        cairn.ok("remove", "lower", "--state-dir", state.toString());
    }

    @Test
    void snapshotErrors() throws Exception {
        assertThat(fails(1, "snapshot", "create", "nosuch", "s").err())
                .contains("origin: nosuch (expected: an existing device)", "hint: cairn ls");
        cairn.ok("create", "m1", "--table", "0 4096 linear mem:2M 0", "--no-export", "--state-dir", state.toString());
        assertThat(fails(2, "snapshot", "create", "m1", "s0").err()).contains("uses mem:2M, which cannot move to m1-real");
        cairn.ok("create", "o1", "--table", "0 4096 linear m1 0", "--state-dir", state.toString());
        cairn.ok("snapshot", "create", "o1", "s1", "--state-dir", state.toString());
        assertThat(fails(1, "snapshot", "create", "o1", "s1").err()).contains("name: s1 (expected: a name not in use)");
        assertThat(fails(2, "snapshot", "create", "s1", "s2").err()).contains("not itself a snapshot");
        assertThat(fails(2, "snapshot", "create", "o1", "s3", "--chunk", "3").err()).contains("chunk: 3");
        assertThat(fails(1, "remove", "s1").err()).contains("is a snapshot managed by cairn", "cairn snapshot rm s1");
        assertThat(fails(1, "remove", "o1-real").err()).contains("holds the data of origin o1");
        assertThat(fails(1, "load", "o1", "--table", "0 4096 zero").err()).contains("origin of snapshot s1");
        cairn.ok("snapshot", "rm", "s1", "--state-dir", state.toString());
        assertThat(cairn.ok("table", "o1", "--state-dir", state.toString())).isEqualTo("0 4096 linear m1 0\n");
        assertThat(cairn.ok("ls", "--state-dir", state.toString())).doesNotContain("o1-real");
        cairn.ok("remove", "o1", "--state-dir", state.toString());
        cairn.ok("remove", "m1", "--state-dir", state.toString());
    }

    @Test
    void aFullCowInvalidatesTheSnapshotButNotTheOrigin() throws Exception {
        Tools.require("qemu-io", "qemu-utils");
        String uri = "nbd://127.0.0.1:" + port + "/";
        cairn.ok("create", "smallmem", "--table", "0 16384 linear mem:8M 0", "--no-export", "--state-dir", state.toString());
        cairn.ok("create", "small", "--table", "0 16384 linear smallmem 0", "--state-dir", state.toString());
        Tools.qemuIo(logs, uri + "small", "write -P 0x41 0 2M");
        // 64 KiB of COW with 4 KiB chunks: a header, one metadata area and 14 data chunks.
        cairn.ok("snapshot", "create", "small", "tiny", "--size", "64K", "--state-dir", state.toString());
        Tools.qemuIo(logs, uri + "small", "write -P 0x42 0 1M", "flush");
        String ls = cairn.ok("snapshot", "ls", "tiny", "--state-dir", state.toString());
        assertThat(ls).contains("invalid");
        assertThat(cairn.ok("status", "tiny", "--state-dir", state.toString())).isEqualTo("0 16384 snapshot Invalid\n");
        Tools.qemuIoFails(logs, uri + "tiny", "read 0 4k");
        // The origin works on.
        Tools.qemuIo(logs, uri + "small", "read -P 0x42 0 1M", "read -P 0x41 1M 1M", "write -P 0x43 4M 64k", "read -P 0x43 4M 64k");
        assertThat(fails(1, "snapshot", "merge", "tiny").err()).contains("cannot be merged", "Invalid");
        cairn.ok("snapshot", "rm", "tiny", "--state-dir", state.toString());
        cairn.ok("remove", "small", "--state-dir", state.toString());
        cairn.ok("remove", "smallmem", "--state-dir", state.toString());
    }

    @Test
    void usageErrorsExitTwo() throws Exception {
        assertThat(fails(2, "create", "x").err()).contains("table: missing (expected: exactly one of --table TEXT");
        assertThat(fails(2, "create", "x", "--table", "0 8 zero", "--table-file", "f").err()).contains("given 2 times");
        assertThat(fails(2, "message", "x", "notanumber", "hi").err()).contains("SECTOR");
        assertThat(fails(2, "frobnicate").err()).contains("Unmatched argument");
        assertThat(fails(2, "snapshot", "create", "vol0", "s", "--size", "lots").err()).contains("--size: lots");
    }

    @Test
    void exportsAddListRemove() throws Exception {
        cairn.ok("create", "ex", "--table", "0 2048 zero", "--no-export", "--state-dir", state.toString());
        assertThat(cairn.ok("export", "ls", "--state-dir", state.toString())).doesNotContain("ex\t");
        cairn.ok("export", "add", "ex", "--as", "ex-ro", "--read-only", "--state-dir", state.toString());
        assertThat(cairn.ok("export", "ls", "--state-dir", state.toString())).contains("ex-ro\tdevice ex, 1.0 MiB, read-only",
                "nbd://127.0.0.1:" + port + "/ex-ro");
        assertThat(fails(1, "export", "add", "ex", "--as", "ex-ro").err()).contains("export: ex-ro (expected: a name not in use)");
        assertThat(cairn.ok("info", "ex", "--state-dir", state.toString())).contains("Open count:        1", "Exports:           ex-ro");
        cairn.ok("export", "rm", "ex-ro", "--state-dir", state.toString());
        cairn.ok("remove", "ex", "--state-dir", state.toString());
    }

    @Test
    void theCliWithoutADaemonSaysHowToStartOne() throws Exception {
        CairnProcesses.Result r = cairn.cli("ls", "--state-dir", tmp.resolve("nothing-here").toString());
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err()).contains("no cairn daemon is running on state directory", "hint: start one with: bin/cairn serve --state-dir");
    }
}
