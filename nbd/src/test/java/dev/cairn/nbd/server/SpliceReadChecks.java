package dev.cairn.nbd.server;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.IntToLongFunction;
import java.util.function.LongSupplier;

/**
 * Client-side checks shared by the splice read tests (file and memory exports): reads of an export whose
 * whole image the test knows, compared byte for byte. The image has data in its first half with a hole at
 * [4 MiB, 6 MiB), and its second half is a hole.
 */
final class SpliceReadChecks {
    static final int KIB = 1024;
    static final int MIB = 1 << 20;

    private SpliceReadChecks() {}

    /**
     * 40 simple reads of 64 KiB to 1 MiB at random offsets, then structured 1 MiB reads across the holes'
     * edges; {@code referencedPieces} (the store's counter) must grow in both.
     */
    static void simpleThenStructuredReads(Path socket, String export, byte[] image, SplittableRandom rnd,
            LongSupplier referencedPieces) {
        long before = referencedPieces.getAsLong();
        try (TestClient simple = TestClient.connectUnix(socket)) {
            simple.go(export, false, false);
            for (int i = 0; i < 40; i++) {
                int length = (64 * KIB) << rnd.nextInt(5);
                long offset = (long) rnd.nextInt((image.length - length) / 4096) * 4096;
                assertThat(simple.readSimpleData(i, offset, length)).as("read %d at %d+%d", i, offset, length)
                        .isEqualTo(slice(image, offset, length));
            }
            simple.disconnect();
        }
        long afterSimple = referencedPieces.getAsLong();
        assertThat(afterSimple - before).as("reads answered by reference").isPositive();

        // structured, no base:allocation: the server reports holes itself, data chunks are referenced
        try (TestClient structured = TestClient.connectUnix(socket)) {
            structured.go(export, true, false);
            long[] offsets = {3 * MIB + 512 * KIB, 4 * MIB, 6 * MIB - 64 * KIB, image.length / 2 - 256 * KIB, 0};
            for (int i = 0; i < offsets.length; i++) {
                assertThat(structured.readStructuredData(0, 100 + i, offsets[i], MIB)).as("structured read at %d", offsets[i])
                        .isEqualTo(slice(image, offsets[i], MIB));
            }
            structured.disconnect();
        }
        assertThat(referencedPieces.getAsLong()).isGreaterThan(afterSimple);
    }

    /** Ten simple 1 MiB reads at random offsets over loopback TCP, each compared with the image. */
    static void tcpReads(int port, String export, byte[] image, SplittableRandom rnd) {
        try (TestClient c = TestClient.connectTcp(port)) {
            c.go(export, false, false);
            for (int i = 0; i < 10; i++) {
                long offset = (long) rnd.nextInt((image.length - MIB) / 4096) * 4096;
                assertThat(c.readSimpleData(i, offset, MIB)).as("read %d at %d", i, offset)
                        .isEqualTo(slice(image, offset, MIB));
            }
            c.disconnect();
        }
    }

    /**
     * Reads {@code count} simple READ replies of {@code length} bytes, in whatever order they come, pausing
     * {@code pauseMillis} after each (a slow client), and compares each with {@code expected}'s bytes at the
     * offset its cookie was sent for.
     */
    static void readRepliesSlowly(TestClient c, int count, int length, IntToLongFunction offsetOfCookie,
            byte[] expected, long pauseMillis) throws InterruptedException {
        for (int i = 0; i < count; i++) {
            TestClient.Simple s = c.readSimple();
            assertThat(s.error()).isZero();
            byte[] got = new byte[length];
            c.read(length).get(got);
            assertThat(got).as("reply %d", s.cookie()).isEqualTo(slice(expected, offsetOfCookie.applyAsLong((int) s.cookie()), length));
            Thread.sleep(pauseMillis);
        }
    }

    static byte[] slice(byte[] image, long offset, int length) {
        return Arrays.copyOfRange(image, (int) offset, (int) offset + length);
    }
}
