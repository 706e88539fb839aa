package dev.cairn.cli;

import dev.cairn.block.Sizes;
import dev.cairn.daemon.proto.ExportProto;
import java.io.PrintWriter;
import java.util.List;
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
            ExportProto.ExportList r = call(ExportProto.LIST, new ExportProto.List_());
            if (json.json) {
                printJson(r);
                return 0;
            }
            print(out(), r.exports());
            return 0;
        }

        static void print(PrintWriter out, List<ExportProto.Export> exports) {
            if (exports.isEmpty()) {
                out.println("No exports");
            }
            for (ExportProto.Export e : exports) {
                out.printf("%s\tdevice %s, %s%s%n", e.name(), e.device(), Sizes.human(e.sizeBytes()), e.readOnly() ? ", read-only" : "");
                if (e.tcpUri() != null) {
                    out.printf("\t%s%n", e.tcpUri());
                }
                if (e.unixUri() != null) {
                    out.printf("\t%s%n", e.unixUri());
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
            ExportProto.ExportList r = call(ExportProto.ADD, new ExportProto.Add(device, as, readOnly, description));
            String name = as == null ? device : as;
            // The daemon answers with every export; this prints the new one, with its URIs.
            List<ExportProto.Export> added = r.exports().stream().filter(e -> name.equals(e.name())).toList();
            if (json.json) {
                if (added.isEmpty()) {
                    printJson(java.util.Map.of());
                } else {
                    printJson(added.getFirst());
                }
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
            call(ExportProto.REMOVE, new ExportProto.Rm(name));
            return 0;
        }
    }
}
