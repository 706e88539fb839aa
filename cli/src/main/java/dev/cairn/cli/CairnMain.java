package dev.cairn.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * The {@code cairn} command.
 *
 * <p>Exit codes: 0 success, 1 the operation failed, 2 usage error (unknown option, bad
 * argument, missing command). Subcommands are added here as the features they drive exist.
 *
 * <p>Start-up: picocli builds its model of a command by reflection over the command's annotated
 * fields, and its classes are Java 5 bytecode, which JDK 25's AOT cache cannot keep linked. Building
 * all twenty commands (and their subcommands) for every {@code cairn ls} was the largest piece of a
 * verb's start-up after logging. So {@link #commandLine(String...)} adds only the command the first
 * argument names; anything else (no argument, an option, {@code help}, an unknown word) gets the whole
 * tree, so help, suggestions and errors are those of the full command line. {@link #COMMANDS} lists
 * the commands in help order; a test checks it against each class's {@code @Command} name.
 */
@Command(
    name = "cairn",
    mixinStandardHelpOptions = true,
    versionProvider = CairnMain.VersionProvider.class,
    description = {
      "Cairn: userspace block layer, device-mapper and NBD server.",
      "Start the daemon with 'cairn serve'; the other commands talk to it over its control socket."
    },
    exitCodeOnSuccess = CommandLine.ExitCode.OK,
    exitCodeOnUsageHelp = CommandLine.ExitCode.OK,
    exitCodeOnVersionHelp = CommandLine.ExitCode.OK,
    exitCodeOnInvalidInput = CommandLine.ExitCode.USAGE,
    exitCodeOnExecutionException = CommandLine.ExitCode.SOFTWARE,
    exitCodeListHeading = "%nExit codes:%n",
    exitCodeList = {
      "0:Success.",
      "1:The operation failed.",
      "2:Usage error (unknown option, bad argument, missing command)."
    })
public final class CairnMain implements Callable<Integer> {

  /** Classpath resource that Maven fills in with the project version. */
  static final String VERSION_RESOURCE = "/cairn-version.properties";

  /**
   * Every subcommand, by name, in the order {@code --help} lists them. Classes, not constructor
   * references: a lambda that names one of picocli's classes (which the AOT cache leaves out, see
   * above) made JDK 25.0.3's cache assembly crash ({@code archiveHeapWriter.cpp:757}).
   */
  static final Map<String, Class<?>> COMMANDS = commands();

  private static Map<String, Class<?>> commands() {
    Map<String, Class<?>> m = new LinkedHashMap<>();
    m.put("serve", ServeCommand.class);
    m.put("create", DmCommands.Create.class);
    m.put("load", DmCommands.Load.class);
    m.put("reload", DmCommands.Reload.class);
    m.put("clear", DmCommands.Clear.class);
    m.put("suspend", DmCommands.Suspend.class);
    m.put("resume", DmCommands.Resume.class);
    m.put("remove", DmCommands.Remove.class);
    m.put("table", DmCommands.Table.class);
    m.put("status", DmCommands.Status.class);
    m.put("info", DmCommands.Info.class);
    m.put("deps", DmCommands.Deps.class);
    m.put("ls", DmCommands.Ls.class);
    m.put("message", DmCommands.Message.class);
    m.put("targets", DmCommands.Targets.class);
    m.put("wait", DmCommands.Wait.class);
    m.put("export", ExportCommand.class);
    m.put("snapshot", SnapshotCommand.class);
    m.put("pool", PoolCommand.class);
    m.put("thin", ThinCommand.class);
    m.put("stats", StatsCommand.class);
    m.put("tls", TlsCommand.class);
    m.put("image", ImageCommand.class);
    m.put("log-writes", LogWritesCommand.class);
    m.put("version", VersionCommand.class);
    m.put("help", CommandLine.HelpCommand.class);
    return java.util.Collections.unmodifiableMap(m);
  }

  @Spec CommandSpec spec;

  @Override
  public Integer call() {
    // No command given: there is nothing to do yet, so show what there is and call it a usage error.
    CommandLine cmd = spec.commandLine();
    cmd.getErr().println("cairn: no command given");
    cmd.usage(cmd.getErr());
    return CommandLine.ExitCode.USAGE;
  }

  /** Builds the whole command line (every subcommand), ready to execute. */
  public static CommandLine commandLine() {
    CommandLine cmd = new CommandLine(new CairnMain());
    for (Class<?> c : COMMANDS.values()) {
      cmd.addSubcommand(c);
    }
    return cmd;
  }

  /**
   * Builds the command line for {@code args}: only the subcommand that {@code args[0]} names, when it
   * names one other than {@code help}; else the whole tree.
   */
  public static CommandLine commandLine(String... args) {
    Class<?> only = args.length == 0 || args[0].equals("help") ? null : COMMANDS.get(args[0]);
    if (only == null) {
      return commandLine();
    }
    CommandLine cmd = new CommandLine(new CairnMain());
    cmd.addSubcommand(only);
    return cmd;
  }

  /** Runs {@code cairn} in-process with the given streams and returns its exit code. */
  public static int run(PrintWriter out, PrintWriter err, String... args) {
    CommandLine cmd = commandLine(args);
    cmd.setOut(out);
    cmd.setErr(err);
    try {
      return cmd.execute(args);
    } finally {
      out.flush();
      err.flush();
    }
  }

  public static void main(String[] args) {
    System.exit(commandLine(args).execute(args));
  }

  /** The project version, as filtered into {@value #VERSION_RESOURCE} by the build. */
  public static String version() {
    try (InputStream in = CairnMain.class.getResourceAsStream(VERSION_RESOURCE)) {
      if (in == null) {
        return "unknown";
      }
      Properties props = new Properties();
      props.load(in);
      return props.getProperty("version", "unknown");
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + VERSION_RESOURCE, e);
    }
  }

  /** Supplies {@code --version}: {@code cairn <project version>}. */
  static final class VersionProvider implements CommandLine.IVersionProvider {
    @Override
    public String[] getVersion() {
      return new String[] {"cairn " + version()};
    }
  }
}
