package dev.cairn.cli;

import dev.cairn.block.Sizes;
import dev.cairn.daemon.ControlClient;
import dev.cairn.daemon.proto.SnapshotProto;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code cairn snapshot create|ls|merge|rm}: LVM-style snapshots. */
@Command(name = "snapshot", mixinStandardHelpOptions = true,
        description = {"LVM-style snapshots: point-in-time copies of a device that share its unchanged data.",
            "create does the device-mapper dance for you (COW image, hidden ORIGIN-real, snapshot-origin, snapshot),",
            "merge rolls the origin back to the snapshot. Of a thin volume (cairn thin create), create makes a",
            "thin snapshot in its pool (as lvcreate -s: no size, no COW) and merge swaps the two volumes."},
        subcommands = {SnapshotCommand.Create.class, SnapshotCommand.Ls.class, SnapshotCommand.Merge.class,
            SnapshotCommand.Rm.class})
final class SnapshotCommand extends ClientCommand {
    @Override
    int run() {
        spec.commandLine().usage(err());
        return 2;
    }

    @Command(name = "create", mixinStandardHelpOptions = true,
            description = {"Take a snapshot NAME of ORIGIN, atomically: either all of it happens or nothing does.",
                "The COW image defaults to a sparse file in the state directory big enough to never fill up.", "",
                "Examples:",
                "  cairn snapshot create vol0 before-upgrade",
                "  cairn snapshot create vol0 s1 --size 256M --chunk 16",
                "  cairn snapshot create vol0 s2 --cow /var/tmp/s2.cow --transient"})
    static final class Create extends ClientCommand {
        @Parameters(index = "0", paramLabel = "ORIGIN", description = "The device to snapshot.")
        String origin;

        @Parameters(index = "1", paramLabel = "NAME", description = "The snapshot's name (a new device, exported under it).")
        String name;

        @Option(names = "--size", paramLabel = "SIZE", description = "COW image size (K, M, G suffixes); writes beyond it invalidate the snapshot.")
        String size;

        @Option(names = "--cow", paramLabel = "PATH", description = "Use this COW image (created with --size if missing).")
        Path cow;

        @Option(names = "--chunk", paramLabel = "SECTORS", defaultValue = "8",
                description = "Copy-on-write unit in 512-byte sectors, a power of two (default: ${DEFAULT-VALUE} = 4 KiB).")
        long chunk;

        @Option(names = "--transient", description = "Keep the exception table in memory only (N); lost at restart.")
        boolean transientStore;

        @Option(names = "--no-export", description = "Do not export the snapshot over NBD.")
        boolean noExport;

        @Override
        int run() {
            Long bytes = size == null ? null : Sizes.parseBytes("--size", size);
            String cowPath = cow == null ? null : cow.toAbsolutePath().normalize().toString();
            SnapshotProto.Snapshot s = call(SnapshotProto.CREATE, new SnapshotProto.Create(origin, name, cowPath, bytes, chunk,
                    transientStore, noExport));
            out().printf("snapshot %s of %s created (COW %s, chunk %d sectors)%n", name, origin, s.cow(), s.chunkSectors());
            out().flush();
            return 0;
        }
    }

    @Command(name = "ls", mixinStandardHelpOptions = true, description = "List snapshots with how full their COW is.")
    static final class Ls extends ClientCommand {
        @Parameters(index = "0", arity = "0..1", paramLabel = "NAME", description = "One snapshot (default: all).")
        String name;

        @Mixin JsonOption json;

        @Override
        int run() {
            SnapshotProto.SnapshotList r = call(SnapshotProto.LIST, new SnapshotProto.Ls(name, name != null));
            if (json.json) {
                printJson(r);
                return 0;
            }
            PrintWriter out = out();
            List<SnapshotProto.Snapshot> snaps = r.snapshots();
            if (snaps.isEmpty()) {
                out.println("No snapshots");
                out.flush();
                return 0;
            }
            out.printf("%-16s %-16s %-9s %7s %8s  %s%n", "NAME", "ORIGIN", "STATE", "FILL", "CHUNK", "COW");
            for (SnapshotProto.Snapshot s : snaps) {
                String fill = s.fillPercent() == null ? "-" : String.format(Locale.ROOT, "%.1f%%", s.fillPercent());
                String state = s.state();
                if (s.merging() && s.mergeTotalSectors() != null) {
                    long total = s.mergeTotalSectors();
                    long left = s.mergeLeftSectors();
                    state = String.format(Locale.ROOT, "merging %d%%", total == 0 ? 100 : (total - left) * 100 / total);
                }
                String where = Boolean.TRUE.equals(s.thin()) ? "thin, pool " + s.pool() : s.cow();
                out.printf("%-16s %-16s %-9s %7s %8s  %s%s%n", s.name(), s.origin(), state, fill,
                        Sizes.human(s.chunkSectors() * 512), where, s.persistent() ? "" : " (transient)");
            }
            out.flush();
            return 0;
        }
    }

    @Command(name = "merge", mixinStandardHelpOptions = true,
            description = {"Merge a snapshot back into its origin: the origin returns to the snapshot's contents.",
                "The origin stays usable (reads see the merged view at once). Shows a progress bar until done;",
                "the merge continues in the daemon (and across restarts) if you interrupt it or pass --background.",
                "The progress bar is drawn only on a terminal; otherwise only the last line is printed.",
                "Refused while the origin or the snapshot is open (NBD clients, a device stacked on it), as with LVM:",
                "a mounted file system would see its blocks change under its cache. --defer starts it by itself",
                "once they are gone; --force merges anyway."})
    static final class Merge extends ClientCommand {
        @Parameters(index = "0", paramLabel = "NAME", description = "The snapshot.")
        String name;

        @Option(names = "--background", description = "Start the merge and return at once.")
        boolean background;

        @Option(names = "--defer", description = "If the origin or snapshot is open, start the merge when it is no longer open.")
        boolean defer;

        @Option(names = "--force", description = "Merge even though the origin or snapshot is open (its users see data change).")
        boolean force;

        @Override
        int run() throws Exception {
            if (defer && force) {
                err().println("cairn: --defer and --force (expected: at most one of them)");
                err().flush();
                return 2;
            }
            SnapshotProto.Snapshot s = call(SnapshotProto.MERGE, new SnapshotProto.Merge(name, defer, force));
            String origin = s.origin();
            if (s.mergeDeferred() && !s.merging()) {
                out().printf("merge of %s into %s deferred: it starts when nothing has them open (%s); "
                        + "follow it with: cairn snapshot ls %s%n", name, origin,
                        String.join(", ", s.openBy() == null ? List.of() : s.openBy()), name);
                out().flush();
                return 0;
            }
            if (background) {
                out().printf("merging %s into %s in the background; follow it with: cairn snapshot ls %s%n", name, origin, name);
                out().flush();
                return 0;
            }
            // Ctrl-C stops only the CLI: say that the merge goes on and how to follow it.
            Thread hint = new Thread(() -> {
                System.err.printf("%ncairn: stopped following the merge; it goes on in the daemon (and across restarts). "
                        + "Follow it with: cairn snapshot ls %s%n", name);
                System.err.flush();
            });
            Runtime.getRuntime().addShutdownHook(hint);
            try (ControlClient client = ControlClient.connect(stateDirOption.resolve())) {
                if (isTerminal()) {
                    followWithBar(client, s);
                } else {
                    follow(client); // no \r frames in logs and pipes
                }
            } finally {
                try {
                    Runtime.getRuntime().removeShutdownHook(hint);
                } catch (IllegalStateException e) {
                    // shutting down already: the hint is printed
                }
            }
            out().printf("merged %s into %s%n", name, origin);
            out().flush();
            return 0;
        }

        private static boolean isTerminal() {
            java.io.Console c = System.console();
            return c != null && c.isTerminal();
        }

        /** The merge's state, or null once it is done (the snapshot is gone). */
        private SnapshotProto.Snapshot poll(ControlClient client) {
            List<SnapshotProto.Snapshot> found = client.call(SnapshotProto.LIST, new SnapshotProto.Ls(name, false)).snapshots();
            if (found.isEmpty()) {
                return null;
            }
            SnapshotProto.Snapshot cur = found.get(0);
            if (cur.mergeTotalSectors() == null) {
                String status = cur.status();
                throw new dev.cairn.daemon.DaemonException(dev.cairn.daemon.ErrorKind.FAILED,
                        "merge of " + name + " stopped: status " + status,
                        "the daemon log says why; the origin keeps the merge table, retry after fixing it by restarting the daemon");
            }
            return cur;
        }

        private void follow(ControlClient client) throws InterruptedException {
            while (poll(client) != null) {
                Thread.sleep(100);
            }
        }

        private void followWithBar(ControlClient client, SnapshotProto.Snapshot s) throws InterruptedException {
            long total = Math.max(1, s.mergeTotalSectors() == null ? 0 : s.mergeTotalSectors());
            // Counted in sectors, shown in KiB (a small merge is a few hundred KiB).
            ProgressBarBuilder b = new ProgressBarBuilder().setTaskName("merge " + name).setInitialMax(total)
                    .setUnit(" KiB", 2).setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(200)
                    .setConsumer(new ConsoleProgressBarConsumer(System.err))
                    .continuousUpdate();
            try (ProgressBar pb = b.build()) {
                while (true) {
                    SnapshotProto.Snapshot cur = poll(client);
                    if (cur == null) {
                        pb.maxHint(Math.max(total, pb.getMax()));
                        pb.stepTo(pb.getMax());
                        break;
                    }
                    long t = Math.max(1, cur.mergeTotalSectors());
                    long left = cur.mergeLeftSectors();
                    if (t > pb.getMax()) {
                        pb.maxHint(t);
                    }
                    pb.stepTo(Math.max(0, pb.getMax() - left));
                    Thread.sleep(100);
                }
            }
        }
    }

    @Command(name = "rm", aliases = "remove", mixinStandardHelpOptions = true,
            description = {"Remove a snapshot (its COW image too, if cairn created it); the origin keeps its current data.",
                "Refused while the snapshot is open (NBD clients of its export) unless --force."})
    static final class Rm extends ClientCommand {
        @Parameters(index = "0", paramLabel = "NAME", description = "The snapshot.")
        String name;

        @Option(names = "--force", description = "Remove it even though NBD clients are connected to it (their I/O fails).")
        boolean force;

        @Override
        int run() {
            call(SnapshotProto.REMOVE, new SnapshotProto.Rm(name, force));
            return 0;
        }
    }
}
