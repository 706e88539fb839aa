package dev.cairn.cli;

import static dev.cairn.cli.Text.map;
import static dev.cairn.cli.Text.maps;
import static dev.cairn.cli.Text.num;
import static dev.cairn.cli.Text.str;

import dev.cairn.block.Sizes;
import java.io.PrintWriter;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cairn export ls|add|rm}: the NBD exports. */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = {"List, add and remove NBD exports.",
            "Every device is exported under its name unless it was created with --no-export; a device may have",
            "several exports (say, one read-only)."},
        subcommands = {ExportCommand.Ls.class, ExportCommand.Add.class, ExportCommand.Rm.class})
final class ExportCommand extends ClientCommand {
    @Override
    int run() {
        spec.commandLine().usage(err());
        return 2;
    }

    @Command(name = "ls", mixinStandardHelpOptions = true, description = "List the exports with their NBD URIs.")
    static final class Ls extends ClientCommand {
        @Mixin JsonOption json;

        @Override
        int run() {
            Object r = call("export-ls", Map.of());
            if (json.json) {
                printJson(r);
                return 0;
            }
            print(out(), maps(map(r).get("exports")));
            return 0;
        }

        static void print(PrintWriter out, List<Map<String, Object>> exports) {
            if (exports.isEmpty()) {
                out.println("No exports");
            }
            for (Map<String, Object> e : exports) {
                out.printf("%s\tdevice %s, %s%s%n", e.get("name"), e.get("device"), Sizes.human(num(e.get("sizeBytes"))),
                        Boolean.TRUE.equals(e.get("readOnly")) ? ", read-only" : "");
                if (e.get("tcpUri") != null) {
                    out.printf("\t%s%n", str(e.get("tcpUri")));
                }
                if (e.get("unixUri") != null) {
                    out.printf("\t%s%n", str(e.get("unixUri")));
                }
            }
            out.flush();
        }
    }

    @Command(name = "add", mixinStandardHelpOptions = true,
            description = {"Export a device over NBD.", "Example: cairn export add snap1 --as snap1-ro --read-only"})
    static final class Add extends ClientCommand {
        @Parameters(index = "0", paramLabel = "DEVICE", description = "The device to export.")
        String device;

        @Option(names = "--as", paramLabel = "EXPORT", description = "Export name (default: the device's name).")
        String as;

        @Option(names = "--read-only", description = "Refuse writes (EPERM).")
        boolean readOnly;

        @Option(names = "--description", paramLabel = "TEXT", description = "Shown to clients (nbdinfo).")
        String description;

        @Mixin JsonOption json;

        @Override
        int run() {
            Object r = call("export-add", args("device", device, "as", as, "readOnly", readOnly, "description", description));
            String name = as == null ? device : as;
            // The daemon answers with every export; this prints the new one, with its URIs.
            List<Map<String, Object>> added = maps(map(r).get("exports")).stream().filter(e -> name.equals(e.get("name")))
                    .toList();
            if (json.json) {
                printJson(added.isEmpty() ? Map.of() : added.getFirst());
                return 0;
            }
            Ls.print(out(), added);
            return 0;
        }
    }

    @Command(name = "rm", aliases = "remove", mixinStandardHelpOptions = true,
            description = "Remove an export; its connected clients finish their requests in flight and are disconnected.")
    static final class Rm extends ClientCommand {
        @Parameters(index = "0", paramLabel = "EXPORT", description = "The export name.")
        String name;

        @Override
        int run() {
            call("export-rm", args("name", name));
            return 0;
        }
    }
}
