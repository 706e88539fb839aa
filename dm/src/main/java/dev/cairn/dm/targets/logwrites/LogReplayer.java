package dev.cairn.dm.targets.logwrites;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.IoCompletion;
import dev.cairn.block.Submitter;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.EnumSet;
import java.util.Objects;
import java.util.Set;

/**
 * Replays a write log onto a block device, like xfstests' {@code replay-log --replay}: each write's data
 * goes to {@code sector * sectorsize}; a discard becomes WRITE_ZEROES where the target has it, else written
 * zeroes (xfstests replays onto dm-thin for the same reason: a discard must read back as zeroes, whatever
 * the target); flush and mark entries write nothing. At each <em>check point</em> (entries with a flag in the check set) the
 * target is flushed and the {@link Checker} runs; the first failing check ends the replay.
 *
 * <p>Bad input changes nothing: a stop condition that the log cannot meet (an end mark it does not hold, no
 * FUA entry for {@code --next-fua}, a limit beyond its entries) and a log entry outside the target are
 * reported by {@link #replay} before anything is written.
 *
 * <p>Thread safety: not thread-safe; one replay at a time per instance. Must not run inside a submission.
 */
public final class LogReplayer {
    /** Largest piece of data read from the log and written at once. */
    static final int CHUNK_BYTES = 4 << 20;

    /** Where the replay stops. */
    public sealed interface Stop {
        /** Every entry. */
        record All() implements Stop {}

        /** The first {@code entries} entries ({@code --limit}). */
        record Limit(long entries) implements Stop {}

        /** Up to and including the first mark named {@code name} ({@code --end-mark}). */
        record EndMark(String name) implements Stop {}

        /** Up to and including the first FUA entry ({@code --next-fua}). */
        record NextFua() implements Stop {}
    }

    /** Which entries are check points. */
    public enum CheckAt {
        FUA, FLUSH, MARK;

        boolean matches(LogEntry e) {
            return switch (this) {
                case FUA -> e.isFua();
                case FLUSH -> e.isFlush();
                case MARK -> e.isMark();
            };
        }
    }

    /** What a check said. */
    public sealed interface Verdict {
        record Pass() implements Verdict {}

        record Fail(String reason) implements Verdict {}
    }

    /** Runs at each check point, after the target was flushed. */
    @FunctionalInterface
    public interface Checker {
        Verdict check(LogEntry entry) throws IOException;
    }

    /** How a replay ended. */
    public sealed interface Result {
        /** Entries written (all applied entries, including flushes and marks). */
        long entriesReplayed();

        /** Check points that ran (including a failing one). */
        long checkPoints();

        /** Every entry up to the stop was replayed and every check passed. */
        record Completed(long entriesReplayed, long checkPoints, LogEntry last) implements Result {}

        /** A check failed at {@code entry} (the first bad entry); nothing after it was replayed. */
        record CheckFailed(long entriesReplayed, long checkPoints, LogEntry entry, String reason) implements Result {}
    }

    /** A stop condition the log cannot meet, or an entry that does not fit the target; nothing was written. */
    public static final class ReplayException extends IOException {
        private static final long serialVersionUID = 1L;

        public ReplayException(String message) {
            super(message);
        }
    }

    private final LogReader reader;
    private final Submitter submitter;
    private final BlockDevice target;

    public LogReplayer(LogReader reader, Submitter submitter, BlockDevice target) {
        this.reader = Objects.requireNonNull(reader, "reader");
        this.submitter = Objects.requireNonNull(submitter, "submitter");
        this.target = Objects.requireNonNull(target, "target");
    }

    /** Replays until {@code stop}; with no check points pass an empty set and a null checker. */
    public Result replay(Stop stop, Set<CheckAt> checkAt, Checker checker) throws IOException {
        Set<CheckAt> at = checkAt.isEmpty() ? EnumSet.noneOf(CheckAt.class) : EnumSet.copyOf(checkAt);
        if (!at.isEmpty()) {
            Objects.requireNonNull(checker, "checker");
        }
        long stopIndex = validate(stop);
        reader.rewind();
        long replayed = 0;
        long points = 0;
        LogEntry last = null;
        LogEntry e;
        while (replayed < stopIndex && (e = reader.next()) != null) {
            apply(e);
            replayed++;
            last = e;
            if (isCheckPoint(at, e)) {
                flush();
                points++;
                if (checker.check(e) instanceof Verdict.Fail f) {
                    return new Result.CheckFailed(replayed, points, e, f.reason());
                }
            }
        }
        flush();
        return new Result.Completed(replayed, points, last);
    }

    private static boolean isCheckPoint(Set<CheckAt> at, LogEntry e) {
        for (CheckAt c : at) {
            if (c.matches(e)) {
                return true;
            }
        }
        return false;
    }

    /** Scans the headers: the number of entries to replay, or an error before anything is written. */
    private long validate(Stop stop) throws IOException {
        reader.rewind();
        long count = reader.entryCount();
        long stopIndex = switch (stop) {
            case Stop.All a -> count;
            case Stop.Limit l -> {
                if (l.entries() < 0 || l.entries() > count) {
                    throw new ReplayException("--limit: " + l.entries() + " (expected: 0 to " + count
                            + ", the entries in the log)");
                }
                yield l.entries();
            }
            default -> -1;
        };
        long capacityBytes = target.capacitySectors() << 9;
        long sectorsize = reader.sectorsize();
        LogEntry e;
        while ((e = reader.next()) != null) {
            if (stopIndex >= 0 && e.index() >= stopIndex) {
                break;
            }
            if ((e.hasData() || e.isDiscard())
                    && (e.sector() > capacityBytes / sectorsize || e.nrSectors() > capacityBytes / sectorsize - e.sector())) {
                throw new ReplayException(e + " does not fit the replay target " + target.name() + " of " + capacityBytes
                        + " bytes");
            }
            if (stopIndex < 0) {
                boolean hit = switch (stop) {
                    case Stop.EndMark m -> e.isMark() && m.name().equals(e.mark());
                    case Stop.NextFua n -> e.isFua();
                    default -> false;
                };
                if (hit) {
                    stopIndex = e.index() + 1;
                    break;
                }
            }
        }
        if (stopIndex < 0) {
            throw new ReplayException(switch (stop) {
                case Stop.EndMark m -> "--end-mark: " + m.name() + " (expected: a mark in the log; `cairn log-writes ls` lists them)";
                default -> "--next-fua: the log has no FUA entry";
            });
        }
        return stopIndex;
    }

    private void apply(LogEntry e) throws IOException {
        long sectorsize = reader.sectorsize();
        long startBytes = e.sector() * sectorsize;
        long lengthBytes = e.nrSectors() * sectorsize;
        if (e.hasData()) {
            MemorySegment buf = MemorySegment.ofArray(new byte[(int) Math.min(CHUNK_BYTES, lengthBytes)]);
            for (long done = 0; done < lengthBytes; ) {
                int n = (int) Math.min(CHUNK_BYTES, lengthBytes - done);
                reader.readData(e, done, buf, n);
                io(Bio.alloc().setOp(BioOp.WRITE).setSector((startBytes + done) >>> 9).setData(buf.asSlice(0, n)), e);
                done += n;
            }
        } else if (e.isDiscard() && lengthBytes > 0) {
            zero(startBytes, lengthBytes, e);
        }
    }

    /** Makes the range read as zeros: as replay-log with a dm-thin target, discard means zeroes. */
    private void zero(long startBytes, long lengthBytes, LogEntry e) throws IOException {
        var limits = target.limits();
        if (limits.supportsWriteZeroes()) {
            for (long done = 0; done < lengthBytes; ) {
                long n = Math.min(lengthBytes - done, Math.min(limits.maxWriteZeroesSectors() << 9, 1L << 30));
                n -= n % limits.logicalBlockBytes();
                io(Bio.alloc().setOp(BioOp.WRITE_ZEROES).setSector((startBytes + done) >>> 9).setSizeBytes((int) n), e);
                done += n;
            }
            return;
        }
        MemorySegment zeros = MemorySegment.ofArray(new byte[(int) Math.min(CHUNK_BYTES, lengthBytes)]);
        for (long done = 0; done < lengthBytes; ) {
            int n = (int) Math.min(CHUNK_BYTES, lengthBytes - done);
            io(Bio.alloc().setOp(BioOp.WRITE).setSector((startBytes + done) >>> 9).setData(zeros.asSlice(0, n)), e);
            done += n;
        }
    }

    private void flush() throws IOException {
        BioStatus st = IoCompletion.submitAndWait(submitter, Bio.alloc().setDevice(target).setOp(BioOp.FLUSH));
        if (!st.isOk()) {
            throw new IOException(target.name() + ": flush failed: " + st);
        }
    }

    private void io(Bio bio, LogEntry e) throws IOException {
        bio.setDevice(target);
        BioStatus st = IoCompletion.submitAndWait(submitter, bio);
        if (!st.isOk()) {
            throw new IOException(target.name() + ": replaying " + e + ": " + bio.op() + " failed: " + st);
        }
    }
}
