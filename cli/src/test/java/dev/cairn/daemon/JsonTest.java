package dev.cairn.daemon;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonTest {

    @Test
    void roundTripsEveryType() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("s", "a \"quoted\" \\ line\nwith\ttabs and \u0001 control and ünïcödé");
        m.put("n", 42L);
        m.put("neg", -9_000_000_000L);
        m.put("d", 1.5);
        m.put("t", true);
        m.put("f", false);
        m.put("null", null);
        m.put("list", List.of(1L, "two", List.of(), Map.of()));
        String compact = Json.write(m);
        assertThat(compact).doesNotContain("\n");
        assertThat(Json.parse(compact)).isEqualTo(m);
        assertThat(Json.parse(Json.writePretty(m))).isEqualTo(m);
    }

    @Test
    void keepsKeyOrder() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("z", 1L);
        m.put("a", 2L);
        assertThat(Json.write(m)).isEqualTo("{\"z\":1,\"a\":2}");
        assertThat(Json.parseObject("{\"z\":1,\"a\":2}").keySet()).containsExactly("z", "a");
    }

    @Test
    void parsesNumbersAndEscapes() {
        assertThat(Json.parse("0")).isEqualTo(0L);
        assertThat(Json.parse("-12")).isEqualTo(-12L);
        assertThat(Json.parse("1e3")).isEqualTo(1000.0);
        assertThat(Json.parse("99999999999999999999")).isEqualTo(1e20);
        assertThat(Json.parse("\"\\u00e9\\/\\b\\f\"")).isEqualTo("é/\b\f");
        assertThat(Json.parse(" [ 1 , 2 ] ")).isEqualTo(List.of(1L, 2L));
    }

    @Test
    void rejectsMalformedTextWithOffset() {
        assertThatThrownBy(() -> Json.parse("{\"a\":1,}")).isInstanceOf(Json.ParseException.class)
                .hasMessageContaining("offset 7");
        assertThatThrownBy(() -> Json.parse("[1 2]")).hasMessageContaining("expected ',' or ']'");
        assertThatThrownBy(() -> Json.parse("01")).hasMessageContaining("unexpected text after the value");
        assertThatThrownBy(() -> Json.parse("\"abc")).hasMessageContaining("unterminated string");
        assertThatThrownBy(() -> Json.parse("tru")).hasMessageContaining("unexpected text");
        assertThatThrownBy(() -> Json.parse("")).hasMessageContaining("unexpected end");
        assertThatThrownBy(() -> Json.parse("{\"a\":1,\"a\":2}")).hasMessageContaining("duplicate key \"a\"");
        assertThatThrownBy(() -> Json.parse("\"a\nb\"")).hasMessageContaining("control character");
        assertThatThrownBy(() -> Json.parse("NaN")).isInstanceOf(Json.ParseException.class);
        assertThatThrownBy(() -> Json.parseObject("[]")).hasMessageContaining("expected a JSON object, found an array");
    }

    @Test
    void capsNesting() {
        String deep = "[".repeat(Json.MAX_DEPTH + 2) + "]".repeat(Json.MAX_DEPTH + 2);
        assertThatThrownBy(() -> Json.parse(deep)).hasMessageContaining("nesting deeper than");
        String ok = "[".repeat(Json.MAX_DEPTH) + "]".repeat(Json.MAX_DEPTH);
        assertThat(Json.parse(ok)).isInstanceOf(List.class);
    }

    @Test
    void refusesValuesItCannotRepresent() {
        assertThatThrownBy(() -> Json.write(Double.NaN)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Json.write(new Object())).hasMessageContaining("expected: a JSON type");
    }
}
