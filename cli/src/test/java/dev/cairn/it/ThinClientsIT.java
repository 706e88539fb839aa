package dev.cairn.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.testkit.Poll;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Thin volumes under real file systems and real writers: ext4 on a thin volume mounted through nbdfuse and
 * a loop device, with a thin snapshot whose merge is refused while mounted, deferred, then done, and
 * {@code fsck -n} clean; and 100 thin snapshots taken with {@code cairn snapshot create} while fio writes
 * the origin over NBD, every one of them a point in time of the writer, and {@code thin_check} clean.
 * Needs root (loop devices, mount).
 */
class ThinClientsIT {
    @TempDir Path tmp;
    private CairnProcesses cairn;
    private Path logs;
    private Path state;
    private int port;
    private CairnProcesses.Daemon daemon;
    private Ext4OverNbd ext4;

    @BeforeEach
    void setUp() throws Exception {
        Ext4OverNbd.requireTools("nbdcopy", "fio", "thin_check", "thin_dump");
        logs = Files.createDirectories(tmp.resolve("logs"));
        cairn = new CairnProcesses(logs, tmp);
        state = tmp.resolve("state");
        port = CairnProcesses.freePort();
        daemon = cairn.serve(state, "--nbd-port", Integer.toString(port));
        assertThat(daemon.process.isAlive()).as(daemon.log()).isTrue();
    }

    @AfterEach
    void tearDown() {
        try {
            if (ext4 != null) {
                ext4.close();
            }
        } finally {
            if (cairn != null) {
                cairn.close();
            }
        }
    }

    private String ok(String... args) throws Exception {
        List<String> full = new ArrayList<>(List.of(args));
        full.addAll(List.of("--state-dir", state.toString()));
        return cairn.ok(full.toArray(String[]::new));
    }

    private String uri(String export) {
        return "nbd://127.0.0.1:" + port + "/" + export;
    }

    private String sh(String... cmd) throws Exception {
        CairnProcesses.Result r = Ext4OverNbd.run(logs, cmd);
        assertThat(r.exit()).as(String.join(" ", cmd) + "\n" + r.out()).isZero();
        return r.out();
    }

    private Set<Long> thinCheckAndDumpIds(Path metadata) throws Exception {
        CairnProcesses.Result check = Ext4OverNbd.run(logs, "thin_check", metadata.toString());
        assertThat(check.exit()).as(check.out()).isZero();
        assertThat(check.out()).doesNotContainIgnoringCase("warning");
        Matcher m = Pattern.compile("<device dev_id=\"(\\d+)\"").matcher(sh("thin_dump", metadata.toString()));
        Set<Long> ids = new TreeSet<>();
        while (m.find()) {
            ids.add(Long.parseLong(m.group(1)));
        }
        return ids;
    }

    @Test
    void ext4OnAThinVolumeWithASnapshotMergedOnceUnmounted() throws Exception {
        ok("pool", "create", "p", "--size", "256M");
        ok("thin", "create", "p", "vol", "--virtual-size", "128M");
        // mkfs on a local file, copied in with nbdcopy (which skips the holes): the volume stays thin.
        Path fs = tmp.resolve("fs.img");
        try (RandomAccessFile f = new RandomAccessFile(fs.toFile(), "rw")) {
            f.setLength(128L << 20);
        }
        sh("mkfs.ext4", "-q", "-F", fs.toString());
        CairnProcesses.Result copy = Ext4OverNbd.run(logs, "nbdcopy", fs.toString(), uri("vol"));
        assertThat(copy.exit()).as(copy.out()).isZero();

        ext4 = new Ext4OverNbd(tmp, logs);
        ext4.mount(uri("vol"));
        ext4.sh("dd if=/dev/urandom of=before bs=1M count=4 status=none && sync");
        ok("snapshot", "create", "vol", "s1");
        ext4.sh("dd if=/dev/urandom of=after bs=1M count=8 status=none && rm before && sync");

        CairnProcesses.Result refused = cairn.cli("snapshot", "merge", "s1", "--state-dir", state.toString());
        assertThat(refused.exit()).as(refused.toString()).isEqualTo(1);
        assertThat(refused.err()).contains("origin vol or snapshot s1 is open:", "NBD client", "of export vol", "--defer");
        assertThat(ok("snapshot", "merge", "--defer", "s1")).contains("deferred");
        assertThat(ok("snapshot", "ls")).contains("s1", "merge-deferred");
        assertThat(Files.exists(ext4.mountDir().resolve("after"))).isTrue();

        ext4.umount();
        assertThat(Poll.until(() -> {
            try {
                return ok("snapshot", "ls").contains("No snapshots");
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }, Duration.ofSeconds(60))).as("the deferred merge ran once unmounted\n" + daemon.log()).isTrue();

        Path merged = tmp.resolve("vol.copy");
        Tools.nbdcopy(logs, uri("vol"), merged);
        CairnProcesses.Result fsck = Ext4OverNbd.run(logs, "fsck.ext4", "-n", "-f", merged.toString());
        assertThat(fsck.exit()).as("fsck -n after the merge\n" + fsck.out()).isZero();
        assertThat(sh("debugfs", "-R", "ls -l /", merged.toString())).contains("before").doesNotContain("after");
        assertThat(daemon.stop()).as(daemon.log()).isZero();
        assertThat(thinCheckAndDumpIds(state.resolve("images/p_tmeta.img"))).containsExactly(2L);
    }

    @Test
    void aHundredSnapshotsWhileFioWritesAreEachAPointInTime() throws Exception {
        int blockBytes = 64 << 10;
        int volumeBytes = 8 << 20;
        ok("pool", "create", "p", "--size", "1G", "--metadata-size", "16M");
        ok("thin", "create", "p", "vol", "--virtual-size", Integer.toString(volumeBytes));
        // fio writes the volume front to back, one 64 KiB request at a time, each pass with its own byte: a point
        // in time is then pass k+1 up to some block and pass k after it.
        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger passes = new AtomicInteger();
        AtomicReference<String> writerProblem = new AtomicReference<>();
        Runnable pass = () -> {
            int n = passes.get() + 1;
            try {
                CairnProcesses.Result r = Ext4OverNbd.run(logs, "fio", "--name=w", "--ioengine=nbd", "--uri=" + uri("vol"),
                        "--rw=write", "--bs=" + blockBytes, "--iodepth=1", "--size=" + volumeBytes,
                        "--buffer_pattern=" + String.format("0x%02x", patternOf(n)), "--output-format=terse");
                if (r.exit() != 0) {
                    writerProblem.compareAndSet(null, "fio pass " + n + ": " + r.out());
                    stop.set(true);
                }
            } catch (Exception e) {
                writerProblem.compareAndSet(null, e.toString());
                stop.set(true);
            }
            passes.incrementAndGet();
        };
        pass.run(); // the whole volume written once before the first snapshot
        assertThat(writerProblem.get()).isNull();
        Thread writer = Thread.ofPlatform().name("fio-writer").start(() -> {
            while (!stop.get()) {
                pass.run();
            }
        });
        try {
            for (int i = 0; i < 100; i++) {
                ok("snapshot", "create", "vol", "s" + i);
                assertThat(writerProblem.get()).isNull();
            }
        } finally {
            stop.set(true);
            writer.join(Duration.ofMinutes(2));
        }
        assertThat(writerProblem.get()).isNull();
        assertThat(passes.get()).as("fio kept writing while the snapshots were taken").isGreaterThan(2);

        String ls = ok("snapshot", "ls");
        Path copy = tmp.resolve("snap.copy");
        List<Integer> seen = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            assertThat(ls).containsPattern("(?m)^s" + i + " +vol +active");
            Tools.nbdcopy(logs, uri("s" + i), copy);
            seen.add(checkPointInTime("s" + i, Files.readAllBytes(copy), blockBytes));
        }
        assertThat(seen.stream().distinct().count()).as("the snapshots caught the writer at different points").isGreaterThan(1);
        assertThat(daemon.stop()).as(daemon.log()).isZero();
        assertThat(thinCheckAndDumpIds(state.resolve("images/p_tmeta.img"))).hasSize(101);
    }

    private static int patternOf(int pass) {
        return pass % 250 + 1;
    }

    /** Checks that {@code data} is pass k+1 up to a block and pass k after; returns where (in bytes) they meet. */
    private static int checkPointInTime(String name, byte[] data, int blockBytes) {
        assertThat(data.length).as(name).isEqualTo(8 << 20);
        int first = data[0] & 0xff;
        int previous = first == 1 ? 250 : first - 1;
        int edge = data.length;
        for (int b = 0; b < data.length; b += blockBytes) {
            int v = data[b] & 0xff;
            for (int i = b; i < b + blockBytes; i++) {
                if ((data[i] & 0xff) != v) {
                    throw new AssertionError(name + ": block at byte " + b + " is torn (" + v + " then " + (data[i] & 0xff)
                            + " at byte " + i + ")");
                }
            }
            if (v != first && edge == data.length) {
                edge = b;
            }
            if (edge != data.length) {
                assertThat(v).as(name + ": block at byte " + b + " is after the writer's position " + edge
                        + " (pass " + first + " before it): the pass before").isEqualTo(previous);
            }
        }
        return edge;
    }
}
