package dev.cairn.cli;

import picocli.CommandLine.Option;

/** {@code --json} on read verbs: the daemon's structured answer instead of dmsetup-style text. */
final class JsonOption {
    @Option(names = "--json", description = "Print JSON instead of text.")
    boolean json;
}
