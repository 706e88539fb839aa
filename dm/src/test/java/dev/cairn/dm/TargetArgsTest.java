package dev.cairn.dm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.Sizes;
import java.util.List;
import org.junit.jupiter.api.Test;

class TargetArgsTest {

    private static TargetArgs args(String text) {
        return TargetArgs.parse("t", text);
    }

    @Test
    void readsNumbersSectorsSizesAndKeywords() throws Exception {
        TargetArgs a = args("12 -3 64K 2g 16 W mem:1M file:/x name");
        assertThat(a.nextSector("s")).isEqualTo(12);
        assertThat(a.nextLong("n", -5, 5)).isEqualTo(-3);
        assertThat(a.nextSizeBytes("size")).isEqualTo(64 << 10);
        assertThat(a.nextSizeBytes("size")).isEqualTo(2L << 30);
        assertThat(a.nextPowerOfTwo("chunk", 8)).isEqualTo(16);
        assertThat(a.nextKeyword("dir", "r", "w")).isEqualTo("w");
        assertThat(a.nextDeviceSpec("dev")).isEqualTo("mem:1M");
        assertThat(a.nextDeviceSpec("dev")).isEqualTo("file:/x");
        assertThat(a.nextDeviceSpec("dev")).isEqualTo("name");
        a.expectEnd();
    }

    @Test
    void sizesUseBinaryUnits() throws TableException {
        assertThat(args("512").nextSizeBytes("a")).isEqualTo(512);
        TargetArgs a = args("1k 3M 1T");
        assertThat(a.nextSizeBytes("a")).isEqualTo(1024);
        assertThat(a.nextSizeBytes("a")).isEqualTo(3L << 20);
        assertThat(a.nextSizeBytes("a")).isEqualTo(1L << 40);
        for (String bad : new String[] {"1X", "K", "99999999999T"}) {
            assertThatThrownBy(() -> args(bad).nextSizeBytes("size")).as(bad).isInstanceOf(TableException.class);
        }
    }

    @Test
    void errorsNameTheLineTargetArgumentValueAndExpectation() {
        TargetArgs a = new TargetArgs(null, 2, "striped", List.of("3"));
        assertThatThrownBy(() -> a.nextPowerOfTwo("chunk_sectors", 8))
                .isInstanceOf(TableException.class)
                .hasMessage("line 2: striped: chunk_sectors: 3 (expected: a power of two >= 8)")
                .satisfies(e -> assertThat(((TableException) e).lineNumber()).isEqualTo(2));
    }

    @Test
    void eachReaderRuleHasItsMessage() {
        assertThatThrownBy(() -> args("").next("dev")).hasMessage("t: dev: missing (expected: a value)");
        assertThatThrownBy(() -> args("").nextSector("offset")).hasMessage("t: offset: missing (expected: a sector number)");
        assertThatThrownBy(() -> args("1x").nextSector("offset")).hasMessage("t: offset: 1x (expected: a sector number)");
        assertThatThrownBy(() -> args("-1").nextSector("offset")).hasMessage("t: offset: -1 (expected: a sector number)");
        assertThatThrownBy(() -> args("7").nextLong("n", 0, 5)).hasMessage("t: n: 7 (expected: an integer from 0 to 5)");
        assertThatThrownBy(() -> args("0x1").nextLong("n", 0, 5)).hasMessage("t: n: 0x1 (expected: an integer from 0 to 5)");
        assertThatThrownBy(() -> args("4").nextPowerOfTwo("c", 8)).hasMessage("t: c: 4 (expected: a power of two >= 8)");
        assertThatThrownBy(() -> args("24").nextPowerOfTwo("c", 8)).hasMessage("t: c: 24 (expected: a power of two >= 8)");
        assertThatThrownBy(() -> args("1Q").nextSizeBytes("size"))
                .hasMessage("t: size: 1Q (expected: " + Sizes.EXPECTED + ")");
        assertThatThrownBy(() -> args("x").nextKeyword("dir", "r", "w")).hasMessage("t: dir: x (expected: r or w)");
        assertThatThrownBy(() -> args("x").nextKeyword("f", "a", "b", "c")).hasMessage("t: f: x (expected: one of a, b, c)");
        assertThatThrownBy(() -> args("a b").expectEnd()).hasMessage("t: extra argument: a (expected: no more arguments)");
        assertThatThrownBy(() -> args("a").expectCount("<dev> <offset>", 2))
                .hasMessage("t: argument count: 1 (expected: 2: <dev> <offset>)");
        assertThatThrownBy(() -> args("a b c d").expectCount("", 3, 6, 9))
                .hasMessage("t: argument count: 4 (expected: 3, 6 or 9)");
        assertThatThrownBy(() -> args("a").expectAtLeast(2, "<x> <y>"))
                .hasMessage("t: argument count: 1 (expected: at least 2: <x> <y>)");
    }

    @Test
    void deviceSpecsAreCheckedForSyntax() {
        assertThatThrownBy(() -> args("mem:1000").nextDeviceSpec("dev"))
                .hasMessage("t: dev: mem:1000 (expected: mem:SIZE with a size that is a positive multiple of 4K, such as mem:64M)");
        assertThatThrownBy(() -> args("mem:0").nextDeviceSpec("dev"))
                .hasMessage("t: dev: mem:0 (expected: mem:SIZE with a size that is a positive multiple of 4K, such as mem:64M)");
        assertThatThrownBy(() -> args("file:").nextDeviceSpec("dev")).hasMessage("t: dev: file: (expected: file:PATH with a path)");
        assertThatThrownBy(() -> args("a/b").nextDeviceSpec("dev"))
                .hasMessage("t: dev: a/b (expected: a device name, mem:SIZE or file:PATH)");
        assertThatThrownBy(() -> args("x:y").nextDeviceSpec("dev"))
                .hasMessage("t: dev: x:y (expected: a device name, mem:SIZE or file:PATH)");
    }

    @Test
    void featureGroupsReadTheirCountAndArguments() throws Exception {
        TargetArgs a = args("3 drop_writes x y tail");
        TargetArgs f = a.nextFeatures("#features", 5);
        assertThat(f.all()).containsExactly("drop_writes", "x", "y");
        assertThat(a.next("rest")).isEqualTo("tail");
        a.expectEnd();
        assertThat(args("").nextFeatures("#f", 3).size()).isZero();
        assertThatThrownBy(() -> args("4 a b").nextFeatures("#features", 5))
                .hasMessage("t: #features: 4 (expected: at most 2, the arguments left)");
        assertThatThrownBy(() -> args("12").nextFeatures("#features", 11))
                .hasMessage("t: #features: 12 (expected: an integer from 0 to 11)");
    }
}
