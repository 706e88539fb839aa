package dev.cairn.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.testkit.Poll;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.io.PrintStream;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * README's "Use Cairn as a Java library" example is compiled and run as written (so the page cannot
 * rot), and a real NBD client reads the export it serves.
 */
class ReadmeLibraryExampleTest {
    @TempDir Path tmp;

    @Test
    void theReadmeExampleCompilesRunsAndServes() throws Exception {
        String readme = Files.readString(Path.of("..", "README.md"));
        Matcher m = Pattern.compile("<!-- example: library -->\\s*```java\\n(.*?)```", Pattern.DOTALL).matcher(readme);
        assertThat(m.find()).as("the example block in README.md").isTrue();
        Path src = Files.createDirectories(tmp.resolve("src")).resolve("Example.java");
        Files.writeString(src, m.group(1));
        Path classes = Files.createDirectories(tmp.resolve("classes"));
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        ByteArrayOutputStream diagnostics = new ByteArrayOutputStream();
        int rc = javac.run(null, diagnostics, diagnostics, "-d", classes.toString(), "-cp", System.getProperty("java.class.path"),
                src.toString());
        assertThat(rc).as(diagnostics.toString(StandardCharsets.UTF_8)).isZero();

        PrintStream oldOut = System.out;
        InputStream oldIn = System.in;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PipedOutputStream enter = new PipedOutputStream();
        Throwable[] failure = new Throwable[1];
        Thread main;
        try (URLClassLoader loader = new URLClassLoader(new URL[] {classes.toUri().toURL()}, getClass().getClassLoader())) {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setIn(new PipedInputStream(enter));
            Class<?> example = loader.loadClass("Example");
            main = Thread.ofPlatform().start(() -> {
                try {
                    example.getMethod("main", String[].class).invoke(null, (Object) new String[0]);
                } catch (ReflectiveOperationException | RuntimeException e) {
                    failure[0] = e;
                }
            });
            assertThat(Poll.until(() -> out.toString(StandardCharsets.UTF_8).contains("press Enter"), Duration.ofSeconds(30)))
                    .as("the example prints its URI; " + failure[0]).isTrue();
            Matcher uri = Pattern.compile("serving (nbd://\\S+);").matcher(out.toString(StandardCharsets.UTF_8));
            assertThat(uri.find()).isTrue();
            Process p = new ProcessBuilder(List.of("nbdinfo", "--size", uri.group(1))).redirectErrorStream(true).start();
            String size = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(size).isEqualTo("67108864\n");
            enter.write('\n');
            enter.flush();
            main.join(30_000);
        } finally {
            System.setOut(oldOut);
            System.setIn(oldIn);
        }
        assertThat(main.isAlive()).isFalse();
        assertThat(failure[0]).isNull();
    }
}
