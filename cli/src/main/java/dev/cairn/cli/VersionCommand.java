package dev.cairn.cli;

import dev.cairn.daemon.DaemonException;
import dev.cairn.daemon.Version;
import dev.cairn.daemon.proto.DaemonProto;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code cairn version}: this CLI's version and the running daemon's (dmsetup version's two lines). */
@Command(name = "version", mixinStandardHelpOptions = true,
        description = "Print the versions of this CLI and of the running daemon (if any).")
final class VersionCommand extends ClientCommand {
    @Mixin JsonOption json;

    /** What {@code version --json} prints: {@code daemon} is null when none is running. */
    record Versions(String cli, DaemonProto.VersionReply daemon) {}

    @Override
    int run() {
        DaemonProto.VersionReply daemon;
        String daemonError = null;
        try {
            daemon = call(DaemonProto.VERSION, new DaemonProto.Version());
        } catch (DaemonException e) {
            daemon = null;
            daemonError = e.getMessage();
        }
        if (json.json) {
            printJson(new Versions(Version.current(), daemon));
            return 0;
        }
        out().printf("Client version:    %s%n", Version.current());
        if (daemon != null) {
            out().printf("Daemon version:    %s (pid %s, protocol %s)%n", daemon.version(), daemon.pid(), daemon.protocol());
        } else {
            out().printf("Daemon version:    not running (%s)%n", daemonError);
        }
        out().flush();
        return 0;
    }
}
