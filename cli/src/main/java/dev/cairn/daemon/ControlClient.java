package dev.cairn.daemon;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.util.Map;
import dev.cairn.daemon.proto.Reply;
import dev.cairn.daemon.proto.Request;
import dev.cairn.daemon.proto.Verb;

/**
 * A connection to a daemon's control socket. Failing to connect is a {@link DaemonException} that
 * says how to start a daemon for that state directory.
 *
 * <p>Thread safety: one request at a time; use one client per thread.
 */
public final class ControlClient implements AutoCloseable {
    private final SocketChannel channel;
    private final InputStream in;
    private final OutputStream out;

    private ControlClient(SocketChannel channel) {
        this.channel = channel;
        this.in = Channels.newInputStream(channel);
        this.out = Channels.newOutputStream(channel);
    }

    public static ControlClient connect(StateDir dir) {
        java.nio.file.Path socket = dir.controlSocket();
        String start = "start one with: bin/cairn serve" + (isDefault(dir) ? "" : " --state-dir " + dir.root());
        if (!Files.exists(socket)) {
            throw new DaemonException(ErrorKind.FAILED, "no cairn daemon is running on state directory " + dir.root()
                    + " (no control socket " + socket + ")", start);
        }
        try {
            SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
            try {
                ch.connect(UnixDomainSocketAddress.of(socket));
            } catch (IOException e) {
                ch.close();
                throw e;
            }
            return new ControlClient(ch);
        } catch (IOException e) {
            throw new DaemonException(ErrorKind.FAILED, "cannot reach the cairn daemon at " + socket + ": " + e.getMessage()
                    + (DaemonLock.isHeld(dir) ? "" : " (no daemon holds that state directory)"), start);
        }
    }

    private static boolean isDefault(StateDir dir) {
        return dir.equals(StateDir.resolve(null));
    }

    /**
     * Sends one typed request and returns its typed reply, or throws the daemon's error. The record is
     * written as {@code args} as it is and the reply read from the line's tree, with no plain-map copy on
     * the way (a verb's start-up time is mostly such first-use work).
     */
    public <Q extends Request, R extends Reply> R call(Verb<Q, R> verb, Q request) {
        String line = exchange(verb.name(), Protocol.request(verb.name(), request));
        try {
            return JsonCodec.replyOf(line, verb.reply());
        } catch (JsonCodec.ParseException e) {
            throw new DaemonException(ErrorKind.INTERNAL, "unreadable answer from the daemon to " + verb + ": " + e.getMessage(),
                    "the CLI and the daemon may be different versions: restart the daemon with this cairn");
        }
    }

    /** Sends one request as plain maps and returns its result as plain maps, or throws the daemon's error. */
    public Object call(String verb, Map<String, Object> args) {
        String line = exchange(verb, Protocol.request(verb, args));
        try {
            return Protocol.resultOf(JsonCodec.parseObject(line));
        } catch (JsonCodec.ParseException e) {
            throw new DaemonException(ErrorKind.INTERNAL, "unreadable answer from the daemon: " + e.getMessage());
        }
    }

    /** Writes one request line and reads its answer line. */
    private String exchange(String verb, Map<String, Object> request) {
        try {
            Protocol.writeLine(out, request);
            String line = Protocol.readLine(in);
            if (line == null) {
                throw new DaemonException(ErrorKind.FAILED, "the daemon closed the connection without answering " + verb,
                        "it may have stopped; check its log, then start it again with: bin/cairn serve");
            }
            return line;
        } catch (IOException e) {
            throw new DaemonException(ErrorKind.FAILED, "lost the connection to the daemon during " + verb + ": " + e.getMessage(),
                    "check that the daemon is still running (its log is on its stderr)");
        }
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // nothing left to do with a connection we are dropping
        }
    }
}
