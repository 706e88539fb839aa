package dev.cairn.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.testkit.RealTools;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** Real NBD clients (qemu-io, nbdcopy) run as processes; a test that needs a missing one fails ({@link RealTools}). */
final class Tools {
    private Tools() {}

    /** Fails the test (the testkit's rule, {@link RealTools}) when {@code tool} is missing. */
    static void require(String tool, String debianPackage) {
        RealTools.require(tool, debianPackage);
    }

    /** {@link #require(String, String)} with the Debian package that ships each client these tests use. */
    static void require(String tool) {
        String debianPackage = switch (tool) {
            case "qemu-io", "qemu-img", "qemu-nbd" -> "qemu-utils";
            case "nbdinfo", "nbdcopy", "nbdfuse", "nbddump" -> "libnbd-bin";
            case "mkfs.ext4", "e2fsck", "fsck.ext4" -> "e2fsprogs";
            case "losetup", "mount", "umount", "fsfreeze" -> "util-linux";
            case "fusermount3" -> "fuse3";
            default -> tool;
        };
        RealTools.require(tool, debianPackage);
    }

    static CairnProcesses.Result run(Path logDir, String... cmd) throws Exception {
        Path out = Files.createTempFile(logDir, "tool", ".out");
        ProcessBuilder pb = new ProcessBuilder(List.of(cmd)).redirectErrorStream(true).redirectOutput(out.toFile());
        pb.environment().put("PATH", "/usr/bin:/bin:" + System.getenv().getOrDefault("PATH", ""));
        Process p = pb.start();
        if (!p.waitFor(2, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", cmd) + " did not finish in 2 minutes");
        }
        return new CairnProcesses.Result(p.exitValue(), Files.readString(out), "");
    }

    /** qemu-io with one or more -c commands against an NBD URI; must succeed (pattern checks included). */
    static String qemuIo(Path logDir, String uri, String... commands) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
        for (String c : commands) {
            cmd.add("-c");
            cmd.add(c);
        }
        cmd.add(uri);
        CairnProcesses.Result r = run(logDir, cmd.toArray(String[]::new));
        assertThat(r.exit()).as("qemu-io " + String.join(" | ", commands) + " " + uri + "\n" + r.out()).isZero();
        assertThat(r.out()).doesNotContain("Pattern verification failed");
        return r.out();
    }

    /** qemu-io that is expected to fail (exit code not 0). */
    static String qemuIoFails(Path logDir, String uri, String... commands) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
        for (String c : commands) {
            cmd.add("-c");
            cmd.add(c);
        }
        cmd.add(uri);
        CairnProcesses.Result r = run(logDir, cmd.toArray(String[]::new));
        assertThat(r.exit() != 0 || r.out().contains("failed") || r.out().contains("error"))
                .as("qemu-io should have failed: " + String.join(" | ", commands) + "\n" + r.out()).isTrue();
        return r.out();
    }

    /** Copies a whole export into a file with nbdcopy. */
    static void nbdcopy(Path logDir, String uri, Path file) throws Exception {
        Files.deleteIfExists(file);
        CairnProcesses.Result r = run(logDir, "nbdcopy", uri, file.toString());
        assertThat(r.exit()).as("nbdcopy " + uri + "\n" + r.out()).isZero();
    }
}
