package dev.cairn.daemon;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonCodecTest {

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
        String compact = JsonCodec.write(m);
        assertThat(compact).doesNotContain("\n");
        assertThat(JsonCodec.parse(compact)).isEqualTo(m);
        assertThat(JsonCodec.parse(JsonCodec.writePretty(m))).isEqualTo(m);
    }

    @Test
    void keepsKeyOrder() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("z", 1L);
        m.put("a", 2L);
        assertThat(JsonCodec.write(m)).isEqualTo("{\"z\":1,\"a\":2}");
        assertThat(JsonCodec.parseObject("{\"z\":1,\"a\":2}").keySet()).containsExactly("z", "a");
    }

    @Test
    void parsesNumbersAndEscapes() {
        assertThat(JsonCodec.parse("0")).isEqualTo(0L);
        assertThat(JsonCodec.parse("-12")).isEqualTo(-12L);
        assertThat(JsonCodec.parse("1e3")).isEqualTo(1000.0);
        assertThatThrownBy(() -> JsonCodec.parse("99999999999999999999")).as("beyond a long")
                .isInstanceOf(JsonCodec.ParseException.class).hasMessageContaining("out of range of long");
        assertThat(JsonCodec.parse("\"\\u00e9\\/\\b\\f\"")).isEqualTo("é/\b\f");
        assertThat(JsonCodec.parse(" [ 1 , 2 ] ")).isEqualTo(List.of(1L, 2L));
    }

    @Test
    void rejectsMalformedTextWithOffset() {
        assertThatThrownBy(() -> JsonCodec.parse("{\"a\":1,}")).isInstanceOf(JsonCodec.ParseException.class)
                .hasMessageContaining("offset 7");
        for (String bad : new String[] {"[1 2]", "01", "\"abc", "tru", "", "\"a\nb\"", "NaN", "{\"a\":1} x", "[1,]"}) {
            assertThatThrownBy(() -> JsonCodec.parse(bad)).as(bad).isInstanceOf(JsonCodec.ParseException.class);
        }
        assertThatThrownBy(() -> JsonCodec.parse("{\"a\":1,\"a\":2}")).hasMessageContaining("Duplicate field 'a'");
        assertThatThrownBy(() -> JsonCodec.parseObject("[]")).hasMessageContaining("expected a JSON object, found an array");
    }

    @Test
    void capsNesting() {
        String deep = "[".repeat(JsonCodec.MAX_DEPTH + 2) + "]".repeat(JsonCodec.MAX_DEPTH + 2);
        assertThatThrownBy(() -> JsonCodec.parse(deep)).isInstanceOf(JsonCodec.ParseException.class)
                .hasMessageContaining("nesting depth");
        String ok = "[".repeat(JsonCodec.MAX_DEPTH) + "]".repeat(JsonCodec.MAX_DEPTH);
        assertThat(JsonCodec.parse(ok)).isInstanceOf(List.class);
    }

    @Test
    void writesTheWireAndFileFormsOfTheOldCodec() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("version", 1L);
        m.put("devices", List.of(Map.of("name", "vol0")));
        m.put("exports", List.of());
        m.put("empty", Map.of());
        m.put("mode", java.time.DayOfWeek.MONDAY);
        assertThat(JsonCodec.write(m)).isEqualTo(
                "{\"version\":1,\"devices\":[{\"name\":\"vol0\"}],\"exports\":[],\"empty\":{},\"mode\":\"MONDAY\"}");
        assertThat(JsonCodec.writePretty(m)).isEqualTo("""
                {
                  "version": 1,
                  "devices": [
                    {
                      "name": "vol0"
                    }
                  ],
                  "exports": [],
                  "empty": {},
                  "mode": "MONDAY"
                }
                """);
    }

    @Test
    void refusesValuesItCannotRepresent() {
        assertThatThrownBy(() -> JsonCodec.write(new Object())).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("expected: a JSON type");
    }
}
