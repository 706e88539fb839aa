package dev.cairn.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs the real {@code cairn} jar as child processes: a daemon ({@code serve}) and CLI commands. Every
 * daemon started here is killed by {@link #close()}, so an IT that fails half way leaves nothing behind.
 */
final class CairnProcesses implements AutoCloseable {
    private final Path jar;
    private final Path java;
    private final Path logDir;
    private final List<Daemon> daemons = new ArrayList<>();
    private final Path workDir;
    private int counter;

    CairnProcesses(Path logDir) {
        this(logDir, logDir);
    }

    /** CLI commands run in {@code workDir} (relative paths in them resolve there). */
    CairnProcesses(Path logDir, Path workDir) {
        this.logDir = logDir;
        this.workDir = workDir;
        String prop = System.getProperty("cairn.jar", "target/cairn.jar");
        this.jar = Path.of(prop).toAbsolutePath();
        assertThat(jar).as("the shaded jar (failsafe runs after package)").exists();
        this.java = Path.of(ProcessHandle.current().info().command().orElse("java"));
    }

    record Result(int exit, String out, String err) {
        @Override
        public String toString() {
            return "exit " + exit + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    private List<String> command(String... args) {
        List<String> cmd = new ArrayList<>(List.of(java.toString(), "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow", "-jar", jar.toString()));
        cmd.addAll(List.of(args));
        return cmd;
    }

    /** Runs one CLI command to completion (at most 2 minutes). */
    Result cli(Path stdin, String... args) throws Exception {
        int n = ++counter;
        Path out = logDir.resolve("cli-" + n + ".out");
        Path err = logDir.resolve("cli-" + n + ".err");
        ProcessBuilder pb = new ProcessBuilder(command(args)).directory(workDir.toFile()).redirectOutput(out.toFile())
                .redirectError(err.toFile());
        pb.redirectInput(stdin == null ? ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()) : ProcessBuilder.Redirect.from(stdin.toFile()));
        Process p = pb.start();
        if (!p.waitFor(2, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new AssertionError("cairn " + String.join(" ", args) + " did not finish in 2 minutes");
        }
        return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
    }

    Result cli(String... args) throws Exception {
        return cli(null, args);
    }

    /** Runs a CLI command that must succeed; returns its stdout. */
    String ok(String... args) throws Exception {
        Result r = cli(args);
        assertThat(r.exit()).as("cairn " + String.join(" ", args) + "\n" + r).isZero();
        return r.out();
    }

    /** Starts {@code cairn serve} and waits until its control socket answers. */
    Daemon serve(Path stateDir, String... extra) throws Exception {
        return serveWrapped(List.of(), stateDir, extra);
    }

    /** {@link #serve} with {@code wrapper} before the java command (for example prlimit). */
    Daemon serveWrapped(List<String> wrapper, Path stateDir, String... extra) throws Exception {
        int n = ++counter;
        Path out = logDir.resolve("serve-" + n + ".out");
        Path err = logDir.resolve("serve-" + n + ".err");
        List<String> args = new ArrayList<>(List.of("serve", "--state-dir", stateDir.toString()));
        args.addAll(List.of(extra));
        List<String> cmd = new ArrayList<>(wrapper);
        cmd.addAll(command(args.toArray(String[]::new)));
        Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile())
                .redirectError(err.toFile()).start();
        Daemon d = new Daemon(p, stateDir, out, err);
        daemons.add(d);
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (System.nanoTime() < deadline) {
            if (!p.isAlive()) {
                return d; // the caller checks the exit code and stderr
            }
            if (Files.readString(out).contains("control socket:")) {
                return d;
            }
            Thread.sleep(50);
        }
        throw new AssertionError("cairn serve did not start in 60 s\n" + d.log());
    }

    /** A daemon child process. */
    static final class Daemon {
        final Process process;
        final Path stateDir;
        final Path out;
        final Path err;

        Daemon(Process process, Path stateDir, Path out, Path err) {
            this.process = process;
            this.stateDir = stateDir;
            this.out = out;
            this.err = err;
        }

        String stdout() throws IOException {
            return Files.readString(out);
        }

        String stderr() throws IOException {
            return Files.readString(err);
        }

        String log() throws IOException {
            return "--- daemon stdout\n" + stdout() + "--- daemon stderr\n" + stderr();
        }

        /** SIGTERM, then the exit code (at most 60 s). */
        int stop() throws Exception {
            process.destroy();
            if (!process.waitFor(60, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new AssertionError("cairn serve did not stop within 60 s of SIGTERM\n" + log());
            }
            return process.exitValue();
        }

        /** SIGKILL: no chance to flush or clean up. */
        void kill9() throws Exception {
            process.destroyForcibly();
            process.waitFor(30, TimeUnit.SECONDS);
        }

        int waitForExit() throws Exception {
            if (!process.waitFor(60, TimeUnit.SECONDS)) {
                throw new AssertionError("cairn serve still running\n" + log());
            }
            return process.exitValue();
        }
    }

    @Override
    public void close() {
        for (Daemon d : daemons) {
            if (d.process.isAlive()) {
                d.process.destroyForcibly();
                try {
                    d.process.waitFor(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }
}
