package dev.cairn.cli;

import dev.cairn.daemon.proto.DaemonProto;
import dev.cairn.daemon.proto.DeviceProto;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;
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
            call(DeviceProto.CREATE, new DeviceProto.Create(name, table.read(source, System.in), noExport));
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
            call(DeviceProto.LOAD, new DeviceProto.Load(name, table.read(source, System.in)));
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
            call(DeviceProto.CLEAR, new DeviceProto.Clear(name));
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
            call(DeviceProto.SUSPEND, new DeviceProto.Suspend(name, noflush, timeoutSeconds));
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
            call(DeviceProto.RESUME, new DeviceProto.Resume(name));
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
            call(DeviceProto.REMOVE, new DeviceProto.Remove(name, force));
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

        abstract DeviceProto.StatusReply ask();

        @Override
        int run() {
            DeviceProto.StatusReply r = ask();
            if (json.json) {
                printJson(r);
                return 0;
            }
            PrintWriter out = out();
            if (r.devices().isEmpty()) {
                out.println("No devices found");
            }
            for (DeviceProto.DeviceLines d : r.devices()) {
                String prefix = name == null ? d.name() + ": " : "";
                if (d.savedTable() != null) {
                    // Commented out, so the output still loads back as a table only on purpose.
                    out.println(prefix + "# not live (the device could not be restored); its saved table:");
                    for (String line : d.savedTable().split("\n")) {
                        out.println(prefix + "# " + line);
                    }
                    continue;
                }
                if (d.lines().isEmpty() && name == null) {
                    out.println(prefix.strip());
                }
                for (DeviceProto.Line l : d.lines()) {
                    out.println(prefix + l.text());
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
        DeviceProto.StatusReply ask() {
            return call(DeviceProto.TABLE, new DeviceProto.Table(name, inactive));
        }
    }

    @Command(name = "status", mixinStandardHelpOptions = true,
            description = {"Print the run-time status of a device's targets, as dmsetup status does.",
                "For example a snapshot's '<allocated>/<total> <metadata>' in sectors."})
    static final class Status extends StatusVerb {
        @Override
        DeviceProto.StatusReply ask() {
            return call(DeviceProto.STATUS, new DeviceProto.Status(name, inactive));
        }
    }

    @Command(name = "info", mixinStandardHelpOptions = true, description = "Show a device's state, tables, open count and events.")
    static final class Info extends ClientCommand {
        @Parameters(index = "0", arity = "0..1", paramLabel = "NAME", description = "One device (default: all).")
        String name;

        @Mixin JsonOption json;

        @Override
        int run() {
            DeviceProto.InfoReply r = call(DeviceProto.INFO, new DeviceProto.Info(name));
            if (json.json) {
                printJson(r);
                return 0;
            }
            PrintWriter out = out();
            if (r.devices().isEmpty()) {
                out.println("No devices found");
            }
            boolean first = true;
            for (DeviceProto.DeviceInfo d : r.devices()) {
                if (!first) {
                    out.println();
                }
                first = false;
                boolean live = d.liveTable();
                boolean inact = d.inactiveTable();
                String tables = live && inact ? "LIVE & INACTIVE" : live ? "LIVE" : inact ? "INACTIVE" : "None";
                out.printf("Name:              %s%n", d.name());
                out.printf("State:             %s%s%n", d.state(), d.readOnly() ? " (READ-ONLY)" : "");
                out.printf("Tables present:    %s%n", tables);
                out.printf("Open count:        %d%n", d.openCount());
                out.printf("Event number:      %d%n", d.eventNumber());
                out.printf("Number of targets: %d%n", d.targets());
                out.printf("Size:              %d sectors%n", d.sectors());
                if (d.limits() != null) {
                    long optimal = d.limits().optimalIoBytes();
                    out.printf("Block sizes:       logical %d, physical %d, optimal I/O %s%n", d.limits().logicalBlockBytes(),
                            d.limits().physicalBlockBytes(), optimal == 0 ? "-" : optimal + " bytes");
                }
                out.printf("Holders:           %s%n", d.holders().isEmpty() ? "-" : String.join(", ", d.holders()));
                out.printf("Exports:           %s%n", d.exports().isEmpty() ? "-" : String.join(", ", d.exports()));
                if (d.heldBios() > 0) {
                    out.printf("Held I/O:          %d bios%n", d.heldBios());
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
            DeviceProto.DepsReply r = call(DeviceProto.DEPS, new DeviceProto.Deps(name));
            if (json.json) {
                printJson(r);
                return 0;
            }
            PrintWriter out = out();
            if (r.devices().isEmpty()) {
                out.println("No devices found");
            }
            for (DeviceProto.DeviceDeps d : r.devices()) {
                List<String> live = d.live();
                StringBuilder sb = new StringBuilder();
                if (name == null) {
                    sb.append(d.name()).append(": ");
                }
                sb.append(live.size()).append(" dependencies\t:");
                for (String dep : live) {
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
            DeviceProto.LsReply r = call(DeviceProto.LS, new DeviceProto.Ls(tree));
            if (json.json) {
                printJson(r);
                return 0;
            }
            PrintWriter out = out();
            if (r.devices().isEmpty()) {
                out.println("No devices found");
            } else if (tree) {
                out.print(r.treeText());
            } else {
                for (DeviceProto.LsDevice d : r.devices()) {
                    List<String> notes = new ArrayList<>();
                    notes.add(d.sectors() + " sectors");
                    if (!"ACTIVE".equals(d.state())) {
                        notes.add(d.state().toLowerCase(java.util.Locale.ROOT));
                    }
                    if (d.hidden()) {
                        notes.add("hidden");
                    }
                    if ("thin-pool".equals(d.kind())) {
                        notes.add("thin pool, Data% " + percent(d.dataPercent()) + ", Meta% " + percent(d.metaPercent()));
                    } else if ("thin".equals(d.kind())) {
                        notes.add((d.origin() == null ? "thin in " : "thin snapshot of " + d.origin() + " in ") + d.pool()
                                + ", Data% " + percent(d.dataPercent()));
                    }
                    out.println(d.name() + "\t(" + String.join(", ", notes) + ")");
                }
            }
            out.flush();
            return 0;
        }
    }

    /** A percentage as lvs prints it ({@code 12.34}), or {@code -} when unknown. */
    static String percent(Double value) {
        return value == null ? "-" : String.format(java.util.Locale.ROOT, "%.2f", value);
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
            String reply = call(DeviceProto.MESSAGE, new DeviceProto.Message(name, sector, message)).reply();
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
            DeviceProto.TargetsReply r = call(DeviceProto.TARGETS, new DeviceProto.Targets());
            if (json.json) {
                printJson(r);
                return 0;
            }
            for (DeviceProto.TargetType t : r.targets()) {
                out().printf("%-16s v%s%n", t.name(), t.version());
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
            DaemonProto.WaitReply r = call(DaemonProto.WAIT, new DaemonProto.Wait(name, eventNumber, timeoutSeconds));
            out().println("event " + r.eventNumber());
            out().flush();
            return 0;
        }
    }
}
