package dev.cairn.nbd.server;

import static dev.cairn.nbd.protocol.NbdConstants.*;
import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.store.MemoryStore;
import dev.cairn.nbd.protocol.NbdWire;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Seeded, bounded fuzzing of the handshake and of transmission: streams built from valid messages,
 * then mutated (bit flips, truncation, random lengths, garbage). Every case must end with the server
 * closing that connection (no hang), without an internal error, without a leaked buffer, and without
 * touching a bystander export. Set {@code -Dnbd.fuzz.seed=N} to replay a run; the seed and the case
 * count are printed.
 */
class FuzzTest {
    private static final int HANDSHAKE_CASES = 1000;
    private static final int TRANSMISSION_CASES = 1000;
    private static final int SIZE = 1 << 20;

    private final long seed = Long.getLong("nbd.fuzz.seed", 0x5eed_2026L);
    private final MemoryStore victim = new MemoryStore("victim", SIZE);
    private final ServerFixture f = new ServerFixture(b -> b.maxInFlightBytesPerConnection(4 << 20))
            .export(NbdExport.of("fuzz", new MemoryStore("fuzz", SIZE)))
            .export(NbdExport.of("ro", new MemoryStore("ro", SIZE)).readOnly(true))
            .export(NbdExport.of("victim-3f9a0c1e", victim));
    private final byte[] victimData = new byte[SIZE];

    @AfterEach
    void tearDown() {
        f.assertQuiescent();
        f.close();
    }

    @Test
    void fuzzHandshakeAndTransmission() throws Exception {
        System.out.println("FuzzTest seed=" + seed + " (replay with -Dnbd.fuzz.seed=" + seed + ")");
        Random rnd = new Random(seed);
        rnd.nextBytes(victimData);
        try (TestClient v = TestClient.connect(f.server)) {
            v.go("victim-3f9a0c1e", false, false);
            v.write(0, 1, 0, victimData);
            assertThat(v.readSimple().error()).isZero();
            v.disconnect();
            assertThat(v.closedByServer()).isTrue();
        }
        int cases = 0;
        try {
            for (int i = 0; i < HANDSHAKE_CASES; i++, cases++) {
                runCase(mutate(rnd, handshakeStream(rnd)), "handshake case " + i);
            }
            for (int i = 0; i < TRANSMISSION_CASES; i++, cases++) {
                runCase(mutate(rnd, transmissionStream(rnd)), "transmission case " + i);
            }
        } finally {
            System.out.println("FuzzTest seed=" + seed + " cases=" + cases);
        }
        assertThat(cases).isEqualTo(HANDSHAKE_CASES + TRANSMISSION_CASES);
        f.assertQuiescent();
        try (TestClient v = TestClient.connect(f.server)) {
            v.go("victim-3f9a0c1e", true, false);
            assertThat(v.readStructuredData(0, 1, 0, SIZE)).as("bystander export unchanged").isEqualTo(victimData);
            v.disconnect();
            assertThat(v.closedByServer()).isTrue();
        }
    }

    private void runCase(byte[] stream, String what) throws Exception {
        try (TestClient c = TestClient.connect(f.server)) {
            Thread sender = Thread.ofVirtual().start(() -> {
                c.trySend(stream);
                c.closeOutput();
            });
            assertThat(c.closedByServer()).as("%s (seed %d): the server must end the connection", what, seed).isTrue();
            sender.join(10_000);
        }
        assertThat(f.server.internalErrors()).as("%s (seed %d)", what, seed).isZero();
    }

    private static byte[] handshakeStream(Random rnd) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteBuffer b = ByteBuffer.allocate(4);
        int flags = rnd.nextInt(8) == 0 ? rnd.nextInt() : FLAG_C_FIXED_NEWSTYLE | (rnd.nextBoolean() ? FLAG_C_NO_ZEROES : 0);
        out.writeBytes(b.putInt(flags).array());
        int n = rnd.nextInt(8);
        for (int i = 0; i < n; i++) {
            out.writeBytes(randomOption(rnd));
        }
        if (rnd.nextBoolean()) {
            out.writeBytes(option(OPT_ABORT, new byte[0]));
        }
        return out.toByteArray();
    }

    private static String randomName(Random rnd) {
        return switch (rnd.nextInt(5)) {
            case 0 -> "fuzz";
            case 1 -> "ro";
            case 2 -> "";
            case 3 -> "x".repeat(rnd.nextInt(5000));
            default -> "n" + rnd.nextInt(100);
        };
    }

    private static byte[] randomOption(Random rnd) {
        int opt = rnd.nextInt(14);
        byte[] data = switch (opt) {
            case OPT_INFO, OPT_GO -> {
                int[] infos = new int[rnd.nextInt(5)];
                for (int i = 0; i < infos.length; i++) {
                    infos[i] = rnd.nextInt(6);
                }
                yield TestClient.infoData(randomName(rnd), infos);
            }
            case OPT_LIST_META_CONTEXT, OPT_SET_META_CONTEXT -> TestClient.metaData(randomName(rnd),
                    rnd.nextBoolean() ? new String[] {META_BASE_ALLOCATION} : new String[] {"base:", "qemu:x"});
            case OPT_EXPORT_NAME -> randomName(rnd).getBytes(StandardCharsets.UTF_8);
            default -> {
                byte[] d = new byte[rnd.nextInt(4) == 0 ? rnd.nextInt(64) : 0];
                rnd.nextBytes(d);
                yield d;
            }
        };
        return option(opt, data);
    }

    private static byte[] option(int opt, byte[] data) {
        ByteBuffer b = ByteBuffer.allocate(16 + data.length);
        NbdWire.putOption(b, opt, data.length);
        return b.put(data).array();
    }

    private static byte[] transmissionStream(Random rnd) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ByteBuffer.allocate(4).putInt(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES).array());
        boolean structured = rnd.nextBoolean();
        String name = rnd.nextInt(4) == 0 ? "ro" : "fuzz";
        if (structured) {
            out.writeBytes(option(OPT_STRUCTURED_REPLY, new byte[0]));
            if (rnd.nextBoolean()) {
                out.writeBytes(option(OPT_SET_META_CONTEXT, TestClient.metaData(name, META_BASE_ALLOCATION)));
            }
        }
        out.writeBytes(option(OPT_GO, TestClient.infoData(name)));
        int n = 1 + rnd.nextInt(24);
        for (int i = 0; i < n; i++) {
            int type = rnd.nextInt(10);
            int flags = rnd.nextInt(4) == 0 ? rnd.nextInt(1 << 16) : 0;
            long offset = switch (rnd.nextInt(4)) {
                case 0 -> rnd.nextLong();
                case 1 -> rnd.nextInt(SIZE);
                default -> (long) rnd.nextInt(SIZE / 512) * 512;
            };
            int length = switch (rnd.nextInt(5)) {
                case 0 -> rnd.nextInt();
                case 1 -> rnd.nextInt(70_000);
                default -> (1 + rnd.nextInt(64)) * 512;
            };
            if (type == CMD_FLUSH && rnd.nextBoolean()) {
                offset = 0;
                length = 0;
            }
            ByteBuffer h = ByteBuffer.allocate(REQUEST_HEADER_BYTES);
            NbdWire.putRequest(h, flags, type, i, offset, length);
            out.writeBytes(h.array());
            if (type == CMD_WRITE) {
                long payload = Integer.toUnsignedLong(length);
                byte[] p = new byte[(int) Math.min(payload, 256 * 1024)];
                rnd.nextBytes(p);
                out.writeBytes(p);
                if (p.length < payload) {
                    break; // a client that vanishes mid-payload
                }
            }
        }
        if (rnd.nextBoolean()) {
            out.writeBytes(ByteBuffer.allocate(REQUEST_HEADER_BYTES).putInt(REQUEST_MAGIC).putInt(CMD_DISC).array());
        }
        return out.toByteArray();
    }

    /** Leaves most streams intact (deep paths), damages the rest. */
    private static byte[] mutate(Random rnd, byte[] s) {
        switch (rnd.nextInt(6)) {
            case 0 -> {
                int flips = 1 + rnd.nextInt(4);
                for (int i = 0; i < flips; i++) {
                    int at = rnd.nextInt(s.length);
                    s[at] ^= (byte) (1 << rnd.nextInt(8));
                }
                return s;
            }
            case 1 -> {
                return java.util.Arrays.copyOf(s, rnd.nextInt(s.length + 1));
            }
            case 2 -> {
                byte[] g = new byte[rnd.nextInt(256)];
                rnd.nextBytes(g);
                ByteArrayOutputStream out = new ByteArrayOutputStream();
                int at = rnd.nextInt(s.length + 1);
                out.write(s, 0, at);
                out.writeBytes(g);
                out.write(s, at, s.length - at);
                return out.toByteArray();
            }
            default -> {
                return s;
            }
        }
    }
}
