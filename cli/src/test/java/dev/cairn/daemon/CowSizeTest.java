package dev.cairn.daemon;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.daemon.proto.DeviceProto;
import dev.cairn.daemon.proto.SnapshotProto;
import dev.cairn.snapshot.CowLayout;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Which COW size never overflows: {@code snapshot create} without {@code --size} makes a COW of
 * {@link CowLayout#requiredCowSectors}, which counts the metadata area after the last full one (the
 * persistent store zeroes the next area when one fills up, as Linux's {@code zero_disk_area} does).
 * An origin of exactly one area's worth of chunks is the edge: a COW one chunk smaller takes every
 * data chunk but fails when it zeroes the next area, and the snapshot is invalidated.
 */
class CowSizeTest {
    /** 256 chunks of 8 sectors: exactly the exceptions of one metadata area (4096 / 16). */
    private static final long ORIGIN_SECTORS = 2048;
    private static final int CHUNK = 8;
    @TempDir Path tmp;
    private Daemon daemon;

    @BeforeEach
    void start() throws Exception {
        StateDir dir = new StateDir(tmp.resolve("s"));
        dir.create();
        new StateFile(dir.stateFile()).save(DaemonState.empty());
        daemon = Daemon.start(new Daemon.Config(dir, "127.0.0.1", -1, false,
                new PrintStream(PrintStream.nullOutputStream(), true, StandardCharsets.UTF_8)));
        Path img = Files.createDirectories(tmp.resolve("data")).resolve("o.img");
        Images.createSparse(img, ORIGIN_SECTORS * 512);
        daemon.call(DeviceProto.CREATE, new DeviceProto.Create("o", "0 " + ORIGIN_SECTORS + " linear file:" + img + " 0\n", true));
    }

    @AfterEach
    void stop() {
        daemon.stop();
    }

    /** Takes a snapshot with a COW of {@code cowSectors} (null: the default), overwrites the whole origin, returns its state. */
    private SnapshotProto.Snapshot overwriteAll(Long cowSectors) {
        SnapshotProto.Snapshot s = daemon.call(SnapshotProto.CREATE, new SnapshotProto.Create("o", "s", null,
                cowSectors == null ? null : cowSectors * 512, (long) CHUNK, false, true));
        byte[] b = new byte[(int) (ORIGIN_SECTORS * 512)];
        Arrays.fill(b, (byte) 0x5a);
        dev.cairn.testkit.Io.writeOk(daemon.submitter(), daemon.registry().find("o").orElseThrow(), 0, MemorySegment.ofArray(b));
        return daemon.call(SnapshotProto.LIST, new SnapshotProto.Ls("s", true)).snapshots().getFirst();
    }

    @Test
    void theDefaultCowHoldsACopyOfEveryChunk() {
        long required = CowLayout.requiredCowSectors(ORIGIN_SECTORS, CHUNK);
        assertThat(required).isEqualTo((1 + 2 + 256) * CHUNK); // header, area 0, the area zeroed when it fills, data
        assertThat(Snapshots.fullSizeBytes(ORIGIN_SECTORS, CHUNK)).isEqualTo(required * 512);
        SnapshotProto.Snapshot s = overwriteAll(null);
        assertThat(s.state()).isEqualTo("active");
        assertThat(s.totalSectors()).isEqualTo(required);
        // Linux counts next_free, which has skipped the zeroed area: a full overwrite uses the COW exactly.
        assertThat(s.allocatedSectors()).isEqualTo(required);
        assertThat(s.fillPercent()).isEqualTo(100.0);
    }

    @Test
    void aCowOneChunkSmallerOverflowsOnAFullOverwrite() {
        long required = CowLayout.requiredCowSectors(ORIGIN_SECTORS, CHUNK);
        SnapshotProto.Snapshot s = overwriteAll(required - CHUNK);
        assertThat(s.state()).isEqualTo("invalid");
    }
}
