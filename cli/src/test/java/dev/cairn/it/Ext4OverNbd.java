package dev.cairn.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real ext4 file system on a Cairn export, mounted by the kernel: {@code nbdfuse} turns the NBD export
 * into a file, {@code losetup} into a block device, {@code mount} mounts it. {@link #close()} takes it all
 * down in reverse order, also after a failure half way, so nothing is left mounted.
 *
 * <p>Needs root (loop devices, mount) and the tools below; a missing one fails the test, it is never skipped.
 */
final class Ext4OverNbd implements AutoCloseable {
    static final List<String> TOOLS = List.of("nbdfuse", "fusermount3", "losetup", "mount", "umount", "mkfs.ext4", "e2fsck",
            "debugfs", "fsfreeze");

    private final Path logs;
    private final Path fuseDir;
    private final Path mountDir;
    private Process nbdfuse;
    private String loop;
    private boolean mounted;

    /** Fails the test when a tool is missing or the test does not run as root. */
    static void requireTools(String... more) throws Exception {
        List<String> all = new ArrayList<>(TOOLS);
        all.addAll(List.of(more));
        for (String t : all) {
            boolean found = false;
            for (String dir : ("/usr/sbin:/sbin:/usr/bin:/bin:" + System.getenv().getOrDefault("PATH", "")).split(":")) {
                if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, t))) {
                    found = true;
                    break;
                }
            }
            assertThat(found).as(t + " is required (Debian: e2fsprogs, libnbd-bin, fuse3, util-linux, sqlite3, qemu-utils)")
                    .isTrue();
        }
        CairnProcesses.Result id = run(Files.createTempDirectory("id"), "id", "-u");
        assertThat(id.out().trim()).as("this test mounts a file system: it must run as root").isEqualTo("0");
    }

    Ext4OverNbd(Path dir, Path logs) throws Exception {
        this.logs = logs;
        this.fuseDir = Files.createDirectories(dir.resolve("fuse"));
        this.mountDir = Files.createDirectories(dir.resolve("mnt"));
    }

    Path mountDir() {
        return mountDir;
    }

    /** Attaches the export at {@code uri} and mounts the ext4 on it. */
    void mount(String uri) throws Exception {
        nbdfuse = new ProcessBuilder("nbdfuse", fuseDir.toString(), uri).redirectErrorStream(true)
                .redirectOutput(logs.resolve("nbdfuse.out").toFile()).start();
        Path file = fuseDir.resolve("nbd");
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!Files.exists(file)) {
            assertThat(nbdfuse.isAlive()).as("nbdfuse exited: " + Files.readString(logs.resolve("nbdfuse.out"))).isTrue();
            assertThat(System.nanoTime() < deadline).as("nbdfuse did not show " + file + " in 30 s").isTrue();
            Thread.sleep(50);
        }
        loop = ok("losetup", "-f", "--show", file.toString()).trim();
        ok("mount", "-t", "ext4", loop, mountDir.toString());
        mounted = true;
    }

    /** Runs a shell script in the mount directory; must succeed. */
    String sh(String script) throws Exception {
        return ok("sh", "-c", "cd '" + mountDir + "' && " + script);
    }

    void umount() throws Exception {
        if (mounted) {
            ok("umount", mountDir.toString());
            mounted = false;
        }
        if (loop != null) {
            ok("losetup", "-d", loop);
            loop = null;
        }
        if (nbdfuse != null) {
            run(logs, "fusermount3", "-u", fuseDir.toString());
            if (!nbdfuse.waitFor(30, TimeUnit.SECONDS)) {
                nbdfuse.destroyForcibly();
            }
            nbdfuse = null;
        }
    }

    /** Runs a command with the sbin directories first in PATH (losetup, mount, e2fsck live there); 5 minutes at most. */
    static CairnProcesses.Result run(Path logDir, String... cmd) throws Exception {
        Path out = Files.createTempFile(logDir, "cmd", ".out");
        ProcessBuilder pb = new ProcessBuilder(List.of(cmd)).redirectErrorStream(true).redirectOutput(out.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
        pb.environment().put("PATH", SBIN_PATH);
        Process p = pb.start();
        if (!p.waitFor(5, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", cmd) + " did not finish in 5 minutes");
        }
        return new CairnProcesses.Result(p.exitValue(), Files.readString(out), "");
    }

    static final String SBIN_PATH = "/usr/sbin:/sbin:/usr/bin:/bin:" + System.getenv().getOrDefault("PATH", "");

    String ok(String... cmd) throws Exception {
        CairnProcesses.Result r = run(logs, cmd);
        assertThat(r.exit()).as(String.join(" ", cmd) + "\n" + r.out()).isZero();
        return r.out();
    }

    @Override
    public void close() {
        try {
            if (mounted) {
                run(logs, "umount", "-l", mountDir.toString());
                mounted = false;
            }
            if (loop != null) {
                run(logs, "losetup", "-d", loop);
                loop = null;
            }
            if (nbdfuse != null) {
                run(logs, "fusermount3", "-uz", fuseDir.toString());
                nbdfuse.destroyForcibly();
                nbdfuse.waitFor(30, TimeUnit.SECONDS);
            }
        } catch (Exception e) {
            throw new IllegalStateException("cleaning up the ext4 mount at " + mountDir, e);
        }
    }
}
