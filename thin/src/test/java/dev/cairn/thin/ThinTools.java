package dev.cairn.thin;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.BlockDevice;
import dev.cairn.block.Submitter;
import dev.cairn.testkit.Io;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs thin-provisioning-tools (thin_check, thin_dump, thin_restore) on metadata images and parses
 * thin_dump's XML. A missing tool fails the test (CI installs thin-provisioning-tools).
 */
final class ThinTools {
    private ThinTools() {}

    record Result(int exitCode, String stdout, String stderr) {}

    static Result run(String... command) throws IOException, InterruptedException {
        Path tool = Path.of("/usr/sbin", command[0]);
        if (!Files.isExecutable(tool) && !Files.isExecutable(Path.of("/usr/bin", command[0]))) {
            throw new AssertionError(command[0] + " is missing: install thin-provisioning-tools");
        }
        ProcessBuilder pb = new ProcessBuilder(command);
        pb.environment().put("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        byte[] err = p.getErrorStream().readAllBytes();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", command) + " timed out");
        }
        return new Result(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }

    /** Copies a whole device into {@code file} (thin tools need a file; they open it O_DIRECT). */
    static Path image(Submitter submitter, BlockDevice device, Path file) throws IOException {
        long bytes = device.capacitySectors() * 512;
        int chunk = 1 << 20;
        try (var ch = java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.CREATE,
                java.nio.file.StandardOpenOption.WRITE, java.nio.file.StandardOpenOption.TRUNCATE_EXISTING)) {
            for (long off = 0; off < bytes; off += chunk) {
                int n = (int) Math.min(chunk, bytes - off);
                MemorySegment seg = Io.readOk(submitter, device, off / 512, n);
                ch.write(java.nio.ByteBuffer.wrap(seg.toArray(ValueLayout.JAVA_BYTE)), off);
            }
        }
        return file;
    }

    /** thin_check must exit 0 and print nothing but its progress lines. */
    static void assertCheckClean(Path metadata) throws IOException, InterruptedException {
        Result r = run("thin_check", metadata.toString());
        assertThat(r.exitCode()).as("thin_check exit code; stdout:\n%s\nstderr:\n%s", r.stdout(), r.stderr()).isZero();
        for (String line : r.stderr().split("\n")) {
            String l = line.strip();
            if (l.isEmpty()) {
                continue;
            }
            assertThat(l).as("thin_check stderr").isIn("examining superblock", "examining devices tree",
                    "examining mapping tree", "checking space map counts");
        }
    }

    /** A device as thin_dump shows it. */
    record DumpedDevice(long id, long mappedBlocks, long transaction, int creationTime, int snapTime,
            TreeMap<Long, long[]> mappings) {}

    /** The superblock attributes and devices of a thin_dump. */
    record Dump(String superblock, List<DumpedDevice> devices) {
        String attr(String name) {
            Matcher m = Pattern.compile(" " + name + "=\"([^\"]*)\"").matcher(superblock);
            return m.find() ? m.group(1) : null;
        }
    }

    private static final Pattern DEVICE = Pattern.compile("<device dev_id=\"(\\d+)\" mapped_blocks=\"(\\d+)\" transaction=\"(\\d+)\" creation_time=\"(\\d+)\" snap_time=\"(\\d+)\">");
    private static final Pattern RANGE = Pattern.compile("<range_mapping origin_begin=\"(\\d+)\" data_begin=\"(\\d+)\" length=\"(\\d+)\" time=\"(\\d+)\"/>");
    private static final Pattern SINGLE = Pattern.compile("<single_mapping origin_block=\"(\\d+)\" data_block=\"(\\d+)\" time=\"(\\d+)\"/>");

    /** Parses thin_dump's XML: every mapping as virtual block to {data block, time}. */
    static Dump parseDump(String xml) {
        String[] lines = xml.split("\n");
        String sb = lines[0];
        List<DumpedDevice> devices = new ArrayList<>();
        DumpedDevice cur = null;
        for (String raw : lines) {
            String line = raw.strip();
            Matcher m;
            if ((m = DEVICE.matcher(line)).matches()) {
                cur = new DumpedDevice(Long.parseLong(m.group(1)), Long.parseLong(m.group(2)), Long.parseLong(m.group(3)),
                        Integer.parseInt(m.group(4)), Integer.parseInt(m.group(5)), new TreeMap<>());
                devices.add(cur);
            } else if ((m = RANGE.matcher(line)).matches()) {
                long v = Long.parseLong(m.group(1));
                long d = Long.parseLong(m.group(2));
                long n = Long.parseLong(m.group(3));
                long t = Long.parseLong(m.group(4));
                for (long i = 0; i < n; i++) {
                    cur.mappings().put(v + i, new long[] {d + i, t});
                }
            } else if ((m = SINGLE.matcher(line)).matches()) {
                cur.mappings().put(Long.parseLong(m.group(1)), new long[] {Long.parseLong(m.group(2)), Long.parseLong(m.group(3))});
            }
        }
        return new Dump(sb, devices);
    }
}
