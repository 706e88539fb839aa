package dev.cairn.daemon;

import dev.cairn.daemon.proto.Reply;
import dev.cairn.daemon.proto.Request;
import dev.cairn.daemon.proto.Verb;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The daemon's verbs by wire name, each with its handler. A request off the wire is decoded into its
 * verb's request record (a bad or missing argument is a {@code usage} error that names it) and
 * handed to the handler, whose reply record is the {@code result}.
 *
 * <p>Thread safety: filled by {@link #on} during the start, before the control socket accepts; read-only
 * (and so safe from any thread) after that.
 */
final class VerbRegistry {
    /** Handles one verb. */
    @FunctionalInterface
    interface Handler<Q extends Request, R extends Reply> {
        R handle(Q request);
    }

    /** Handles one verb, or hands it on to the handler registered before ({@code next}). */
    @FunctionalInterface
    interface Around<Q extends Request, R extends Reply> {
        R handle(Q request, Handler<Q, R> next);
    }

    private record Entry<Q extends Request, R extends Reply>(Verb<Q, R> verb, Handler<Q, R> handler) {
        R run(Map<String, Object> args) {
            return handler.handle(decode(verb, args));
        }
    }

    private final Map<String, Entry<?, ?>> byName = new LinkedHashMap<>();

    /** Registers {@code handler} for {@code verb}; a name registered twice is a bug. */
    <Q extends Request, R extends Reply> void on(Verb<Q, R> verb, Handler<Q, R> handler) {
        if (byName.putIfAbsent(verb.name(), new Entry<>(verb, handler)) != null) {
            throw new IllegalStateException("verb " + verb.name() + " registered twice");
        }
    }

    /**
     * Puts {@code around} in front of the handler already registered for {@code verb}: an area that
     * manages some of the devices another area's verb works on (thin volumes under {@code snapshot-create},
     * {@code remove}...) takes those requests and hands the others on. Not registered yet is a bug.
     */
    <Q extends Request, R extends Reply> void around(Verb<Q, R> verb, Around<Q, R> around) {
        Entry<?, ?> e = byName.get(verb.name());
        if (e == null || !e.verb().equals(verb)) {
            throw new IllegalStateException("verb " + verb.name() + " not registered yet");
        }
        @SuppressWarnings("unchecked")
        Handler<Q, R> next = ((Entry<Q, R>) e).handler();
        byName.put(verb.name(), new Entry<>(verb, q -> around.handle(q, next)));
    }

    /** The registered verb names, in registration order. */
    List<String> names() {
        return List.copyOf(byName.keySet());
    }

    /** Runs a typed request (in-process callers and tests). */
    @SuppressWarnings("unchecked")
    <Q extends Request, R extends Reply> R call(Verb<Q, R> verb, Q request) {
        Entry<?, ?> e = byName.get(verb.name());
        if (e == null || !e.verb().equals(verb)) {
            throw unknown(verb.name());
        }
        return ((Entry<Q, R>) e).handler().handle(request);
    }

    /** Runs a request off the wire. */
    Reply dispatch(String verb, Map<String, Object> args) {
        Entry<?, ?> e = byName.get(verb);
        if (e == null) {
            throw unknown(verb);
        }
        return e.run(args == null ? Map.of() : args);
    }

    private static <Q extends Request> Q decode(Verb<Q, ?> verb, Map<String, Object> args) {
        try {
            return JsonCodec.toRecord(args, verb.request());
        } catch (JsonCodec.ArgumentException e) {
            if (e.getCause() instanceof DaemonException d) {
                throw d;
            }
            throw new DaemonException(ErrorKind.USAGE, verb.name() + ": " + e.getMessage(), "see: cairn " + verb.name().replace('-', ' ')
                    + " --help");
        }
    }

    private static DaemonException unknown(String verb) {
        return new DaemonException(ErrorKind.USAGE, "verb: " + verb + " (expected: a verb this daemon knows)",
                "the CLI and the daemon may be different versions: restart the daemon with this cairn");
    }
}
