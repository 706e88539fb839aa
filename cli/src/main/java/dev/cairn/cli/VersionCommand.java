package dev.cairn.cli;

import dev.cairn.daemon.DaemonException;
import dev.cairn.daemon.Version;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/** {@code cairn version}: this CLI's version and the running daemon's (dmsetup version's two lines). */
@Command(name = "version", mixinStandardHelpOptions = true,
        description = "Print the versions of this CLI and of the running daemon (if any).")
final class VersionCommand extends ClientCommand {
    @Mixin JsonOption json;

    @Override
    int run() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("cli", Version.current());
        Object daemon;
        String daemonError = null;
        try {
            daemon = call("version", Map.of());
        } catch (DaemonException e) {
            daemon = null;
            daemonError = e.getMessage();
        }
        m.put("daemon", daemon);
        if (json.json) {
            printJson(m);
            return 0;
        }
        out().printf("Client version:    %s%n", Version.current());
        if (daemon instanceof Map<?, ?> d) {
            out().printf("Daemon version:    %s (pid %s, protocol %s)%n", d.get("version"), d.get("pid"), d.get("protocol"));
        } else {
            out().printf("Daemon version:    not running (%s)%n", daemonError);
        }
        out().flush();
        return 0;
    }
}
