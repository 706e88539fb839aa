package dev.cairn.cli;

import dev.cairn.daemon.StateDir;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** {@code --state-dir}: which daemon to talk to (or, for {@code serve}, which directory to own). */
final class StateDirOption {
    @Option(names = "--state-dir", paramLabel = "DIR",
            description = "State directory (default: $CAIRN_HOME, else $XDG_DATA_HOME/cairn, else ~/.local/share/cairn).")
    Path stateDir;

    StateDir resolve() {
        return StateDir.resolve(stateDir);
    }
}
