package dev.cairn.daemon.proto;

import dev.cairn.daemon.DaemonException;
import dev.cairn.daemon.ErrorKind;

/** Checks shared by the request records' constructors. */
final class Args {
    private Args() {}

    static String required(String key, String value) {
        if (value == null) {
            throw new DaemonException(ErrorKind.USAGE, "argument " + key + ": missing (expected: a string)");
        }
        return value;
    }
}
