package dev.cairn.cli;

import static dev.cairn.cli.Text.list;
import static dev.cairn.cli.Text.map;
import static dev.cairn.cli.Text.maps;
import static dev.cairn.cli.Text.num;
import static dev.cairn.cli.Text.str;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** The dmsetup-style verbs. Output follows dmsetup's formats (without major:minor numbers, which Cairn has none of). */
final class DmCommands {
    private DmCommands() {}

    @Command(name = "create", mixinStandardHelpOptions = true,
            description = {"Create a device from a table and make it live.",
                "It is exported over NBD under its name unless --no-export.", "",
                "Examples:",
                "  cairn create disk --table '0 2097152 linear file:/var/tmp/disk.img 0'",
                "  cairn create striped --table-file stripes.table",
                "  printf '0 1024 zero\\n1024 1024 error\\n' | cairn create holes -"})
    static final class Create extends ClientCommand {
        @Parameters(index = "0", paramLabel = "NAME", description = "The new device's name.")
        String name;

        @Parameters(index = "1", arity = "0..1", paramLabel = "FILE|-", description = "Read the table from FILE, or '-' for standard input.")
        String source;

        @Mixin TableInput table;

        @Option(names = "--no-export", description = "Do not export the device over NBD.")
        boolean noExport;

        @Override
        int run() throws Exception {
            call("create", args("name", name, "table", table.read(source, System.in), "noExport", noExport));
            return 0;
        }
    }

    @Command(name = "load", mixinStandardHelpOptions = true,
            description = {"Load a table into the device's inactive slot; 'cairn resume NAME' makes it live.",
                "Example: cairn suspend disk; cairn load disk --table-file new.table; cairn resume disk"})
    static class Load extends ClientCommand {
        @Parameters(index = "0", paramLabel = "NAME", description = "The device.")
        String name;

        @Parameters(index = "1", arity = "0..1", paramLabel = "FILE|-", description = "Read the table from FILE, or '-' for standard input.")
        String source;

        @Mixin TableInput table;

        @Override
        int run() throws Exception {
            call("load", args("name", name, "table", table.read(source, System.in)));
            return 0;
        }
    }

    @Command(name = "reload", mixinStandardHelpOptions = true, description = "Same as load (dmsetup's alias).")
    static final class Reload extends Load {}

    @Command(name = "clear", mixinStandardHelpOptions = true, description = "Drop the device's inactive (loaded) table.")
    static final class Clear extends ClientCommand {
        @Parameters(index = "0", paramLabel = "NAME", description = "The device.")
        String name;

        @Override
        int run() {
            call("clear", args("name", name));
            return 0;
        }
    }

    @Command(name = "suspend", mixinStandardHelpOptions = true,
            description = {"Suspend a device: new I/O is held, in-flight I/O finishes, then its devices are flushed.",
                "While it waits for in-flight I/O (held by a suspended device below, say) other commands run;",
                "Ctrl-C or --timeout makes it give up and leaves the device as it was.",
                "Example: cairn suspend disk --timeout 30"})
    static final class Suspend extends ClientCommand {
        @Parameters(index = "0", paramLabel = "NAME", description = "The device.")
        String name;

        @Option(names = "--noflush", description = "Do not flush the devices below after draining.")
        boolean noflush;

        @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "0",
                description = "Give up if in-flight I/O has not finished after this many seconds (default: wait).")
        long timeoutSeconds;

        @Override
        int run() {
            if (timeoutSeconds < 0) {
                err().println("cairn: --timeout: " + timeoutSeconds + " (expected: seconds >= 0)");
                err().flush();
                return 2;
            }
            call("suspend", args("name", name, "noflush", noflush, "timeoutSeconds", timeoutSeconds));
            return 0;
        }
    }

    @Command(name = "resume", mixinStandardHelpOptions = true,
            description = "Resume a device: a loaded table goes live, held I/O is replayed in order.")
    static final class Resume extends ClientCommand {
        @Parameters(index = "0", paramLabel = "NAME", description = "The device.")
        String name;

        @Override
        int run() {
            call("resume", args("name", name));
            return 0;
        }
    }

    @Command(name = "remove", aliases = "rm", mixinStandardHelpOptions = true,
            description = {"Remove a device and its exports.",
                "Refused while another device uses it, unless --force (the devices above it then get I/O errors)."})
    static final class Remove extends ClientCommand {
        @Parameters(index = "0", paramLabel = "NAME", description = "The device.")
        String name;

        @Option(names = {"-f", "--force"}, description = "Remove even if in use.")
        boolean force;

        @Override
        int run() {
            call("remove", args("name", name, "force", force));
            return 0;
        }
    }

    /** Shared shape of table and status. */
    abstract static class StatusVerb extends ClientCommand {
        @Parameters(index = "0", arity = "0..1", paramLabel = "NAME", description = "One device (default: all).")
        String name;

        @Option(names = "--inactive", description = "Show the inactive (loaded) table instead of the live one.")
        boolean inactive;

        @Mixin JsonOption json;

        abstract String verb();

        @Override
        int run() {
            Object r = call(verb(), args("name", name, "inactive", inactive));
            if (json.json) {
                printJson(r);
                return 0;
            }
            PrintWriter out = out();
            List<Map<String, Object>> devices = maps(map(r).get("devices"));
            if (devices.isEmpty()) {
                out.println("No devices found");
            }
            for (Map<String, Object> d : devices) {
                List<Map<String, Object>> lines = maps(d.get("lines"));
                String prefix = name == null ? d.get("name") + ": " : "";
                if (d.get("savedTable") != null) {
                    // Commented out, so the output still loads back as a table only on purpose.
                    out.println(prefix + "# not live (the device could not be restored); its saved table:");
                    for (String line : str(d.get("savedTable")).split("\n")) {
                        out.println(prefix + "# " + line);
                    }
                    continue;
                }
                if (lines.isEmpty() && name == null) {
                    out.println(prefix.strip());
                }
                for (Map<String, Object> l : lines) {
                    out.println(prefix + str(l.get("text")));
                }
            }
            out.flush();
            return 0;
        }
    }

    @Command(name = "table", mixinStandardHelpOptions = true,
            description = {"Print the live table of a device (or of every device, each line prefixed 'NAME: ').",
                "The output loads back as is: cairn table disk > disk.table; cairn load disk2 --table-file disk.table"})
    static final class Table extends StatusVerb {
        @Override
        String verb() {
            return "table";
        }
    }

    @Command(name = "status", mixinStandardHelpOptions = true,
            description = {"Print the run-time status of a device's targets, as dmsetup status does.",
                "For example a snapshot's '<allocated>/<total> <metadata>' in sectors."})
    static final class Status extends StatusVerb {
        @Override
        String verb() {
            return "status";
        }
    }

    @Command(name = "info", mixinStandardHelpOptions = true, description = "Show a device's state, tables, open count and events.")
    static final class Info extends ClientCommand {
        @Parameters(index = "0", arity = "0..1", paramLabel = "NAME", description = "One device (default: all).")
        String name;

        @Mixin JsonOption json;

        @Override
        int run() {
            Object r = call("info", args("name", name));
            if (json.json) {
                printJson(r);
                return 0;
            }
            PrintWriter out = out();
            List<Map<String, Object>> devices = maps(map(r).get("devices"));
            if (devices.isEmpty()) {
                out.println("No devices found");
            }
            boolean first = true;
            for (Map<String, Object> d : devices) {
                if (!first) {
                    out.println();
                }
                first = false;
                boolean live = Boolean.TRUE.equals(d.get("liveTable"));
                boolean inact = Boolean.TRUE.equals(d.get("inactiveTable"));
                String tables = live && inact ? "LIVE & INACTIVE" : live ? "LIVE" : inact ? "INACTIVE" : "None";
                out.printf("Name:              %s%n", d.get("name"));
                out.printf("State:             %s%s%n", d.get("state"), Boolean.TRUE.equals(d.get("readOnly")) ? " (READ-ONLY)" : "");
                out.printf("Tables present:    %s%n", tables);
                out.printf("Open count:        %d%n", num(d.get("openCount")));
                out.printf("Event number:      %d%n", num(d.get("eventNumber")));
                out.printf("Number of targets: %d%n", num(d.get("targets")));
                out.printf("Size:              %d sectors%n", num(d.get("sectors")));
                Map<String, Object> limits = map(d.get("limits"));
                if (limits != null) {
                    long optimal = num(limits.get("optimalIoBytes"));
                    out.printf("Block sizes:       logical %d, physical %d, optimal I/O %s%n",
                            num(limits.get("logicalBlockBytes")), num(limits.get("physicalBlockBytes")),
                            optimal == 0 ? "-" : optimal + " bytes");
                }
                List<Object> holders = list(d.get("holders"));
                out.printf("Holders:           %s%n", holders.isEmpty() ? "-" : String.join(", ", holders.stream().map(Object::toString).toList()));
                List<Object> exports = list(d.get("exports"));
                out.printf("Exports:           %s%n", exports.isEmpty() ? "-" : String.join(", ", exports.stream().map(Object::toString).toList()));
                if (num(d.get("heldBios")) > 0) {
                    out.printf("Held I/O:          %d bios%n", num(d.get("heldBios")));
                }
            }
            out.flush();
            return 0;
        }
    }

    @Command(name = "deps", mixinStandardHelpOptions = true,
            description = "List the devices a device's live table uses (other devices, mem: and file: references).")
    static final class Deps extends ClientCommand {
        @Parameters(index = "0", arity = "0..1", paramLabel = "NAME", description = "One device (default: all).")
        String name;

        @Mixin JsonOption json;

        @Override
        int run() {
            Object r = call("deps", args("name", name));
            if (json.json) {
                printJson(r);
                return 0;
            }
            PrintWriter out = out();
            List<Map<String, Object>> devices = maps(map(r).get("devices"));
            if (devices.isEmpty()) {
                out.println("No devices found");
            }
            for (Map<String, Object> d : devices) {
                List<Object> live = list(d.get("live"));
                StringBuilder sb = new StringBuilder();
                if (name == null) {
                    sb.append(d.get("name")).append(": ");
                }
                sb.append(live.size()).append(" dependencies\t:");
                for (Object dep : live) {
                    sb.append(" (").append(dep).append(')');
                }
                out.println(sb);
            }
            out.flush();
            return 0;
        }
    }

    @Command(name = "ls", mixinStandardHelpOptions = true,
            description = {"List the devices; --tree shows how they stack (each device above what it uses).",
                "Example: cairn ls --tree"})
    static final class Ls extends ClientCommand {
        @Option(names = "--tree", description = "Show the stacking as a tree.")
        boolean tree;

        @Mixin JsonOption json;

        @Override
        int run() {
            Object r = call("ls", args("tree", tree));
            if (json.json) {
                printJson(r);
                return 0;
            }
            PrintWriter out = out();
            List<Map<String, Object>> devices = maps(map(r).get("devices"));
            if (devices.isEmpty()) {
                out.println("No devices found");
            } else if (tree) {
                out.print(str(map(r).get("treeText")));
            } else {
                for (Map<String, Object> d : devices) {
                    List<String> notes = new ArrayList<>();
                    notes.add(num(d.get("sectors")) + " sectors");
                    if (!"ACTIVE".equals(d.get("state"))) {
                        notes.add(str(d.get("state")).toLowerCase(java.util.Locale.ROOT));
                    }
                    if (Boolean.TRUE.equals(d.get("hidden"))) {
                        notes.add("hidden");
                    }
                    if ("thin-pool".equals(d.get("kind"))) {
                        notes.add("thin pool, Data% " + percent(d.get("dataPercent")) + ", Meta% " + percent(d.get("metaPercent")));
                    } else if ("thin".equals(d.get("kind"))) {
                        notes.add((d.get("origin") == null ? "thin in " : "thin snapshot of " + d.get("origin") + " in ")
                                + d.get("pool") + ", Data% " + percent(d.get("dataPercent")));
                    }
                    out.println(d.get("name") + "\t(" + String.join(", ", notes) + ")");
                }
            }
            out.flush();
            return 0;
        }
    }

    /** A percentage as lvs prints it ({@code 12.34}), or {@code -} when unknown. */
    static String percent(Object value) {
        return value instanceof Number n ? String.format(java.util.Locale.ROOT, "%.2f", n.doubleValue()) : "-";
    }

    @Command(name = "message", mixinStandardHelpOptions = true,
            description = {"Send a message to the target at SECTOR of a device's live table and print its reply.",
                "None of today's targets takes a message (as in Linux: linear, striped, zero, error, delay, flakey",
                "and the snapshot targets take none), so for now every message is refused with the target's reason;",
                "targets that take messages (a thin pool) answer here. Form: cairn message DEVICE SECTOR WORD..."})
    static final class Message extends ClientCommand {
        @Parameters(index = "0", paramLabel = "NAME", description = "The device.")
        String name;

        @Parameters(index = "1", paramLabel = "SECTOR", description = "A sector inside the target to address.")
        long sector;

        @Parameters(index = "2..*", arity = "1..*", paramLabel = "TEXT", description = "The message words.")
        List<String> message;

        @Override
        int run() {
            Object r = call("message", args("name", name, "sector", sector, "message", new ArrayList<Object>(message)));
            String reply = str(map(r).get("reply"));
            if (!reply.isEmpty()) {
                out().println(reply);
                out().flush();
            }
            return 0;
        }
    }

    @Command(name = "targets", mixinStandardHelpOptions = true, description = "List the target types tables may use.")
    static final class Targets extends ClientCommand {
        @Mixin JsonOption json;

        @Override
        int run() {
            Object r = call("targets", Map.of());
            if (json.json) {
                printJson(r);
                return 0;
            }
            for (Map<String, Object> t : maps(map(r).get("targets"))) {
                out().printf("%-16s v%s%n", t.get("name"), t.get("version"));
            }
            out().flush();
            return 0;
        }
    }

    @Command(name = "wait", mixinStandardHelpOptions = true,
            description = {"Wait for an event of a device (dmsetup wait): its event number passing EVENT_NR.",
                "A table going live (the end of a snapshot merge, a resume with a new table) is an event.",
                "Example: cairn wait vol0   (returns when vol0's merge has finished)"})
    static final class Wait extends ClientCommand {
        @Parameters(index = "0", paramLabel = "NAME", description = "The device.")
        String name;

        @Parameters(index = "1", arity = "0..1", paramLabel = "EVENT_NR",
                description = "Wait until the event number is above this (default: the current one, so the next event).")
        Long eventNumber;

        @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "0",
                description = "Give up after this many seconds (default: wait).")
        long timeoutSeconds;

        @Override
        int run() {
            if (timeoutSeconds < 0 || eventNumber != null && eventNumber < 0) {
                err().println("cairn wait: --timeout and EVENT_NR (expected: >= 0)");
                err().flush();
                return 2;
            }
            Object r = call("wait", args("name", name, "eventNumber", eventNumber, "timeoutSeconds", timeoutSeconds));
            out().println("event " + Text.num(Text.map(r).get("eventNumber")));
            out().flush();
            return 0;
        }
    }
}
