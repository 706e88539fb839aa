package dev.cairn.cli;

import dev.cairn.daemon.DaemonException;
import dev.cairn.daemon.ErrorKind;
import dev.cairn.daemon.JsonCodec;
import dev.cairn.daemon.Protocol;
import dev.cairn.daemon.proto.ErrorReply;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

/**
 * Base of every verb: runs {@link #run()}, and turns a {@link DaemonException} into a message, a
 * hint and an exit code (2 for usage errors, 1 for everything else). Verbs that talk to a daemon
 * extend {@link ClientCommand}; the ones that do not ({@code image}) extend this directly, so their
 * help has no {@code --state-dir}.
 */
abstract class LocalCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    /** Does the work; returns the exit code (normally 0). */
    abstract int run() throws Exception;

    @Override
    public final Integer call() {
        try {
            return run();
        } catch (DaemonException e) {
            return fail(e);
        } catch (IllegalArgumentException e) {
            return fail(new DaemonException(ErrorKind.USAGE, e.getMessage(), "see: cairn " + verbPath() + " --help"));
        } catch (java.io.IOException e) {
            return fail(new DaemonException(ErrorKind.FAILED, e.toString()));
        } catch (Exception e) {
            return fail(new DaemonException(ErrorKind.INTERNAL, e.toString()));
        }
    }

    int fail(DaemonException e) {
        PrintWriter err = err();
        if (jsonRequested()) {
            // Scripts that asked for JSON get the error as JSON too: {"error":{"kind":..,"message":..,"hint":..}}.
            err.println(JsonCodec.write(new ErrorReply.Printed(Protocol.errorOf(e))));
            err.flush();
            return e.kind() == ErrorKind.USAGE ? CommandLine.ExitCode.USAGE : CommandLine.ExitCode.SOFTWARE;
        }
        err.println("cairn " + verbPath() + ": " + e.getMessage());
        if (!e.hint().isEmpty()) {
            err.println("  hint: " + e.hint());
        }
        err.flush();
        return e.kind() == ErrorKind.USAGE ? CommandLine.ExitCode.USAGE : CommandLine.ExitCode.SOFTWARE;
    }

    /** Whether the verb has {@code --json} and it was given. */
    private boolean jsonRequested() {
        picocli.CommandLine.Model.OptionSpec o = spec.findOption("--json");
        return o != null && Boolean.TRUE.equals(o.getValue());
    }

    /** The verb as typed, e.g. {@code snapshot create}. */
    String verbPath() {
        return spec.qualifiedName(" ").replaceFirst("^cairn ", "");
    }

    PrintWriter out() {
        return spec.commandLine().getOut();
    }

    PrintWriter err() {
        return spec.commandLine().getErr();
    }

    void printJson(Object value) {
        out().print(JsonCodec.writePretty(value));
        out().flush();
    }
}
