package dev.cairn.cli;

import dev.cairn.block.Submitter;
import dev.cairn.block.SubmitterConfig;
import dev.cairn.block.store.FileStore;
import dev.cairn.block.store.FileStoreConfig;
import dev.cairn.daemon.DaemonException;
import dev.cairn.daemon.ErrorKind;
import dev.cairn.dm.targets.logwrites.LogEntry;
import dev.cairn.dm.targets.logwrites.LogFormatException;
import dev.cairn.dm.targets.logwrites.LogReader;
import dev.cairn.dm.targets.logwrites.LogReplayer;
import dev.cairn.dm.targets.logwrites.LogWritesFormat;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code cairn log-writes ls|replay}: reads and replays write logs (dm-log-writes format, from Cairn's
 * {@code log-writes} target, Linux or qemu's {@code blklogwrites}) in the CLI process, on files or block
 * devices; no daemon needed. {@code replay --check} is xfstests' {@code replay-log --fsck --check}: it runs a
 * command at every check point and stops at the first failure, naming the entry.
 */
@Command(name = "log-writes", mixinStandardHelpOptions = true,
        description = {"List and replay write logs made by the log-writes target (Linux dm-log-writes format).",
            "Works on files and block devices in this process; needs no daemon."},
        subcommands = {LogWritesCommand.Ls.class, LogWritesCommand.Replay.class})
final class LogWritesCommand extends ClientCommand {
    @Override
    int run() {
        spec.commandLine().usage(err());
        return 2;
    }

    @Command(name = "ls", mixinStandardHelpOptions = true,
            description = {"List a log's entries: writes, flushes, discards and marks, with their flags.",
                "Example: cairn log-writes ls /var/tmp/test.log"})
    static final class Ls extends ClientCommand {
        @Parameters(index = "0", paramLabel = "LOG", description = "The log file or device.")
        Path log;

        @Mixin JsonOption json;

        @Override
        int run() throws Exception {
            requireExists(log, "LOG");
            try (LogReader r = openLog(log)) {
                List<LogEntry> entries = new ArrayList<>();
                LogEntry e;
                while ((e = r.next()) != null) {
                    entries.add(e);
                }
                LogEntry last = entries.isEmpty() ? null : entries.get(entries.size() - 1);
                boolean complete = last != null && last.isMark() && LogWritesFormat.END_MARK.equals(last.mark());
                if (json.json) {
                    Map<String, Object> m = new LinkedHashMap<>();
                    m.put("path", log.toAbsolutePath().toString());
                    m.put("version", r.version());
                    m.put("sectorsize", (long) r.sectorsize());
                    m.put("entryCount", r.entryCount());
                    List<Object> list = new ArrayList<>();
                    for (LogEntry x : entries) {
                        list.add(entryJson(x));
                    }
                    m.put("complete", complete);
                    m.put("entries", list);
                    printJson(m);
                    return 0;
                }
                PrintWriter out = out();
                out.printf("log %s: version %d, sectorsize %d, %d entries%n", log, r.version(), r.sectorsize(), r.entryCount());
                out.printf("%-8s %-12s %-8s %-18s %-12s %-8s %s%n", "ENTRY", "LOG-BYTE", "KIND", "FLAGS", "SECTOR", "COUNT", "MARK");
                for (LogEntry x : entries) {
                    out.printf("%-8d %-12d %-8s %-18s %-12d %-8d %s%n", x.index(), x.headerOffsetBytes(), x.kind(),
                            LogWritesFormat.flagNames(x.flags()), x.sector(), x.nrSectors(), x.isMark() ? x.mark() : "");
                }
                if (!complete) {
                    out.println("note: the log does not end with the " + LogWritesFormat.END_MARK + " mark: its table is still"
                            + " live or was not removed cleanly; entries after the last FUA or mark may be missing");
                }
                out.flush();
                return 0;
            }
        }
    }

    static Map<String, Object> entryJson(LogEntry x) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("index", x.index());
        m.put("logOffsetBytes", x.headerOffsetBytes());
        m.put("kind", x.kind());
        m.put("flags", LogWritesFormat.flagNames(x.flags()));
        m.put("sector", x.sector());
        m.put("count", x.nrSectors());
        if (x.isMark()) {
            m.put("mark", x.mark());
        }
        return m;
    }

    /** {@code --limit}, {@code --end-mark}, {@code --next-fua}: at most one. */
    static final class StopOptions {
        @Option(names = "--limit", paramLabel = "N", description = "Replay the first N entries.")
        Long limit;

        @Option(names = "--end-mark", paramLabel = "NAME", description = "Replay up to and including the mark NAME.")
        String endMark;

        @Option(names = "--next-fua", description = "Replay up to and including the first FUA entry.")
        boolean nextFua;
    }

    @Command(name = "replay", mixinStandardHelpOptions = true,
            description = {"Replay a log onto a file or device.",
                "The target must exist and be large enough; start from a zeroed one, as a fresh",
                "`cairn image create` file. Discards are replayed as zeroes.",
                "With --check, flush the target and run COMMAND (with /bin/sh -c) at every check point;",
                "the replay stops at the first command that fails, naming that entry (the first bad one).",
                "COMMAND sees CAIRN_REPLAY_TARGET (the target's path), CAIRN_LOG_ENTRY (the entry's number)",
                "and CAIRN_LOG_MARK (the mark's text, at a mark). It must not change the target: work on a copy.",
                "Example: cairn log-writes replay test.log --to replay.img \\",
                "  --check 'cp --sparse=always \"$CAIRN_REPLAY_TARGET\" /tmp/c.img && e2fsck -E journal_only -y /tmp/c.img",
                "  && e2fsck -fn /tmp/c.img'",
                "Exit codes: 0 replayed (every check passed), 1 a check failed or the replay failed, 2 usage error."})
    static final class Replay extends ClientCommand {
        @Parameters(index = "0", paramLabel = "LOG", description = "The log file or device.")
        Path log;

        @Option(names = "--to", required = true, paramLabel = "DEVICE_OR_FILE", description = "Where to replay.")
        Path to;

        @ArgGroup(exclusive = true, multiplicity = "0..1")
        StopOptions stop;

        @Option(names = "--check", paramLabel = "COMMAND", description = "Run COMMAND at every check point.")
        String check;

        @Option(names = "--check-at", paramLabel = "LIST", split = ",",
                description = "With --check: check points, any of fua, flush, mark (default: fua,mark). "
                        + "qemu, nbdfuse and the loop driver send FUA as a write then a flush: add flush for them.")
        List<String> checkAt;

        @Override
        int run() throws Exception {
            requireExists(log, "LOG");
            requireExists(to, "--to");
            Set<LogReplayer.CheckAt> points = EnumSet.noneOf(LogReplayer.CheckAt.class);
            if (check == null && checkAt != null) {
                throw new IllegalArgumentException("--check-at: " + String.join(",", checkAt) + " (expected: only with --check)");
            }
            if (check != null) {
                for (String s : checkAt == null ? List.of("fua", "mark") : checkAt) {
                    try {
                        points.add(LogReplayer.CheckAt.valueOf(s.trim().toUpperCase(Locale.ROOT)));
                    } catch (IllegalArgumentException e) {
                        throw new IllegalArgumentException("--check-at: " + s + " (expected: fua, flush or mark)");
                    }
                }
            }
            LogReplayer.Stop stopAt = new LogReplayer.Stop.All();
            if (stop != null) {
                if (stop.limit != null) {
                    stopAt = new LogReplayer.Stop.Limit(stop.limit);
                } else if (stop.endMark != null) {
                    stopAt = new LogReplayer.Stop.EndMark(stop.endMark);
                } else if (stop.nextFua) {
                    stopAt = new LogReplayer.Stop.NextFua();
                }
            }
            PrintWriter out = out();
            SubmitterConfig sc = SubmitterConfig.defaults().withName("cairn-replay").withWatchdog(null, r -> { });
            long[] kinds = new long[3];
            try (LogReader r = openLog(log);
                    Submitter submitter = Submitter.create(sc);
                    FileStore target = FileStore.open(to, FileStoreConfig.defaults())) {
                LogReplayer replayer = new LogReplayer(r, submitter, target);
                LogReplayer.Checker checker = check == null ? null : entry -> runCheck(entry, out, kinds);
                LogReplayer.Result res;
                try {
                    res = replayer.replay(stopAt, points, checker);
                } catch (LogReplayer.ReplayException e) {
                    throw new IllegalArgumentException(e.getMessage());
                }
                String summary = "replayed " + res.entriesReplayed() + " of " + r.entryCount() + " entries onto " + to;
                switch (res) {
                    case LogReplayer.Result.Completed c -> {
                        out.println(summary + (c.last() == null ? "" : " (last: " + c.last() + ")"));
                        if (check != null) {
                            out.printf("checked %d points (%d FUA, %d flush, %d mark): all passed%n", res.checkPoints(),
                                    kinds[0], kinds[1], kinds[2]);
                        }
                        out.flush();
                        return 0;
                    }
                    case LogReplayer.Result.CheckFailed f -> {
                        out.println(summary);
                        out.printf("checked %d points: the check failed at point %d%n", f.checkPoints(), f.checkPoints());
                        out.println("first bad entry: " + f.entry());
                        out.flush();
                        err().println("cairn log-writes replay: check failed at entry " + f.entry().index() + ": " + f.reason());
                        err().flush();
                        return 1;
                    }
                }
            }
        }

        private LogReplayer.Verdict runCheck(LogEntry entry, PrintWriter out, long[] kinds) throws IOException {
            if (entry.isFua()) {
                kinds[0]++;
            } else if (entry.isFlush()) {
                kinds[1]++;
            } else if (entry.isMark()) {
                kinds[2]++;
            }
            ProcessBuilder pb = new ProcessBuilder("/bin/sh", "-c", check).redirectErrorStream(true)
                    .redirectInput(ProcessBuilder.Redirect.from(Path.of("/dev/null").toFile()));
            pb.environment().put("CAIRN_REPLAY_TARGET", to.toAbsolutePath().toString());
            pb.environment().put("CAIRN_LOG_ENTRY", Long.toString(entry.index()));
            pb.environment().put("CAIRN_LOG_MARK", entry.isMark() ? entry.mark() : "");
            Process p = pb.start();
            byte[] output = p.getInputStream().readAllBytes();
            int status;
            try {
                status = p.waitFor();
            } catch (InterruptedException e) {
                p.destroyForcibly();
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while the check ran at " + entry);
            }
            out.printf("check at %s: %s%n", entry, status == 0 ? "ok" : "FAILED (exit status " + status + ")");
            if (status == 0) {
                return new LogReplayer.Verdict.Pass();
            }
            String text = new String(output, StandardCharsets.UTF_8);
            List<String> lines = text.lines().toList();
            for (String line : lines.subList(Math.max(0, lines.size() - 40), lines.size())) {
                out.println("  | " + line);
            }
            out.flush();
            return new LogReplayer.Verdict.Fail("'" + check + "' exited with status " + status);
        }
    }

    /** Opens a log; a format problem is the operation failing (exit 1) with the reader's message, no stack. */
    static LogReader openLog(Path p) throws DaemonException, IOException {
        try {
            return LogReader.open(p);
        } catch (LogFormatException e) {
            throw new DaemonException(ErrorKind.FAILED, e.getMessage());
        }
    }

    private static void requireExists(Path p, String what) {
        if (!Files.exists(p)) {
            throw new IllegalArgumentException(what + ": " + p + " (expected: an existing file or device"
                    + (what.equals("--to") ? "; create one with: cairn image create PATH SIZE" : "") + ")");
        }
    }
}
