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

  @Test
  void everyCommandListSummaryIsAWholeSentence() {
    // A command list shows the first line of each description: it must not stop mid-sentence.
    java.util.List<String> cut = new java.util.ArrayList<>();
    java.util.ArrayDeque<picocli.CommandLine> todo = new java.util.ArrayDeque<>();
    todo.add(CairnMain.commandLine());
    while (!todo.isEmpty()) {
      picocli.CommandLine c = todo.pop();
      todo.addAll(c.getSubcommands().values());
      String[] d = c.getCommandSpec().usageMessage().description();
      if (d.length > 0 && !d[0].strip().matches("(?s).*[.:]$")) {
        cut.add(c.getCommandSpec().qualifiedName() + ": " + d[0]);
      }
    }
    assertThat(cut).isEmpty();
  }

  @Test
  void commandTableNamesEachCommandByItsOwnName() {
    // The lazy start-up path finds a command by the table's key: it must be the @Command name.
    for (var e : CairnMain.COMMANDS.entrySet()) {
      assertThat(new picocli.CommandLine(e.getValue()).getCommandName()).isEqualTo(e.getKey());
    }
  }

  @Test
  void aVerbBuildsOnlyItsOwnCommandAndTheRestBuildTheWholeTree() {
    assertThat(CairnMain.commandLine("ls", "--json").getSubcommands()).containsOnlyKeys("ls");
    assertThat(CairnMain.commandLine("snapshot", "ls").getSubcommands().get("snapshot").getSubcommands())
        .containsKeys("create", "ls", "merge", "rm");
    for (String[] args : new String[][] {{}, {"--help"}, {"help", "ls"}, {"lss"}}) {
      // Every command, each under its name and its aliases (remove is also rm).
      assertThat(CairnMain.commandLine(args).getSubcommands().values().stream()
              .map(picocli.CommandLine::getCommandName).distinct().toList())
          .as(String.join(" ", args)).containsExactlyInAnyOrderElementsOf(CairnMain.COMMANDS.keySet());
    }
  }

  @Test
  void anUnknownCommandStillGetsSuggestions() {
    assertThat(run("lss")).isEqualTo(2);
    assertThat(err.toString()).contains("Unmatched argument at index 0: 'lss'", "ls");
  }

  @Test
  void underJsonAnErrorIsPrintedAsJson(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) throws Exception {
    assertThat(run("ls", "--json", "--state-dir", tmp.resolve("none").toString())).isEqualTo(1);
    java.util.Map<String, Object> m = dev.cairn.daemon.JsonCodec.parseObject(err.toString().strip());
    @SuppressWarnings("unchecked")
    java.util.Map<String, Object> e = (java.util.Map<String, Object>) m.get("error");
    assertThat(e).containsEntry("kind", "failed").containsKey("hint");
    assertThat((String) e.get("message")).startsWith("no cairn daemon is running on state directory");
  }

  @Test
  void everyVerbHasHelp() {
    java.util.List<java.util.List<String>> verbs = new java.util.ArrayList<>();
    collect(CairnMain.commandLine(), new java.util.ArrayList<>(), verbs);
    assertThat(verbs).hasSizeGreaterThan(25);
    for (java.util.List<String> verb : verbs) {
      out.getBuffer().setLength(0);
      java.util.List<String> args = new java.util.ArrayList<>(verb);
      args.add("--help");
      assertThat(run(args.toArray(String[]::new))).as(String.join(" ", verb)).isZero();
      // An alias (snapshot remove) shows the usage of its command (snapshot rm).
      assertThat(out.toString()).as(String.join(" ", verb)).contains("Usage: cairn " + String.join(" ", canonical(verb)));
    }
  }

  private static java.util.List<String> canonical(java.util.List<String> verb) {
    java.util.List<String> names = new java.util.ArrayList<>();
    picocli.CommandLine cmd = CairnMain.commandLine();
    for (String word : verb) {
      cmd = cmd.getSubcommands().get(word);
      names.add(cmd.getCommandName());
    }
    return names;
  }

  @Test
  void imageNeedsNoDaemonAndItsHelpSaysNothingOfStateDir() {
    for (String[] verb : new String[][] {{"image", "--help"}, {"image", "create", "--help"}, {"image", "info", "--help"}}) {
      out.getBuffer().setLength(0);
      assertThat(run(verb)).isZero();
      assertThat(out.toString()).as(String.join(" ", verb)).doesNotContain("--state-dir");
    }
    out.getBuffer().setLength(0);
    assertThat(run("ls", "--help")).isZero();
    assertThat(out.toString()).contains("--state-dir");
  }

  @Test
  void theSameWordsWorkInEveryGroup() {
    for (String[] verb : new String[][] {{"rm", "--help"}, {"remove", "--help"}, {"export", "remove", "--help"},
        {"export", "rm", "--help"}, {"snapshot", "remove", "--help"}, {"snapshot", "rm", "--help"}}) {
      out.getBuffer().setLength(0);
      assertThat(run(verb)).as(String.join(" ", verb)).isZero();
    }
  }

  private static void collect(
      picocli.CommandLine cmd, java.util.List<String> path, java.util.List<java.util.List<String>> out) {
    for (var e : cmd.getSubcommands().entrySet()) {
      if (e.getKey().equals("help")) {
        continue;
      }
      java.util.List<String> p = new java.util.ArrayList<>(path);
      p.add(e.getKey());
      out.add(p);
      collect(e.getValue(), p, out);
    }
  }

  @Test
  void verbsWithoutADaemonExitOneAndSayHowToStartIt(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) {
    String dir = tmp.resolve("none").toString();
    for (String[] verb :
        new String[][] {
          {"ls"}, {"table"}, {"status"}, {"info"}, {"deps"}, {"targets"}, {"export", "ls"}, {"snapshot", "ls"},
          {"create", "x", "--table", "0 8 zero"}, {"remove", "x"}, {"snapshot", "create", "a", "b"}
        }) {
      err.getBuffer().setLength(0);
      java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of(verb));
      args.add("--state-dir");
      args.add(dir);
      assertThat(run(args.toArray(String[]::new))).as(String.join(" ", verb)).isEqualTo(1);
      assertThat(err.toString()).contains("no cairn daemon is running", "hint: start one with: bin/cairn serve --state-dir " + dir);
    }
  }

  @Test
  void badSizeIsAUsageError(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) {
    assertThat(run("image", "create", tmp.resolve("x.img").toString(), "12Q")).isEqualTo(2);
    assertThat(err.toString()).contains("SIZE: 12Q (expected: a size in bytes");
  }

  @Test
  void missingArgumentIsAUsageError() {
    assertThat(run("image", "create")).isEqualTo(2);
    assertThat(err.toString()).contains("Missing required parameters");
  }

  @Test
  void imageCreateAndInfoWorkWithoutADaemon(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) {
    String img = tmp.resolve("d.img").toString();
    assertThat(run("image", "create", img, "64M")).isZero();
    assertThat(out.toString()).contains("created " + img + " (67108864 bytes, 64.0 MiB, sparse)");
    out.getBuffer().setLength(0);
    assertThat(run("image", "info", img)).isZero();
    assertThat(out.toString()).contains("size:        67108864 bytes (64.0 MiB)", "format:      raw");
    out.getBuffer().setLength(0);
    assertThat(run("image", "info", "--json", img)).isZero();
    assertThat(out.toString()).contains("\"sizeBytes\": 67108864");
    assertThat(run("image", "create", img, "64M")).isEqualTo(1);
    assertThat(err.toString()).contains("already exists");
  }

  @Test
  void versionWithoutADaemonSaysSo(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) {
    assertThat(run("version", "--state-dir", tmp.toString())).isZero();
    assertThat(out.toString()).contains("Client version:", "Daemon version:    not running");
  }
}
