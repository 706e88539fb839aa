package dev.cairn.testkit;

import static org.assertj.core.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Finds real tools ({@link RealTools}: failing, not skipping, when one is missing) and runs them with a timeout: what
 * integration tests of every module use to drive nbdkit, qemu-img, ceph and the like.
 *
 * <p>Thread safety: stateless.
 */
public final class ExternalTools {
    private ExternalTools() {}

    /** The absolute path of {@code binary}: the testkit's one rule for a missing tool, {@link RealTools#require}. */
    public static String require(String binary, String debianPackage) {
        return RealTools.require(binary, debianPackage);
    }

    public static void requireRoot(String why) {
        if (!"root".equals(System.getProperty("user.name"))) {
            fail("this integration test must run as root: " + why);
        }
    }

    public record Result(int exitCode, String stdout, String stderr) {
        public Result ok() {
            if (exitCode != 0) {
                fail("exit " + exitCode + "\nstdout: " + stdout + "\nstderr: " + stderr);
            }
            return this;
        }

        public String all() {
            return stdout + stderr;
        }
    }

    /** Runs a command to completion; on timeout kills it and its children and fails. */
    public static Result run(Duration timeout, String... command) {
        return run(timeout, java.util.Map.of(), command);
    }

    /** Like {@link #run(Duration, String...)} with extra environment variables. */
    public static Result run(Duration timeout, java.util.Map<String, String> env, String... command) {
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().putAll(env);
        pb.environment().put("PATH", "/usr/sbin:/usr/bin:/sbin:/bin:" + System.getenv().getOrDefault("PATH", ""));
        pb.environment().put("LC_ALL", "C");
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            return fail("cannot start " + String.join(" ", command) + ": " + e);
        }
        try {
            p.getOutputStream().close();
        } catch (IOException e) {
            // the command does not read its input
        }
        CompletableFuture<String> out = CompletableFuture.supplyAsync(() -> slurp(p.getInputStream()));
        CompletableFuture<String> err = CompletableFuture.supplyAsync(() -> slurp(p.getErrorStream()));
        try {
            if (!p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                kill(p);
                fail("timed out after " + timeout + ": " + String.join(" ", command));
            }
            return new Result(p.exitValue(), out.get(10, TimeUnit.SECONDS), err.get(10, TimeUnit.SECONDS));
        } catch (Exception e) {
            kill(p);
            return fail("running " + String.join(" ", command) + ": " + e);
        }
    }

    /** Starts a long-running command (output to {@code log}); the caller must {@link #kill} it. */
    public static Process start(Path log, String... command) {
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        try {
            return pb.start();
        } catch (IOException e) {
            return fail("cannot start " + String.join(" ", command) + ": " + e);
        }
    }

    public static void kill(Process p) {
        if (p == null) {
            return;
        }
        p.descendants().forEach(ProcessHandle::destroyForcibly);
        p.destroy();
        try {
            if (!p.waitFor(5, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                p.waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static String slurp(InputStream in) {
        try (in) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "<" + e + ">";
        }
    }
}
