package dev.cairn.dm.targets.logwrites;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.Bio;
import dev.cairn.block.BioFlags;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.dm.DeviceRegistry;
import dev.cairn.dm.DmException;
import dev.cairn.dm.FakeClock;
import dev.cairn.dm.MappedDevice;
import dev.cairn.dm.RegistryOptions;
import dev.cairn.dm.StatusType;
import dev.cairn.dm.TableException;
import dev.cairn.testkit.ForwardingDevice;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.Pattern;
import dev.cairn.testkit.Poll;
import dev.cairn.testkit.StackBuilder;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The log-writes target against the kernel's format (read back by {@link KernelLog}, which shares no code
 * with the production reader) and its ordering rules, including the completion-order example of the
 * kernel's documentation, driven by a device that completes bios only when the test says so.
 */
class LogWritesTargetTest {
    private static final long DATA_BYTES = 1 << 20;
    private static final long LOG_BYTES = 4 << 20;

    private StackBuilder stack;
    private DeviceRegistry dm;
    private MemoryStore data;
    private MemoryStore log;

    @BeforeEach
    void setUp() throws Exception {
        stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);
        dm = new DeviceRegistry(stack.submitter(), RegistryOptions.defaults().withClock(new FakeClock()));
        data = new MemoryStore("data", DATA_BYTES);
        log = new MemoryStore("log", LOG_BYTES);
        dm.addLeaf("data", data);
        dm.addLeaf("log", log);
    }

    @AfterEach
    void tearDown() {
        dm.close();
        stack.close();
    }

    private BioStatus write(BlockDevice dev, long sector, int bytes, int gen, int flags) {
        return Io.write(stack.submitter(), dev, sector, Pattern.segment(sector * 512, bytes, gen), flags);
    }

    private KernelLog readLog(BlockDevice logDev, long bytes) {
        MemorySegment all = Io.readOk(stack.submitter(), logDev, 0, (int) bytes);
        return new KernelLog(all.toArray(ValueLayout.JAVA_BYTE));
    }

    private static byte[] pattern(long sector, int bytes, int gen) {
        return Pattern.segment(sector * 512, bytes, gen).toArray(ValueLayout.JAVA_BYTE);
    }

    @Test
    void logsWritesFlushesFuaDiscardsAndMarksInTheKernelFormat() throws Exception {
        MappedDevice md = dm.create("lw", "0 2048 log-writes data log");
        assertThat(write(md, 0, 4096, 1, 0)).isEqualTo(BioStatus.OK);
        assertThat(write(md, 8, 1024, 2, 0)).isEqualTo(BioStatus.OK);
        assertThat(Io.flush(stack.submitter(), md)).isEqualTo(BioStatus.OK);
        assertThat(write(md, 16, 4096, 3, BioFlags.FUA)).isEqualTo(BioStatus.OK);
        assertThat(dm.message("lw", 0, "mark", "one")).isEmpty();
        assertThat(Io.discard(stack.submitter(), md, 32, 16)).isEqualTo(BioStatus.OK);
        assertThat(write(md, 64, 512, 4, BioFlags.PREFLUSH)).isEqualTo(BioStatus.OK);
        assertThat(Io.flush(stack.submitter(), md)).isEqualTo(BioStatus.OK);
        // Reads pass through and are not logged.
        assertThat(Io.readOk(stack.submitter(), md, 0, 4096).toArray(ValueLayout.JAVA_BYTE)).isEqualTo(pattern(0, 4096, 1));
        dm.remove("lw", false);

        KernelLog k = readLog(log, LOG_BYTES);
        assertThat(k.magic).isEqualTo(KernelLog.MAGIC);
        assertThat(k.version).isEqualTo(1);
        assertThat(k.sectorsize).isEqualTo(512);
        // dm core sends a PREFLUSH write as an empty flush, then the data: so the flush entry comes first.
        assertThat(k.describe()).containsExactly("W 0+8", "W 8+2", "FLUSH", "W FUA 16+8", "MARK one", "DISCARD 32+16",
                "FLUSH", "W 64+1", "FLUSH", "MARK dm-log-writes-end");
        assertThat(k.nrEntries).isEqualTo(10);
        assertThat(k.entries.get(0).data()).isEqualTo(pattern(0, 4096, 1));
        assertThat(k.entries.get(1).data()).isEqualTo(pattern(8, 1024, 2));
        assertThat(k.entries.get(3).data()).isEqualTo(pattern(16, 4096, 3));
        assertThat(k.entries.get(7).data()).isEqualTo(pattern(64, 512, 4));
    }

    @Test
    void aPlainWriteIsLoggedOnlyAfterALaterFlushCompleted() throws Exception {
        MappedDevice md = dm.create("lw", "0 2048 log-writes data log");
        assertThat(write(md, 0, 4096, 1, 0)).isEqualTo(BioStatus.OK);
        // The mark is queued after the write completed; a write that were logged at once would come first.
        dm.message("lw", 0, "MARK", "before-flush");
        assertThat(Io.flush(stack.submitter(), md)).isEqualTo(BioStatus.OK);
        assertThat(write(md, 8, 4096, 2, 0)).isEqualTo(BioStatus.OK);
        dm.message("lw", 0, "mark", "after-flush");
        dm.remove("lw", false);
        // The second write had no flush: teardown moves it to the log before the end mark.
        assertThat(readLog(log, LOG_BYTES).describe()).containsExactly("MARK before-flush", "W 0+8", "FLUSH",
                "MARK after-flush", "W 8+8", "MARK dm-log-writes-end");
    }

    /** Holds every WRITE and FLUSH until the test releases it, to set the completion order. */
    private static final class GateDevice extends ForwardingDevice {
        private final List<Bio> held = new ArrayList<>();
        private final QueueLimits limits;

        GateDevice(BlockDevice lower) {
            super(lower);
            this.limits = lower.limits().withCache(true, true);
        }

        @Override
        public QueueLimits limits() {
            return limits;
        }

        @Override
        public void submitBio(Bio bio) {
            if (bio.op() == BioOp.WRITE || bio.op() == BioOp.FLUSH) {
                synchronized (held) {
                    held.add(bio);
                }
                return;
            }
            super.submitBio(bio);
        }

        int heldCount() {
            synchronized (held) {
                return held.size();
            }
        }

        /** Completes the held bio that is a flush ({@code sector < 0}) or starts at {@code sector}. */
        void release(long sector) {
            Bio b;
            synchronized (held) {
                b = held.stream().filter(x -> sector < 0 ? x.op() == BioOp.FLUSH : x.op() == BioOp.WRITE && x.sector() == sector)
                        .findFirst().orElseThrow();
                held.remove(b);
            }
            if (b.op() == BioOp.FLUSH) {
                b.complete(BioStatus.OK);
            } else {
                lower().submitBio(b);
            }
        }
    }

    private CountDownLatch submitAsync(BlockDevice dev, BioOp op, long sector, int gen) {
        CountDownLatch done = new CountDownLatch(1);
        Bio b = Bio.alloc().setDevice(dev).setOp(op).setEndIo(x -> done.countDown());
        if (op == BioOp.WRITE) {
            b.setSector(sector).setData(Pattern.segment(sector * 512, 4096, gen));
        }
        stack.submitter().submit(b);
        return done;
    }

    @Test
    void theKernelDocumentationsCompletionOrderExample() throws Exception {
        // log-writes.rst: W1,W2,W3,C3,C2,Wflush,C1,Cflush => W3,W2,flush; W1 waits for the next flush.
        GateDevice gate = new GateDevice(data);
        dm.addLeaf("gate", gate);
        MappedDevice md = dm.create("lw", "0 2048 log-writes gate log");
        CountDownLatch w1 = submitAsync(md, BioOp.WRITE, 0, 1);
        CountDownLatch w2 = submitAsync(md, BioOp.WRITE, 8, 2);
        CountDownLatch w3 = submitAsync(md, BioOp.WRITE, 16, 3);
        assertThat(Poll.until(() -> gate.heldCount() == 3, Duration.ofSeconds(10))).isTrue();
        gate.release(16);
        gate.release(8);
        assertThat(w3.await(10, TimeUnit.SECONDS) && w2.await(10, TimeUnit.SECONDS)).isTrue();
        CountDownLatch flush = submitAsync(md, BioOp.FLUSH, 0, 0);
        assertThat(Poll.until(() -> gate.heldCount() == 2, Duration.ofSeconds(10))).isTrue();
        gate.release(0);
        assertThat(w1.await(10, TimeUnit.SECONDS)).isTrue();
        gate.release(-1);
        assertThat(flush.await(10, TimeUnit.SECONDS)).isTrue();
        dm.message("lw", 0, "mark", "after");
        dm.remove("lw", false);
        assertThat(readLog(log, LOG_BYTES).describe()).containsExactly("W 16+8", "W 8+8", "FLUSH", "MARK after", "W 0+8",
                "MARK dm-log-writes-end");
    }

    /** Records the size of every WRITE the log device receives. */
    private static final class CountingLog extends ForwardingDevice {
        private final List<Integer> writeBytes = new ArrayList<>();

        CountingLog(BlockDevice lower) {
            super(lower);
        }

        @Override
        public void submitBio(Bio bio) {
            if (bio.op() == BioOp.WRITE) {
                synchronized (writeBytes) {
                    writeBytes.add(bio.sizeBytes());
                }
            }
            super.submitBio(bio);
        }

        List<Integer> writes() {
            synchronized (writeBytes) {
                return List.copyOf(writeBytes);
            }
        }

        long totalBytes() {
            return writes().stream().mapToLong(Integer::longValue).sum();
        }
    }

    @Test
    void theWritesAFlushReleasesGoToTheLogInOneWrite() throws Exception {
        CountingLog counting = new CountingLog(log);
        dm.addLeaf("clog", counting);
        MappedDevice md = dm.create("lw", "0 2048 log-writes data clog");
        assertThat(counting.writes()).containsExactly(512); // the first super block
        for (int i = 0; i < 32; i++) {
            assertThat(write(md, i * 8L, 4096, i + 1, 0)).isEqualTo(BioStatus.OK);
        }
        assertThat(counting.writes()).hasSize(1); // held until a flush
        assertThat(Io.flush(stack.submitter(), md)).isEqualTo(BioStatus.OK);
        // 32 entries of a header block and 8 data blocks, then the FLUSH entry's header block.
        long batch = (32 * 9 + 1) * 512L;
        assertThat(Poll.until(() -> counting.totalBytes() == 512 + batch, Duration.ofSeconds(10)))
                .as("%s", counting.writes()).isTrue();
        assertThat(counting.writes()).containsExactly(512, (int) batch);
        dm.remove("lw", false);
        KernelLog k = readLog(log, LOG_BYTES);
        assertThat(k.nrEntries).isEqualTo(34);
        for (int i = 0; i < 32; i++) {
            assertThat(k.describe().get(i)).isEqualTo("W " + (i * 8) + "+8");
            assertThat(k.entries.get(i).data()).isEqualTo(pattern(i * 8L, 4096, i + 1));
        }
        assertThat(k.describe().subList(32, 34)).containsExactly("FLUSH", "MARK dm-log-writes-end");
    }

    @Test
    void aBatchStopsAtItsSizeLimitAndAtEachFuaOrMark() throws Exception {
        CountingLog counting = new CountingLog(log);
        dm.addLeaf("clog", counting);
        MappedDevice md = dm.create("lw", "0 2048 log-writes data clog");
        // 300 writes of 4 KiB (4608 bytes each in the log) are more than one batch.
        int n = 300;
        for (int i = 0; i < n; i++) {
            assertThat(write(md, (i % 256) * 8L, 4096, i + 1, 0)).isEqualTo(BioStatus.OK);
        }
        assertThat(Io.flush(stack.submitter(), md)).isEqualTo(BioStatus.OK);
        long entryBytes = (n * 9L + 1) * 512;
        // Logged before the FUA write arrives, or the FUA write could join the second batch.
        assertThat(Poll.until(() -> counting.totalBytes() == 512 + entryBytes, Duration.ofSeconds(10)))
                .as("%s", counting.writes()).isTrue();
        assertThat(write(md, 8, 4096, 1000, BioFlags.FUA)).isEqualTo(BioStatus.OK);
        dm.message("lw", 0, "mark", "m");
        dm.remove("lw", false);
        KernelLog k = readLog(log, LOG_BYTES);
        assertThat(k.nrEntries).isEqualTo(n + 4);
        for (int i = 0; i < n; i++) {
            assertThat(k.entries.get(i).data()).as("entry %d", i).isEqualTo(pattern((i % 256) * 8L, 4096, i + 1));
        }
        assertThat(k.describe().subList(n, n + 4)).containsExactly("FLUSH", "W FUA 8+8", "MARK m", "MARK dm-log-writes-end");
        assertThat(k.entries.get(n + 1).data()).isEqualTo(pattern(8, 4096, 1000));
        List<Integer> w = counting.writes();
        assertThat(w).allSatisfy(bytes -> assertThat(bytes).isLessThanOrEqualTo(LogWritesTarget.BATCH_MAX_BYTES));
        // Entries: 300 writes + flush in 2 batches; then the FUA write and the mark each alone, each followed by a
        // super block; the end mark and its super block. Plus the first super block.
        int perBatch = LogWritesTarget.BATCH_MAX_BYTES / (9 * 512);
        assertThat(w.get(1)).isEqualTo(perBatch * 9 * 512);
        assertThat((long) w.get(2)).isEqualTo(entryBytes - w.get(1));
        assertThat(w.subList(3, w.size())).containsExactly(9 * 512, 512, 512, 512, 512, 512);
    }

    @Test
    void statusCountsEntriesAndTheHighestAllocatedLogSector() throws Exception {
        MappedDevice md = dm.create("lw", "0 2048 log-writes data log");
        assertThat(dm.status("lw", StatusType.INFO).text()).isEqualTo("0 2048 log-writes 0 0\n");
        assertThat(dm.status("lw", StatusType.TABLE).text()).isEqualTo("0 2048 log-writes data log\n");
        assertThat(write(md, 0, 4096, 1, BioFlags.FUA)).isEqualTo(BioStatus.OK);
        // One header block and eight data blocks after the super block: sectors 1..9.
        assertThat(Poll.until(() -> status("lw").equals("0 2048 log-writes 1 9\n"), Duration.ofSeconds(10)))
                .as(status("lw")).isTrue();
        dm.message("lw", 0, "mark", "m");
        assertThat(Poll.until(() -> status("lw").equals("0 2048 log-writes 2 10\n"), Duration.ofSeconds(10)))
                .as(status("lw")).isTrue();
        // The super block was rewritten for the FUA and the mark: a reader sees both entries before teardown.
        assertThat(Poll.until(() -> readLog(log, 8192).nrEntries == 2, Duration.ofSeconds(10))).isTrue();
        dm.remove("lw", false);
    }

    private String status(String name) {
        try {
            return dm.status(name, StatusType.INFO).text();
        } catch (DmException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void runningOutOfLogSpaceDisablesLoggingButNotIo() throws Exception {
        MemoryStore small = new MemoryStore("small", 8192);
        dm.addLeaf("small", small);
        MappedDevice md = dm.create("lw", "0 2048 log-writes data small");
        assertThat(write(md, 0, 4096, 1, BioFlags.FUA)).isEqualTo(BioStatus.OK);
        assertThat(write(md, 8, 4096, 2, BioFlags.FUA)).isEqualTo(BioStatus.OK);
        assertThat(Poll.until(() -> status("lw").endsWith(" logging_disabled\n"), Duration.ofSeconds(10))).isTrue();
        assertThat(status("lw")).isEqualTo("0 2048 log-writes 1 18 logging_disabled\n");
        assertThat(write(md, 16, 4096, 3, 0)).isEqualTo(BioStatus.OK);
        assertThat(Io.readOk(stack.submitter(), md, 16, 4096).toArray(ValueLayout.JAVA_BYTE)).isEqualTo(pattern(16, 4096, 3));
        dm.remove("lw", false);
        KernelLog k = readLog(small, 8192);
        assertThat(k.describe()).containsExactly("W FUA 0+8");
    }

    @Test
    void messagesOtherThanMarkAreRefusedWithTheKernelsWords() throws Exception {
        dm.create("lw", "0 2048 log-writes data log");
        assertThatThrownBy(() -> dm.message("lw", 0, "mark")).isInstanceOf(DmException.class)
                .hasMessageContaining("expect 2 arguments, got 1");
        assertThatThrownBy(() -> dm.message("lw", 0, "flush", "x")).isInstanceOf(DmException.class)
                .hasMessageContaining("Unrecognised log writes target message received: flush");
        dm.remove("lw", false);
        assertThat(readLog(log, LOG_BYTES).describe()).containsExactly("MARK dm-log-writes-end");
    }

    @Test
    void aLongMarkIsCutToFitItsBlock() throws Exception {
        dm.create("lw", "0 2048 log-writes data log");
        dm.message("lw", 0, "mark", "x".repeat(600));
        dm.remove("lw", false);
        assertThat(readLog(log, LOG_BYTES).entries.get(0).mark()).isEqualTo("x".repeat(512 - 32 - 1));
    }

    @Test
    void theUnitIsTheDataDevicesLogicalBlock() throws Exception {
        QueueLimits fourK = new QueueLimits(4096, 4096, 0, 4096, Long.MAX_VALUE >> 10, Long.MAX_VALUE >> 10, true, true,
                false);
        dm.addLeaf("big", new dev.cairn.dm.RecordingDevice("big", DATA_BYTES, fourK, s -> { }));
        MappedDevice md = dm.create("lw", "0 2048 log-writes big log");
        assertThat(write(md, 16, 8192, 1, BioFlags.FUA)).isEqualTo(BioStatus.OK);
        dm.remove("lw", false);
        KernelLog k = readLog(log, 64 << 10);
        assertThat(k.sectorsize).isEqualTo(4096);
        // Sector 16 (512-byte) is block 2; 8 KiB is 2 blocks; the entry starts at byte 4096.
        assertThat(k.describe()).containsExactly("W FUA 2+2", "MARK dm-log-writes-end");
        assertThat(k.entries.get(0).data()).isEqualTo(pattern(16, 8192, 1));
    }

    @Test
    void discardsAreAcceptedAndLoggedWhenTheDataDeviceCannotDiscard() throws Exception {
        QueueLimits noDiscard = QueueLimits.defaults().withDiscard(0, 0);
        List<String> seen = new ArrayList<>();
        dm.addLeaf("plain", new dev.cairn.dm.RecordingDevice("plain", DATA_BYTES, noDiscard, seen::add));
        MappedDevice md = dm.create("lw", "0 2048 log-writes plain log");
        assertThat(md.limits().supportsDiscard()).isTrue();
        assertThat(md.limits().discardGranularityBytes()).isEqualTo(512);
        assertThat(md.limits().supportsWriteZeroes()).isFalse();
        assertThat(Io.discard(stack.submitter(), md, 16, 8)).isEqualTo(BioStatus.OK);
        assertThat(Io.flush(stack.submitter(), md)).isEqualTo(BioStatus.OK);
        dm.remove("lw", false);
        assertThat(seen).noneMatch(e -> e.contains("DISCARD"));
        assertThat(readLog(log, LOG_BYTES).describe()).containsExactly("DISCARD 16+8", "FLUSH", "MARK dm-log-writes-end");
    }

    @Test
    void aSecondTableCannotWriteALogThatIsInUse() throws Exception {
        dm.create("lw", "0 2048 log-writes data log");
        dm.addLeaf("data2", new MemoryStore("data2", DATA_BYTES));
        assertThatThrownBy(() -> dm.create("other", "0 2048 log-writes data2 log")).isInstanceOf(TableException.class)
                .hasMessageContaining("log dev: log (expected: a log device no other log-writes table is writing");
        // A reload naming the same log is refused too, and the live table goes on logging.
        assertThatThrownBy(() -> dm.load("lw", "0 2048 log-writes data log")).isInstanceOf(TableException.class);
        dm.message("lw", 0, "mark", "still");
        dm.remove("lw", false);
        assertThat(readLog(log, LOG_BYTES).describe()).containsExactly("MARK still", "MARK dm-log-writes-end");
        // Once the first table is gone, the log is free again.
        dm.create("other", "0 2048 log-writes data2 log");
        dm.remove("other", false);
    }

    @Test
    void constructorErrorsNameTheArgument() {
        assertThatThrownBy(() -> dm.create("bad", "0 2048 log-writes data")).isInstanceOf(TableException.class)
                .hasMessageContaining("log-writes");
        assertThatThrownBy(() -> dm.create("bad2", "0 2048 log-writes data data")).isInstanceOf(TableException.class)
                .hasMessageContaining("log dev");
    }

    @Test
    void theProductionReaderAndReplayerReproduceTheDataDevice() throws Exception {
        MappedDevice md = dm.create("lw", "0 2048 log-writes data log");
        assertThat(write(md, 0, 65536, 1, 0)).isEqualTo(BioStatus.OK);
        assertThat(Io.flush(stack.submitter(), md)).isEqualTo(BioStatus.OK);
        dm.message("lw", 0, "mark", "first");
        assertThat(write(md, 8, 4096, 2, BioFlags.FUA)).isEqualTo(BioStatus.OK);
        assertThat(Io.discard(stack.submitter(), md, 64, 32)).isEqualTo(BioStatus.OK);
        assertThat(write(md, 200, 4096, 3, 0)).isEqualTo(BioStatus.OK);
        dm.remove("lw", false);
        java.nio.file.Path file = java.nio.file.Files.createTempFile("lw", ".log");
        try {
            java.nio.file.Files.write(file, Io.readOk(stack.submitter(), log, 0, 1 << 20).toArray(ValueLayout.JAVA_BYTE));
            try (LogReader r = LogReader.open(file)) {
                assertThat(r.entryCount()).isEqualTo(7);
                List<String> kinds = new ArrayList<>();
                LogEntry e;
                while ((e = r.next()) != null) {
                    kinds.add(e.kind() + (e.isMark() ? " " + e.mark() : "") + (e.isFua() ? " FUA" : ""));
                }
                assertThat(kinds).containsExactly("write", "flush", "mark first", "write FUA", "discard", "write",
                        "mark dm-log-writes-end");
                MemoryStore replica = new MemoryStore("replica", DATA_BYTES);
                LogReplayer.Result res = new LogReplayer(r, stack.submitter(), replica).replay(new LogReplayer.Stop.All(),
                        EnumSet.of(LogReplayer.CheckAt.FUA, LogReplayer.CheckAt.MARK), entry -> new LogReplayer.Verdict.Pass());
                assertThat(res).isInstanceOf(LogReplayer.Result.Completed.class);
                assertThat(res.entriesReplayed()).isEqualTo(7);
                assertThat(res.checkPoints()).isEqualTo(3);
                assertThat(Io.readOk(stack.submitter(), replica, 0, (int) DATA_BYTES).toArray(ValueLayout.JAVA_BYTE))
                        .isEqualTo(Io.readOk(stack.submitter(), data, 0, (int) DATA_BYTES).toArray(ValueLayout.JAVA_BYTE));

                // Up to the mark: the FUA write is not there yet.
                MemoryStore early = new MemoryStore("early", DATA_BYTES);
                res = new LogReplayer(r, stack.submitter(), early).replay(new LogReplayer.Stop.EndMark("first"),
                        EnumSet.noneOf(LogReplayer.CheckAt.class), null);
                assertThat(res.entriesReplayed()).isEqualTo(3);
                assertThat(Io.readOk(stack.submitter(), early, 8, 4096).toArray(ValueLayout.JAVA_BYTE)).isEqualTo(pattern(8, 4096, 1));

                // A failing check stops the replay at that entry.
                MemoryStore third = new MemoryStore("third", DATA_BYTES);
                res = new LogReplayer(r, stack.submitter(), third).replay(new LogReplayer.Stop.All(),
                        EnumSet.of(LogReplayer.CheckAt.FUA), entry -> new LogReplayer.Verdict.Fail("no"));
                assertThat(res).isInstanceOfSatisfying(LogReplayer.Result.CheckFailed.class,
                        f -> assertThat(f.entry().index()).isEqualTo(3));

                // A mark that is not there: an error before anything is written.
                MemoryStore none = new MemoryStore("none", DATA_BYTES);
                assertThatThrownBy(() -> new LogReplayer(r, stack.submitter(), none)
                        .replay(new LogReplayer.Stop.EndMark("nope"), EnumSet.noneOf(LogReplayer.CheckAt.class), null))
                        .hasMessageContaining("--end-mark: nope");
                assertThat(none.allocatedBytes()).isZero();
            }
        } finally {
            java.nio.file.Files.deleteIfExists(file);
        }
    }
}
