package dev.cairn.cli;

import dev.cairn.daemon.proto.DaemonProto;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code cairn tls reload}: the NBD server's TLS credentials. */
@Command(name = "tls", mixinStandardHelpOptions = true,
        description = {"Manage the NBD server's TLS credentials.",
            "The daemon reads them at start (serve --tls-certificates DIR or --tls-psk FILE) and again on",
            "'cairn tls reload' or SIGHUP."},
        subcommands = {TlsCommand.Reload.class})
final class TlsCommand extends ClientCommand {
    @Override
    int run() {
        spec.commandLine().usage(err());
        return 2;
    }

    @Command(name = "reload", mixinStandardHelpOptions = true,
            description = {"Reread the certificates or the PSK file, as SIGHUP does.",
                "New connections use the new files; open ones keep their session and are not dropped. Files that",
                "do not load leave the old credentials in force, and the command fails with the reason (exit 1).",
                "", "Example: cairn tls reload"})
    static final class Reload extends ClientCommand {
        @Mixin JsonOption json;

        @Override
        int run() {
            DaemonProto.TlsReloaded r = call(DaemonProto.TLS_RELOAD, new DaemonProto.TlsReload());
            if (json.json) {
                printJson(r);
                return 0;
            }
            out().printf("TLS credentials reloaded from %s (--tls %s; %d reloads since start)%n", r.source(),
                    r.mode(), r.reloads());
            out().flush();
            return 0;
        }
    }
}
