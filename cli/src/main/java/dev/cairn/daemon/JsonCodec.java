package dev.cairn.daemon;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.exc.ValueInstantiationException;
import com.fasterxml.jackson.databind.type.LogicalType;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.util.List;
import java.util.Map;

/**
 * The JSON of the control protocol and the state file, through Jackson: objects become
 * {@code LinkedHashMap<String, Object>} (key order kept, so files diff well), arrays {@code List<Object>},
 * integers {@code Long} (an integer beyond a long is refused), other numbers {@code Double}; strings,
 * booleans and {@code null} as themselves. Writing takes those types, enums (as their names) and records.
 *
 * <p>Parsing is strict: one value per text, duplicate keys refused, nesting capped at {@value #MAX_DEPTH}
 * so hostile input cannot exhaust the stack; errors name the offset. The compact form is the protocol's
 * framing (one object per line); the pretty form ({@code "key": value}, two-space indent) is for files
 * and {@code --json} output.
 *
 * <p>Thread safety: stateless; Jackson's mapper and writers are thread-safe once built.
 */
public final class JsonCodec {
    static final int MAX_DEPTH = 64;

    private static final ObjectMapper MAPPER = JsonMapper.builder(JsonFactory.builder()
                    .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(MAX_DEPTH).build())
                    .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
                    .build())
            .enable(DeserializationFeature.USE_LONG_FOR_INTS)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            // Request records are typed: a number is not a string, a string not a number or a boolean.
            .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
            .withCoercionConfig(LogicalType.Textual, c -> c.setCoercion(CoercionInputShape.Integer, CoercionAction.Fail)
                    .setCoercion(CoercionInputShape.Float, CoercionAction.Fail)
                    .setCoercion(CoercionInputShape.Boolean, CoercionAction.Fail))
            .build();

    /** Replies: members a newer daemon added are ignored. */
    private static final ObjectReader LENIENT = MAPPER.reader().without(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    private static final ObjectWriter PRETTY = MAPPER.writer(new DefaultPrettyPrinter(Separators.createDefaultInstance()
                    .withObjectFieldValueSpacing(Separators.Spacing.AFTER)
                    .withObjectEmptySeparator("")
                    .withArrayEmptySeparator(""))
            .withArrayIndenter(new DefaultIndenter("  ", "\n"))
            .withObjectIndenter(new DefaultIndenter("  ", "\n")));

    private JsonCodec() {}

    /** Thrown for malformed JSON text. */
    public static final class ParseException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        ParseException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /** A request record's members could not be read from the wire's {@code args} (the message names the member). */
    public static final class ArgumentException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        ArgumentException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * Reads a request record from its {@code args} object, strictly: a member of the wrong type or one
     * the record does not have is an {@link ArgumentException}; an exception of the record's constructor
     * (a missing argument) is its cause.
     */
    public static <T> T toRecord(Map<String, Object> args, Class<T> type) {
        try {
            return MAPPER.convertValue(args, type);
        } catch (IllegalArgumentException e) {
            Throwable c = e.getCause();
            if (c instanceof ValueInstantiationException vi && vi.getCause() instanceof RuntimeException r) {
                throw new ArgumentException(r.getMessage(), r);
            }
            if (c instanceof UnrecognizedPropertyException u) {
                throw new ArgumentException("argument " + u.getPropertyName() + ": unknown (expected: one of "
                        + u.getKnownPropertyIds() + ")", u);
            }
            if (c instanceof JsonMappingException d) {
                String member = d.getPath().isEmpty() ? "" : "argument " + d.getPath().getLast().getFieldName() + ": ";
                throw new ArgumentException(member + firstLine(d.getOriginalMessage()), d);
            }
            throw new ArgumentException(firstLine(e.getMessage()), e);
        }
    }

    /** Reads a reply record from the {@code result} of a response; members it does not know are skipped. */
    public static <T> T fromResult(Object result, Class<T> type) {
        try {
            return LENIENT.treeToValue(MAPPER.<com.fasterxml.jackson.databind.JsonNode>valueToTree(result), type);
        } catch (java.io.IOException | IllegalArgumentException e) {
            throw new ParseException("result: " + firstLine(e.getMessage()) + " (expected: a " + type.getSimpleName() + ")", e);
        }
    }

    /**
     * The reply of a response line: its {@code result} as a {@code type}, or the {@link DaemonException}
     * its {@code error} carries. Read from the line's tree, with no plain-map copy.
     */
    public static <T> T replyOf(String line, Class<T> type) {
        com.fasterxml.jackson.databind.JsonNode response;
        try {
            response = MAPPER.readTree(line);
        } catch (JacksonException e) {
            throw new ParseException(firstLine(e.getOriginalMessage()), e);
        }
        if (response == null || !response.isObject()) {
            throw new ParseException("expected a JSON object", null);
        }
        if (response.path("ok").asBoolean(false)) {
            try {
                return LENIENT.treeToValue(response.get("result"), type);
            } catch (JacksonException | IllegalArgumentException e) {
                throw new ParseException("result: " + firstLine(e.getMessage()) + " (expected: a " + type.getSimpleName() + ")", e);
            }
        }
        com.fasterxml.jackson.databind.JsonNode error = response.path("error");
        if (error.isObject()) {
            throw new DaemonException(ErrorKind.fromWire(error.path("kind").asText()), error.path("message").asText(),
                    error.path("hint").asText(""));
        }
        throw new DaemonException(ErrorKind.INTERNAL, "malformed response from the daemon: " + line);
    }

    /** Compact JSON on one line (the control protocol's framing is one object per line). */
    public static String write(Object value) {
        try {
            return MAPPER.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("value: " + e.getOriginalMessage() + " (expected: a JSON type)", e);
        }
    }

    /** Indented JSON, ending with a newline, for files and {@code --json} output people read. */
    public static String writePretty(Object value) {
        try {
            return PRETTY.writeValueAsString(value) + "\n";
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("value: " + e.getOriginalMessage() + " (expected: a JSON type)", e);
        }
    }

    /** Parses one JSON value; the whole text must be that value (surrounding whitespace allowed). */
    public static Object parse(String text) {
        try {
            return MAPPER.readValue(text, Object.class);
        } catch (JacksonException e) {
            JsonLocation at = e.getLocation();
            String where = at == null || at.getCharOffset() < 0 ? "" : " at offset " + at.getCharOffset();
            throw new ParseException(firstLine(e.getOriginalMessage()) + where, e);
        }
    }

    /** Parses a JSON object; anything else is a {@link ParseException}. */
    @SuppressWarnings("unchecked")
    public static Map<String, Object> parseObject(String text) {
        Object value = parse(text);
        if (!(value instanceof Map<?, ?>)) {
            throw new ParseException("expected a JSON object, found " + typeName(value), null);
        }
        return (Map<String, Object>) value;
    }

    static String typeName(Object value) {
        return switch (value) {
            case null -> "null";
            case String s -> "a string";
            case Boolean b -> "a boolean";
            case Number n -> "a number";
            case Map<?, ?> m -> "an object";
            case List<?> l -> "an array";
            default -> value.getClass().getSimpleName();
        };
    }

    private static String firstLine(String message) {
        if (message == null) {
            return "malformed JSON";
        }
        int nl = message.indexOf('\n');
        return nl < 0 ? message : message.substring(0, nl);
    }
}
