package dev.cairn.cli;

import dev.cairn.daemon.ControlClient;
import dev.cairn.daemon.proto.Reply;
import dev.cairn.daemon.proto.Request;
import dev.cairn.daemon.proto.Verb;
import picocli.CommandLine.Mixin;

/** A verb that talks to the daemon of {@code --state-dir} (every verb but {@code image}). */
abstract class ClientCommand extends LocalCommand {
    @Mixin StateDirOption stateDirOption;

    /** Sends one request to the daemon of {@code --state-dir} and returns its typed reply. */
    <Q extends Request, R extends Reply> R call(Verb<Q, R> verb, Q request) {
        try (ControlClient client = ControlClient.connect(stateDirOption.resolve())) {
            return client.call(verb, request);
        }
    }
}
