package dev.cairn.daemon;

import java.util.Map;

/**
 * Runs a request on an in-process daemon as the control socket does (wire arguments decoded into the
 * verb's request record) and returns its reply as the client reads it off the wire: plain maps, lists
 * and scalars. Tests that assert the wire format use this.
 */
final class Wire {
    private Wire() {}

    static Object call(Daemon daemon, String verb, Map<String, Object> args) {
        return JsonCodec.parse(JsonCodec.write(daemon.handle(verb, args)));
    }
}
