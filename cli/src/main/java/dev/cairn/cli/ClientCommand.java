package dev.cairn.cli;

import dev.cairn.daemon.ControlClient;
import java.util.Map;
import picocli.CommandLine.Mixin;

/** A verb that talks to the daemon of {@code --state-dir} (every verb but {@code image}). */
abstract class ClientCommand extends LocalCommand {
    @Mixin StateDirOption stateDirOption;

    /** Sends one request to the daemon of {@code --state-dir}. */
    Object call(String verb, Map<String, Object> args) {
        try (ControlClient client = ControlClient.connect(stateDirOption.resolve())) {
            return client.call(verb, args);
        }
    }
}
