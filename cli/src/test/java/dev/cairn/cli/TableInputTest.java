package dev.cairn.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class TableInputTest {
    @Test
    void relativeFileReferencesBecomeAbsolute() {
        Path cwd = Path.of("/home/u/work");
        assertThat(TableInput.absolutizeFileRefs("0 8 linear file:a.img 0\n8 8 linear file:/abs/b.img 0\n", cwd))
                .isEqualTo("0 8 linear file:/home/u/work/a.img 0\n8 8 linear file:/abs/b.img 0\n");
        assertThat(TableInput.absolutizeFileRefs("0 8 snapshot o file:../c.cow P 8", cwd))
                .isEqualTo("0 8 snapshot o file:/home/u/c.cow P 8");
        // Only whole tokens: a device called "profile:x" is not touched (and "file:" alone is left for dm to refuse).
        assertThat(TableInput.absolutizeFileRefs("0 8 linear xfile:a 0", cwd)).isEqualTo("0 8 linear xfile:a 0");
        assertThat(TableInput.absolutizeFileRefs("0 8 linear file: 0", cwd)).isEqualTo("0 8 linear file: 0");
    }

    @Test
    void exactlyOneSource() throws Exception {
        TableInput t = new TableInput();
        assertThatThrownBy(() -> t.read(null, System.in)).hasMessageContaining("table: missing");
        t.text = "0 8 zero";
        assertThat(t.read(null, System.in)).isEqualTo("0 8 zero");
        assertThatThrownBy(() -> t.read("-", System.in)).hasMessageContaining("given 2 times");
        TableInput stdin = new TableInput();
        assertThat(stdin.read("-", new ByteArrayInputStream("0 8 error\n".getBytes(StandardCharsets.UTF_8)))).isEqualTo("0 8 error\n");
        assertThatThrownBy(() -> stdin.read("/no/such/table", System.in)).hasMessageContaining("expected: an existing file");
    }
}
