package dev.cairn.cli;

import java.util.List;
import java.util.Map;

/** Small helpers to read the daemon's JSON answers. */
final class Text {
    private Text() {}

    @SuppressWarnings("unchecked")
    static Map<String, Object> map(Object o) {
        return (Map<String, Object>) o;
    }

    @SuppressWarnings("unchecked")
    static List<Object> list(Object o) {
        return o == null ? List.of() : (List<Object>) o;
    }

    static List<Map<String, Object>> maps(Object o) {
        return list(o).stream().map(Text::map).toList();
    }

    static long num(Object o) {
        return o instanceof Number n ? n.longValue() : 0;
    }

    static List<String> strs(Object o) {
        return list(o).stream().map(Text::str).toList();
    }

    static String str(Object o) {
        return o == null ? "" : o.toString();
    }
}
