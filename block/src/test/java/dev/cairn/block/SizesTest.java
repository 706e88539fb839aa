package dev.cairn.block;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class SizesTest {
    @Test
    void parsesSuffixes() {
        assertThat(Sizes.parseBytes("s", "4096")).isEqualTo(4096);
        assertThat(Sizes.parseBytes("s", "512K")).isEqualTo(512 * 1024);
        assertThat(Sizes.parseBytes("s", "64m")).isEqualTo(64L << 20);
        assertThat(Sizes.parseBytes("s", "1G")).isEqualTo(1L << 30);
        assertThat(Sizes.parseBytes("s", "1GiB")).isEqualTo(1L << 30);
        assertThat(Sizes.parseBytes("s", "2TB")).isEqualTo(2L << 40);
        assertThat(Sizes.parseBytes("s", "100B")).isEqualTo(100);
        assertThat(Sizes.parseBytes("s", " 3P ")).isEqualTo(3L << 50);
        assertThat(Sizes.parseBytes("s", "8388607T")).isEqualTo(8388607L << 40);
    }

    @Test
    void acceptsFractionsWithASuffixAsLvmDoes() {
        assertThat(Sizes.parseBytes("s", "1.5G")).isEqualTo(3L << 29);
        assertThat(Sizes.parseBytes("s", "1.5g")).isEqualTo(3L << 29);
        assertThat(Sizes.parseBytes("s", "0.5MiB")).isEqualTo(512 * 1024);
        assertThat(Sizes.parseBytes("s", ".5K")).isEqualTo(512);
        assertThat(Sizes.parseBytes("s", "2.K")).isEqualTo(2048);
        assertThat(Sizes.parseBytes("s", "2.25TB")).isEqualTo(9L << 38);
        assertThat(Sizes.parse("1.1K")).as("not whole bytes").isEmpty();
        assertThat(Sizes.parse("1.5")).as("a fraction of a byte needs a suffix").isEmpty();
    }

    @Test
    void parseSaysEmptyInsteadOfThrowing() {
        assertThat(Sizes.parse("1k")).hasValue(1024);
        assertThat(Sizes.parse("1T")).hasValue(1L << 40);
        assertThat(Sizes.parse("9223372036854775807")).hasValue(Long.MAX_VALUE);
        for (String bad : new String[] {"", "K", "iB", "5iB", "1X", " 1K", "1 K", "+1", "8388608T",
                "9223372036854775808", "99999999999999999999"}) {
            assertThat(Sizes.parse(bad)).as(bad).isEmpty();
        }
    }

    @Test
    void rejectsNonsense() {
        for (String bad : new String[] {"", "G", "-1", "1.5", "1.1K", "1.G.5", "1,5G", "1e3K", ".K", "1X", "99999999999T",
                "8388608.5T"}) {
            assertThatThrownBy(() -> Sizes.parseBytes("SIZE", bad)).as(bad)
                    .hasMessage("SIZE: " + bad + " (expected: " + Sizes.EXPECTED + ")");
        }
    }

    @Test
    void printsForPeople() {
        assertThat(Sizes.human(512)).isEqualTo("512 B");
        assertThat(Sizes.human(1L << 30)).isEqualTo("1.0 GiB");
        assertThat(Sizes.human(1536)).isEqualTo("1.5 KiB");
    }
}
