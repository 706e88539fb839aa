package dev.cairn.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * bin/cairn rebuilds its jar when {@code cairn_stale_source} (bin/lib/build-check.sh) names a file. These
 * tests run that shell function on a small copy of the repository's layout: an edit to a dm target or to
 * the snapshot module must be seen, Maven's build folders must not.
 */
class RebuildCheckTest {
    private static final Path SCRIPT = Path.of("..", "bin", "lib", "build-check.sh").toAbsolutePath().normalize();
    private static final Instant JAR_TIME = Instant.parse("2026-01-01T00:00:00Z");

    @TempDir Path root;

    private Path jar() throws IOException {
        return write("cli/target/cairn.jar", JAR_TIME);
    }

    private Path write(String relative, Instant mtime) throws IOException {
        Path p = root.resolve(relative);
        Files.createDirectories(p.getParent());
        Files.writeString(p, "x");
        Files.setLastModifiedTime(p, FileTime.from(mtime));
        return p;
    }

    private String stale(Path jar) throws Exception {
        Process p = new ProcessBuilder("bash", "-c", "source \"$1\"; cairn_stale_source \"$2\" \"$3\"", "check",
                        SCRIPT.toString(), root.toString(), jar.toString())
                .redirectErrorStream(true)
                .start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        return out;
    }

    @Test
    void anEditToATargetSourceIsSeen() throws Exception {
        Path jar = jar();
        Instant older = JAR_TIME.minusSeconds(60);
        Instant newer = JAR_TIME.plusSeconds(60);
        write("dm/src/main/java/dev/cairn/dm/targets/linear/LinearTarget.java", older);
        write("snapshot/src/main/java/dev/cairn/snapshot/Snapshot.java", older);
        assertThat(stale(jar)).isEmpty();

        write("dm/src/main/java/dev/cairn/dm/targets/linear/LinearTarget.java", newer);
        assertThat(stale(jar)).isEqualTo("./dm/src/main/java/dev/cairn/dm/targets/linear/LinearTarget.java");
    }

    @Test
    void aSourcePackageNamedTargetIsStillSource() throws Exception {
        Path jar = jar();
        write("dm/src/main/java/dev/example/target/Thing.java", JAR_TIME.plusSeconds(60));
        assertThat(stale(jar)).isEqualTo("./dm/src/main/java/dev/example/target/Thing.java");
    }

    @Test
    void mavenBuildFoldersAreIgnored() throws Exception {
        Path jar = jar();
        Instant newer = JAR_TIME.plusSeconds(60);
        write("dm/target/classes/dev/cairn/dm/src/main/Generated.java", newer);
        write("target/cairn-build.log", newer);
        write("dm/src/main/java/dev/cairn/dm/Table.java", JAR_TIME.minusSeconds(60));
        assertThat(stale(jar)).isEmpty();

        write("dm/pom.xml", newer);
        assertThat(stale(jar)).isEqualTo("./dm/pom.xml");
    }
}
