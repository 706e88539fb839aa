package dev.cairn.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 17's first data-safety scenario with the real tools: ext4 on the origin, mounted through
 * nbdfuse and a loop device, a snapshot, more writes, then {@code snapshot merge} while it is still
 * mounted. Before, the merge ran at once and {@code fsck -n} found the file system damaged after the
 * unmount; now it is refused while the origin's export has clients, deferred with {@code --defer},
 * and runs by itself once the file system is unmounted and nbdfuse has gone: the origin then holds
 * the snapshot's file system, clean.
 */
class MergeUnderMountIT {
    @TempDir Path tmp;
    private CairnProcesses cairn;
    private Path logs;
    private Path state;
    private int port;
    private Process nbdfuse;
    private Path fuseDir;
    private Path mountDir;
    private String loop;
    private boolean mounted;

    @BeforeEach
    void setUp() throws Exception {
        for (String tool : List.of("nbdfuse", "fusermount3", "losetup", "mkfs.ext4", "fsck.ext4", "debugfs", "nbdcopy")) {
            Tools.require(tool);
        }
        logs = Files.createDirectories(tmp.resolve("logs"));
        cairn = new CairnProcesses(logs, tmp);
        state = tmp.resolve("state");
        port = CairnProcesses.freePort();
        fuseDir = Files.createDirectories(tmp.resolve("fuse"));
        mountDir = Files.createDirectories(tmp.resolve("mnt"));
    }

    @AfterEach
    void tearDown() throws Exception {
        try {
            unmountAll();
        } finally {
            if (cairn != null) {
                cairn.close();
            }
        }
    }

    private String ok(String... args) throws Exception {
        List<String> full = new ArrayList<>(List.of(args));
        full.addAll(List.of("--state-dir", state.toString()));
        return cairn.ok(full.toArray(String[]::new));
    }

    private static String sh(Path logs, String... cmd) throws Exception {
        CairnProcesses.Result r = Tools.run(logs, cmd);
        assertThat(r.exit()).as(String.join(" ", cmd) + "\n" + r.out()).isZero();
        return r.out();
    }

    /** nbdfuse on the export, a loop device on its file, ext4 mounted from it. */
    private void mount(boolean mkfs) throws Exception {
        nbdfuse = new ProcessBuilder("nbdfuse", fuseDir.toString(), "nbd://127.0.0.1:" + port + "/o")
                .redirectErrorStream(true).redirectOutput(logs.resolve("nbdfuse.out").toFile()).start();
        Path file = fuseDir.resolve("nbd");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!Files.exists(file)) {
            assertThat(nbdfuse.isAlive()).as("nbdfuse\n" + Files.readString(logs.resolve("nbdfuse.out"))).isTrue();
            assertThat(System.nanoTime()).as("nbdfuse did not show its file in 30 s").isLessThan(deadline);
            Thread.sleep(50);
        }
        loop = sh(logs, "losetup", "-f", "--show", file.toString()).strip();
        if (mkfs) {
            sh(logs, "mkfs.ext4", "-q", "-F", loop);
        }
        sh(logs, "mount", "-t", "ext4", loop, mountDir.toString());
        mounted = true;
    }

    private void unmountAll() throws Exception {
        if (mounted) {
            sh(logs, "umount", mountDir.toString());
            mounted = false;
        }
        if (loop != null) {
            sh(logs, "losetup", "-d", loop);
            loop = null;
        }
        if (nbdfuse != null) {
            // losetup -d releases the file asynchronously: retry the unmount until the file is no longer busy.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (Tools.run(logs, "fusermount3", "-u", fuseDir.toString()).exit() != 0) {
                assertThat(System.nanoTime()).as("fusermount3 -u kept failing for 30 s").isLessThan(deadline);
                Thread.sleep(100);
            }
            assertThat(nbdfuse.waitFor(30, TimeUnit.SECONDS)).as("nbdfuse exits after the unmount").isTrue();
            nbdfuse = null;
        }
    }

    private void writeFile(String name, int mib) throws Exception {
        sh(logs, "dd", "if=/dev/urandom", "of=" + mountDir.resolve(name), "bs=1M", "count=" + mib, "status=none");
        sh(logs, "sync", "-f", mountDir.toString());
    }

    @Test
    void mergeUnderAMountedOriginIsRefusedThenDeferredAndTheFileSystemStaysClean() throws Exception {
        CairnProcesses.Daemon daemon = cairn.serve(state, "--nbd-port", Integer.toString(port));
        assertThat(daemon.process.isAlive()).as(daemon.log()).isTrue();
        cairn.ok("image", "create", "o.img", "64M");
        ok("create", "o", "--table", "0 131072 linear file:" + tmp.resolve("o.img") + " 0");

        mount(true);
        writeFile("before", 4);
        ok("snapshot", "create", "o", "s1");
        writeFile("after", 8);
        sh(logs, "rm", mountDir.resolve("before").toString());
        sh(logs, "sync", "-f", mountDir.toString());

        CairnProcesses.Result refused = cairn.cli("snapshot", "merge", "s1", "--state-dir", state.toString());
        assertThat(refused.exit()).as(refused.toString()).isEqualTo(1);
        assertThat(refused.err()).contains("origin o or snapshot s1 is open:", "NBD client", "of export o", "--defer");
        assertThat(ok("snapshot", "ls")).contains("s1", "active");

        assertThat(ok("snapshot", "merge", "--defer", "s1")).contains("deferred");
        assertThat(ok("snapshot", "ls")).contains("merge-deferred");
        assertThat(Files.exists(mountDir.resolve("after"))).isTrue(); // still the origin's own data

        unmountAll();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!ok("snapshot", "ls").contains("No snapshots")) {
            assertThat(System.nanoTime()).as("the deferred merge did not finish in 60 s\n" + ok("snapshot", "ls") + daemon.log())
                    .isLessThan(deadline);
            Thread.sleep(200);
        }

        Path copy = tmp.resolve("o.copy");
        Tools.nbdcopy(logs, "nbd://127.0.0.1:" + port + "/o", copy);
        CairnProcesses.Result fsck = Tools.run(logs, "fsck.ext4", "-n", "-f", copy.toString());
        assertThat(fsck.exit()).as("fsck -n after the merge\n" + fsck.out()).isZero();
        String ls = sh(logs, "debugfs", "-R", "ls -l /", copy.toString());
        assertThat(ls).contains("before").doesNotContain("after");
        assertThat(daemon.stop()).isZero();
    }
}
