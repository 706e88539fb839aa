package dev.cairn.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

class CairnMainTest {

  private final StringWriter out = new StringWriter();
  private final StringWriter err = new StringWriter();

  private int run(String... args) {
    return CairnMain.run(new PrintWriter(out), new PrintWriter(err), args);
  }

  @Test
  void versionPrintsProjectVersionAndExitsZero() {
    // Set by the cli pom's surefire configuration from ${project.version}.
    String expected = System.getProperty("cairn.expectedVersion");
    assertThat(expected).as("system property cairn.expectedVersion").isNotBlank();

    assertThat(run("--version")).isZero();
    assertThat(out.toString().strip()).isEqualTo("cairn " + expected);
    assertThat(err.toString()).isEmpty();
  }

  @Test
  void helpShowsUsageAndExitsZero() {
    assertThat(run("--help")).isZero();
    assertThat(out.toString()).contains("Usage: cairn", "--version", "--help");
  }

  @Test
  void unknownOptionIsAUsageError() {
    assertThat(run("--bogus")).isEqualTo(2);
    assertThat(err.toString()).contains("Unknown option: '--bogus'");
    assertThat(out.toString()).isEmpty();
  }

  @Test
  void noCommandIsAUsageError() {
    assertThat(run()).isEqualTo(2);
    assertThat(err.toString()).contains("Usage: cairn");
  }
}
