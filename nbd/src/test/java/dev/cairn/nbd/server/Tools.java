package dev.cairn.nbd.server;

import static org.assertj.core.api.Assertions.fail;

import dev.cairn.testkit.RealTools;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/** Finds real client binaries ({@link RealTools}: a missing one fails the test) and runs them with a timeout. */
final class Tools {
    private static final List<String> EXTRA_PATH = List.of("/usr/sbin", "/sbin", "/usr/bin", "/bin");

    private Tools() {}

    /** The absolute path of {@code binary}: the testkit's rule for a missing tool ({@link RealTools}). */
    static String require(String binary, String debianPackage) {
        return RealTools.require(binary, debianPackage);
    }

    static void requireRoot(String why) {
        if (!"root".equals(System.getProperty("user.name"))) {
            fail("this integration test must run as root: " + why);
        }
    }

    record Result(int exitCode, String stdout, String stderr) {
        Result ok() {
            if (exitCode != 0) {
                fail("exit " + exitCode + "\nstdout: " + stdout + "\nstderr: " + stderr);
            }
            return this;
        }

        String all() {
            return stdout + stderr;
        }
    }

    /** Runs a command to completion; on timeout kills it and its children and fails. */
    static Result run(Duration timeout, String... command) {
        return run(timeout, java.util.Map.of(), command);
    }

    /** Like {@link #run(Duration, String...)} with extra environment variables. */
    static Result run(Duration timeout, java.util.Map<String, String> env, String... command) {
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
    static Process start(Path log, String... command) {
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        try {
            return pb.start();
        } catch (IOException e) {
            return fail("cannot start " + String.join(" ", command) + ": " + e);
        }
    }

    static void kill(Process p) {
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
