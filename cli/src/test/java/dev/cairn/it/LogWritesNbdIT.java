package dev.cairn.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * log-writes under a real NBD client that sends FUA (qemu-io {@code write -f}): the daemon's export logs the
 * FUA write as soon as it completes, holds plain writes until the next flush, takes marks by message and
 * shows them in its status; {@code replay --next-fua} stops right after the FUA write, and a check at FUA
 * points and marks runs once per point.
 */
class LogWritesNbdIT {
    @TempDir Path tmp;
    private CairnProcesses cairn;

    @AfterEach
    void tearDown() {
        if (cairn != null) {
            cairn.close();
        }
    }

    /** qemu-io defaults to writethrough, which makes every write FUA: writeback sends FUA only for {@code -f}. */
    private static void qemuIoWriteback(Path logs, String uri, String... commands) throws Exception {
        java.util.List<String> cmd = new java.util.ArrayList<>(java.util.List.of("qemu-io", "-f", "raw", "-t", "writeback"));
        for (String c : commands) {
            cmd.add("-c");
            cmd.add(c);
        }
        cmd.add(uri);
        CairnProcesses.Result r = Ext4OverNbd.run(logs, cmd.toArray(String[]::new));
        assertThat(r.exit()).as(String.join(" ", cmd) + "\n" + r.out()).isZero();
    }

    @Test
    void fuaFromARealClientIsACheckPointAndNextFuaStopsThere() throws Exception {
        Ext4OverNbd.requireTools("qemu-io");
        Path logs = Files.createDirectories(tmp.resolve("logs"));
        cairn = new CairnProcesses(logs, tmp);
        Path state = tmp.resolve("state");
        int port = CairnProcesses.freePort();
        CairnProcesses.Daemon daemon = cairn.serve(state, "--nbd-port", Integer.toString(port));
        assertThat(daemon.process.isAlive()).as(daemon.log()).isTrue();
        String sd = state.toString();
        Path data = tmp.resolve("data.img");
        Path log = tmp.resolve("log.img");
        cairn.ok("image", "create", data.toString(), "8M");
        cairn.ok("image", "create", log.toString(), "32M");
        cairn.ok("create", "lw", "--table", "0 16384 log-writes file:" + data + " file:" + log, "--state-dir", sd);
        String uri = "nbd://127.0.0.1:" + port + "/lw";

        qemuIoWriteback(logs, uri, "write -P 0x11 0 64k", "flush");
        cairn.ok("message", "lw", "0", "mark", "first", "--state-dir", sd);
        // Plain write, then a FUA write, then a plain write that no flush follows until the device is removed.
        qemuIoWriteback(logs, uri, "write -P 0x22 64k 4k", "write -f -P 0x33 1M 4k", "write -P 0x44 2M 4k");
        assertThat(cairn.ok("status", "lw", "--state-dir", sd)).matches("0 16384 log-writes \\d+ \\d+\\n");
        cairn.ok("remove", "lw", "--state-dir", sd);

        String ls = cairn.ok("log-writes", "ls", log.toString());
        assertThat(ls).containsPattern("write +FUA +2048 +8 ");
        assertThat(ls).containsPattern("mark +MARK +0 +0 +first");
        assertThat(ls).containsPattern("mark +MARK +0 +0 +dm-log-writes-end");
        assertThat(ls).doesNotContain("note:");

        Path replay = tmp.resolve("replay.img");
        cairn.ok("image", "create", replay.toString(), "8M");
        CairnProcesses.Result r = cairn.cli("log-writes", "replay", log.toString(), "--to", replay.toString(), "--next-fua",
                "--check", "echo \"$CAIRN_LOG_ENTRY:$CAIRN_LOG_MARK\" >> points");
        assertThat(r.exit()).as(r.toString()).isZero();
        assertThat(r.out()).containsPattern("checked 2 points \\(1 FUA, 0 flush, 1 mark\\): all passed");
        assertThat(Files.readString(tmp.resolve("points"))).matches("\\d+:first\\n\\d+:\\n");
        byte[] img = Files.readAllBytes(replay);
        assertThat(img[0]).isEqualTo((byte) 0x11);
        assertThat(img[1 << 20]).isEqualTo((byte) 0x33);
        // The plain write before the FUA one had no flush yet: not durable at that point, not replayed.
        assertThat(img[64 << 10]).isEqualTo((byte) 0);
        assertThat(img[2 << 20]).isEqualTo((byte) 0);

        // The whole log: every write, the data device byte for byte.
        Path all = tmp.resolve("all.img");
        cairn.ok("image", "create", all.toString(), "8M");
        assertThat(cairn.ok("log-writes", "replay", log.toString(), "--to", all.toString())).contains("replayed ");
        assertThat(Files.mismatch(all, data)).isEqualTo(-1L);
    }
}
