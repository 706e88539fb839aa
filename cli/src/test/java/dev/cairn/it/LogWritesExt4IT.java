package dev.cairn.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The crash-consistency checker, end to end with real processes: a daemon started by the test serves a
 * device stacked on a {@code log-writes} target; the kernel mounts ext4 on it (nbdfuse + loop); the test
 * writes and fsyncs files with marks, forces the file system to write its metadata in place
 * ({@code sync}, {@code fsfreeze}), writes more, unmounts and removes the devices (which ends the log).
 * Then {@code cairn log-writes replay --check} replays the log onto a copy of the file system as it was when
 * logging started and, at every flush, FUA and mark, replays the journal on a copy and runs
 * {@code e2fsck -fn}.
 *
 * <p>With a correct stack every point is clean. With a broken device between the file system and the log
 * (the top device reloaded to {@code flakey ... drop_writes} while the metadata goes in place, as a disk
 * that acknowledges writes it never stores), the checker stops at the first inconsistent point and names
 * that entry. (nbdfuse and the loop driver send FUA as a write plus a flush, so the points here are
 * flushes and marks; the replayer counts each kind.)
 */
class LogWritesExt4IT {
    private static final String CHECK = "export PATH=" + Ext4OverNbd.SBIN_PATH + "; "
            + "cp --sparse=always \"$CAIRN_REPLAY_TARGET\" check.img"
            + " && { e2fsck -E journal_only -y check.img >/dev/null 2>&1; e2fsck -fn check.img; }";

    @TempDir Path tmp;
    private Path logs;
    private CairnProcesses cairn;
    private CairnProcesses.Daemon daemon;
    private Ext4OverNbd ext4;
    private Path state;
    private int port;

    @BeforeEach
    void setUp() throws Exception {
        Ext4OverNbd.requireTools();
        logs = Files.createDirectories(tmp.resolve("logs"));
        cairn = new CairnProcesses(logs, tmp);
        state = tmp.resolve("state");
        port = CairnProcesses.freePort();
        daemon = cairn.serve(state, "--nbd-port", Integer.toString(port));
        assertThat(daemon.process.isAlive()).as(daemon.log()).isTrue();
        ext4 = new Ext4OverNbd(tmp, logs);
    }

    @AfterEach
    void tearDown() {
        if (ext4 != null) {
            ext4.close();
        }
        if (cairn != null) {
            cairn.close();
        }
    }

    private String cli(String... args) throws Exception {
        String[] full = new String[args.length + 2];
        System.arraycopy(args, 0, full, 0, args.length);
        full[args.length] = "--state-dir";
        full[args.length + 1] = state.toString();
        return cairn.ok(full);
    }

    private void mark(String name) throws Exception {
        cli("message", "lw", "0", "mark", name);
    }

    private void swapTop(String table) throws Exception {
        cli("reload", "top", "--table", table);
        cli("suspend", "top");
        cli("resume", "top");
    }

    /** Builds the stack, runs the workload (with writes dropped in the middle when {@code broken}), ends the log. */
    private Path record(boolean broken) throws Exception {
        Path data = tmp.resolve("data.img");
        Path log = tmp.resolve("log.img");
        cairn.ok("image", "create", data.toString(), "64M");
        cairn.ok("image", "create", log.toString(), "256M");
        ext4.ok("mkfs.ext4", "-q", "-F", data.toString());
        Files.copy(data, tmp.resolve("base.img"));
        cli("create", "lw", "--no-export", "--table", "0 131072 log-writes file:" + data + " file:" + log);
        cli("create", "top", "--table", "0 131072 linear lw 0");
        ext4.mount("nbd://127.0.0.1:" + port + "/top");

        ext4.sh("mkdir d && for i in 1 2 3 4 5; do echo hello$i > d/a$i; done && sync d/a5");
        mark("step1");
        if (broken) {
            swapTop("0 131072 flakey lw 0 0 1 1 drop_writes");
        }
        // sync writes the metadata in place; the freeze flushes the journal: the journal no longer covers it.
        ext4.sh("sync && fsfreeze -f . && fsfreeze -u .");
        if (broken) {
            swapTop("0 131072 linear lw 0");
        }
        mark("step2");
        ext4.sh("for i in 1 2 3 4 5; do echo more$i > d/b$i && sync d/b$i; done && sync");
        mark("step3");
        ext4.umount();
        cli("remove", "top");
        cli("remove", "lw");
        return log;
    }

    private CairnProcesses.Result replayWithCheck(Path log) throws Exception {
        Path target = tmp.resolve("replay.img");
        Files.copy(tmp.resolve("base.img"), target, StandardCopyOption.REPLACE_EXISTING);
        return cairn.cli("log-writes", "replay", log.toString(), "--to", target.toString(), "--check-at", "fua,flush,mark",
                "--check", CHECK);
    }

    @Test
    void everyFlushAndMarkOfARealExt4IsConsistent() throws Exception {
        Path log = record(false);
        String ls = cairn.ok("log-writes", "ls", log.toString());
        assertThat(ls).contains("mark", "step1", "step2", "step3", "dm-log-writes-end");

        CairnProcesses.Result r = replayWithCheck(log);
        assertThat(r.exit()).as(r.toString()).isZero();
        Matcher m = Pattern.compile("checked (\\d+) points \\((\\d+) FUA, (\\d+) flush, (\\d+) mark\\): all passed").matcher(r.out());
        assertThat(m.find()).as(r.out()).isTrue();
        int points = Integer.parseInt(m.group(1));
        System.out.println("ext4 over log-writes: " + points + " points checked with e2fsck -fn, all clean (" + m.group(2)
                + " FUA, " + m.group(3) + " flush, " + m.group(4) + " mark)");
        // Four marks (three of ours and the end mark) and the flushes of every fsync.
        assertThat(Integer.parseInt(m.group(4))).isEqualTo(4);
        assertThat(Integer.parseInt(m.group(3))).isGreaterThanOrEqualTo(10);
        assertThat(r.out()).doesNotContain("FAILED");

        // The fully replayed image is the data device, byte for byte (the log holds every write).
        assertThat(Files.mismatch(tmp.resolve("replay.img"), tmp.resolve("data.img"))).isEqualTo(-1L);
        // And the file system on it holds the files.
        String cat = ext4.ok("debugfs", "-R", "cat /d/b5", tmp.resolve("replay.img").toString());
        assertThat(cat).contains("more5");
    }

    @Test
    void aDeviceThatDropsAcknowledgedWritesIsCaughtAtTheFirstBadEntry() throws Exception {
        Path log = record(true);
        CairnProcesses.Result r = replayWithCheck(log);
        assertThat(r.exit()).as(r.toString()).isEqualTo(1);
        Matcher m = Pattern.compile("first bad entry: entry (\\d+) \\(").matcher(r.out());
        assertThat(m.find()).as(r.toString()).isTrue();
        long bad = Long.parseLong(m.group(1));
        assertThat(r.err()).contains("check failed at entry " + bad + ":");
        // e2fsck's own words for what the lost metadata did, shown under the failing point.
        assertThat(r.out()).containsPattern("(?i)(differences|wrong|unattached|error)");
        // Every point before it passed: the first failure is the one named.
        assertThat(r.out().lines().filter(l -> l.startsWith("check at ")).filter(l -> l.endsWith(": ok")).count())
                .isEqualTo(r.out().lines().filter(l -> l.startsWith("check at ")).count() - 1);
        System.out.println("broken device: the checker stopped at entry " + bad + "\n" + r.out());
    }
}
