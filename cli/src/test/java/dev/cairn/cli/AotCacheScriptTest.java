package dev.cairn.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bin/lib/aot.sh, the start-up cache rule of bin/cairn, run as the shell function it is against a stand-in
 * JDK whose {@code java} records its calls: the cache is made once, used while it is newer than the jar,
 * made again when the jar changes, not retried after a failed training run until the jar changes, and
 * not touched at all with {@code CAIRN_AOT=0}.
 */
class AotCacheScriptTest {
    private static final Path BIN_LIB = Path.of("..", "bin", "lib").toAbsolutePath().normalize();

    @TempDir Path tmp;
    private Path root;
    private Path jar;
    private Path jdk;
    private Path calls;

    @BeforeEach
    void setUp() throws IOException {
        root = Files.createDirectories(tmp.resolve("repo"));
        jar = root.resolve("cli/target/cairn.jar");
        Files.createDirectories(jar.getParent());
        Files.writeString(jar, "jar");
        Files.setLastModifiedTime(jar, FileTime.from(Instant.now().minusSeconds(100)));
        jdk = Files.createDirectories(tmp.resolve("jdk"));
        Files.writeString(jdk.resolve("release"), "JAVA_VERSION=\"25.0.9\"\n");
        Path java = Files.createDirectories(jdk.resolve("bin")).resolve("java");
        calls = tmp.resolve("calls.log");
        // Training: writes the file named by -XX:AOTCacheOutput= unless FAKE_TRAIN_RC says to fail.
        Files.writeString(java, """
                #!/usr/bin/env bash
                echo "$*" >>"$FAKE_CALLS"
                for a in "$@"; do
                  case $a in
                    -XX:AOTCacheOutput=*) [[ ${FAKE_TRAIN_RC:-0} == 0 ]] || exit "$FAKE_TRAIN_RC"; echo cache >"${a#*=}" ;;
                  esac
                done
                exit 0
                """);
        Files.setPosixFilePermissions(java, PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    private record Run(List<String> flags, String stderr) {}

    private Run run(String... env) throws Exception {
        ProcessBuilder pb = new ProcessBuilder("bash", "-c",
                "source \"$1/jdk.sh\" && source \"$1/aot.sh\" && CAIRN_JVM_FLAGS=(-Xms16m) && "
                        + "cairn_aot_flags \"$2\" \"$3\" && printf '%s\\n' \"${CAIRN_AOT_FLAGS[@]}\"",
                "aot", BIN_LIB.toString(), root.toString(), jar.toString());
        pb.environment().put("JAVA_HOME", jdk.toString());
        pb.environment().put("FAKE_CALLS", calls.toString());
        pb.environment().put("TMPDIR", tmp.toString());
        pb.environment().remove("CAIRN_AOT");
        for (String kv : env) {
            pb.environment().put(kv.substring(0, kv.indexOf('=')), kv.substring(kv.indexOf('=') + 1));
        }
        Path err = tmp.resolve("stderr");
        Process p = pb.redirectError(err.toFile()).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(Files.readString(err)).isZero();
        return new Run(out.isEmpty() ? List.of() : List.of(out.split("\n")), Files.readString(err));
    }

    private long trainings() throws IOException {
        return Files.exists(calls) ? Files.readAllLines(calls).stream().filter(l -> l.contains("AOTCacheOutput")).count() : 0;
    }

    private Path cache() {
        return root.resolve("cli/target/aot/cairn-25.0.9.aot");
    }

    @Test
    void theCacheIsMadeOnceAndUsedUntilTheJarChanges() throws Exception {
        Run first = run();
        assertThat(first.stderr()).contains("cairn: making the start-up cache");
        assertThat(trainings()).isEqualTo(1);
        assertThat(first.flags()).contains("-XX:AOTCache=" + cache());
        assertThat(Files.readAllLines(calls)).anyMatch(l -> l.contains("-XX:AOTMode=on") && l.contains("dev.cairn.cli.CairnMain"));
        // The training's scratch state directory is gone.
        try (var left = Files.list(tmp)) {
            assertThat(left.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith("cairn-aot."));
        }

        Run second = run();
        assertThat(second.stderr()).isEmpty();
        assertThat(trainings()).isEqualTo(1);
        assertThat(second.flags()).contains("-XX:AOTCache=" + cache());

        // A rebuilt jar (bin/cairn touches it after each build) is newer than the cache.
        Files.setLastModifiedTime(cache(), FileTime.from(Instant.now().minusSeconds(50)));
        Files.setLastModifiedTime(jar, FileTime.from(Instant.now().minusSeconds(10)));
        run();
        assertThat(trainings()).isEqualTo(2);
    }

    @Test
    void aFailedTrainingRunLeavesNoCacheAndIsNotRetriedUntilTheJarChanges() throws Exception {
        Run failed = run("FAKE_TRAIN_RC=1");
        assertThat(failed.flags()).isEmpty();
        assertThat(failed.stderr()).contains("could not make the start-up cache");
        assertThat(cache()).doesNotExist();
        try (var left = Files.list(cache().getParent())) {
            assertThat(left.map(p -> p.getFileName().toString())).noneMatch(n -> n.contains(".tmp."));
        }
        assertThat(run("FAKE_TRAIN_RC=1").flags()).isEmpty();
        assertThat(trainings()).isEqualTo(1);

        Files.setLastModifiedTime(root.resolve("cli/target/aot/cairn-25.0.9.failed"), FileTime.from(Instant.now().minusSeconds(50)));
        Files.setLastModifiedTime(jar, FileTime.from(Instant.now().minusSeconds(10)));
        assertThat(run().flags()).contains("-XX:AOTCache=" + cache());
        assertThat(trainings()).isEqualTo(2);
    }

    @Test
    void cairnAotZeroTurnsItOff() throws Exception {
        Run off = run("CAIRN_AOT=0");
        assertThat(off.flags()).isEmpty();
        assertThat(calls).doesNotExist();
        assertThat(cache()).doesNotExist();
    }
}
