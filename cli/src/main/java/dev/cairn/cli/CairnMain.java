package dev.cairn.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
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
 */
@Command(
    name = "cairn",
    mixinStandardHelpOptions = true,
    versionProvider = CairnMain.VersionProvider.class,
    description = {
      "Cairn: userspace block layer, device-mapper and NBD server.",
      "Start the daemon with 'cairn serve'; the other commands talk to it over its control socket."
    },
    subcommands = {
      ServeCommand.class,
      DmCommands.Create.class,
      DmCommands.Load.class,
      DmCommands.Reload.class,
      DmCommands.Clear.class,
      DmCommands.Suspend.class,
      DmCommands.Resume.class,
      DmCommands.Remove.class,
      DmCommands.Table.class,
      DmCommands.Status.class,
      DmCommands.Info.class,
      DmCommands.Deps.class,
      DmCommands.Ls.class,
      DmCommands.Message.class,
      DmCommands.Targets.class,
      DmCommands.Wait.class,
      ExportCommand.class,
      SnapshotCommand.class,
      ImageCommand.class,
      VersionCommand.class,
      CommandLine.HelpCommand.class
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

  @Spec CommandSpec spec;

  @Override
  public Integer call() {
    // No command given: there is nothing to do yet, so show what there is and call it a usage error.
    CommandLine cmd = spec.commandLine();
    cmd.getErr().println("cairn: no command given");
    cmd.usage(cmd.getErr());
    return CommandLine.ExitCode.USAGE;
  }

  /** Builds the command line, ready to execute. */
  public static CommandLine commandLine() {
    return new CommandLine(new CairnMain());
  }

  /** Runs {@code cairn} in-process with the given streams and returns its exit code. */
  public static int run(PrintWriter out, PrintWriter err, String... args) {
    CommandLine cmd = commandLine();
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
    System.exit(commandLine().execute(args));
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
