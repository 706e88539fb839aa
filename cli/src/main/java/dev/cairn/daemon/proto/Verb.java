package dev.cairn.daemon.proto;

/**
 * A verb of the control protocol: its wire name, its request record and its reply record. The CLI
 * calls a verb with a request and gets its reply back typed; the daemon registers one handler per
 * verb ({@code VerbRegistry}).
 *
 * @param name    the {@code verb} member on the wire, e.g. {@code snapshot-create}
 * @param request the request record
 * @param reply   the reply record
 */
public record Verb<Q extends Request, R extends Reply>(String name, Class<Q> request, Class<R> reply) {
    public static <Q extends Request, R extends Reply> Verb<Q, R> of(String name, Class<Q> request, Class<R> reply) {
        return new Verb<>(name, request, reply);
    }

    @Override
    public String toString() {
        return name;
    }
}
