package dev.cairn.dm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class TableParserTest {

    @Test
    void parsesLinesSkippingCommentsAndBlankLines() throws Exception {
        List<TableLine> lines = TableParser.parse("""
                # a comment
                0 100 linear base 0

                   # indented comment
                100  28\tstriped 2 8 a 0 b 0
                128 8 zero
                """);
        assertThat(lines).containsExactly(
                new TableLine(2, 0, 100, "linear", List.of("base", "0")),
                new TableLine(5, 100, 28, "striped", List.of("2", "8", "a", "0", "b", "0")),
                new TableLine(6, 128, 8, "zero", List.of()));
        assertThat(TableParser.format(lines)).isEqualTo("0 100 linear base 0\n100 28 striped 2 8 a 0 b 0\n128 8 zero\n");
    }

    @Test
    void acceptsCrLfAndNoFinalNewline() throws Exception {
        assertThat(TableParser.parse("0 8 zero\r\n8 8 error")).extracting(TableLine::lineNumber).containsExactly(1, 2);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "''                                    | table: empty (expected: at least one line <start> <length> <target> [<args>...])",
        "'# only a comment'                    | table: empty (expected: at least one line <start> <length> <target> [<args>...])",
        "'0 100'                               | line 1: line: \"0 100\" (expected: <start> <length> <target> [<args>...])",
        "'x 100 zero'                          | line 1: start: x (expected: a sector number)",
        "'-1 100 zero'                         | line 1: start: -1 (expected: a sector number)",
        "'0 0 zero'                            | line 1: length: 0 (expected: a number of sectors > 0)",
        "'0 1.5 zero'                          | line 1: length: 1.5 (expected: a number of sectors > 0)",
        "'8 8 zero'                            | line 1: start: 8 (expected: 0, the first line starts the device)",
        "'0 8 zero\n16 8 zero'                 | line 2: start: 16 (expected: 8, the end of line 1)",
        "'0 8 zero\n4 8 zero'                  | line 2: start: 4 (expected: 8, the end of line 1)",
        "'0 8 zero\n\n# c\n8 8 zero\n8 8 zero' | line 5: start: 8 (expected: 16, the end of line 4)",
        "'0 99999999999999999999 zero'         | line 1: length: 99999999999999999999 (expected: a number of sectors > 0)",
        "'0 18014398509481983 zero\n18014398509481983 1 zero' | line 2: length: 1 (expected: at most 0, so the device stays within 18014398509481983 sectors (2^63 - 512 bytes))",
    })
    void rejectsWithExactMessages(String text, String message) {
        assertThatThrownBy(() -> TableParser.parse(text.replace("\\n", "\n")))
                .isInstanceOf(TableException.class)
                .hasMessage(message);
    }

    /** Issue 22 item 4: {@code 0 9223372036854775807 zero} was accepted and its size in bytes wrapped to -512. */
    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "'0 9223372036854775807 zero'          | line 1: length: 9223372036854775807 (expected: at most 18014398509481983, so the device stays within 18014398509481983 sectors (2^63 - 512 bytes))",
        "'0 18014398509481984 zero'            | line 1: length: 18014398509481984 (expected: at most 18014398509481983, so the device stays within 18014398509481983 sectors (2^63 - 512 bytes))",
        "'0 8 zero\n8 18014398509481976 zero' | line 2: length: 18014398509481976 (expected: at most 18014398509481975, so the device stays within 18014398509481983 sectors (2^63 - 512 bytes))",
    })
    void sizesThatWrapAreRefused(String text, String message) {
        assertThatThrownBy(() -> TableParser.parse(text.replace("\\n", "\n")))
                .isInstanceOf(TableException.class)
                .hasMessage(message);
    }

    @Test
    void theLargestDeviceIsAccepted() throws Exception {
        List<TableLine> lines = TableParser.parse("0 8 zero\n8 18014398509481975 zero");
        long capacity = lines.getLast().startSector() + lines.getLast().lengthSectors();
        assertThat(capacity).isEqualTo(dev.cairn.block.Sectors.MAX_DEVICE_SECTORS);
        assertThat(dev.cairn.block.Sectors.toBytes(capacity)).isEqualTo(Long.MAX_VALUE - 511);
    }

    @Test
    void errorCarriesItsLineNumber() {
        assertThatThrownBy(() -> TableParser.parse("0 8 zero\n\n9 8 zero"))
                .isInstanceOfSatisfying(TableException.class, e -> assertThat(e.lineNumber()).isEqualTo(3));
    }
}
