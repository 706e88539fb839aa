package dev.cairn.cli;

import java.lang.reflect.Proxy;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * SIGTERM and SIGINT handling for {@code serve}: run a graceful stop and let {@code main} exit 0,
 * instead of the JVM's default (shutdown hooks, then exit status 143 or 130); SIGHUP reloads TLS credentials.
 *
 * <p>{@code sun.misc.Signal} is the only way the JDK offers; it is called reflectively because javac
 * warns about it as internal API with no way to silence the warning. Where it is missing the
 * caller's shutdown hook still stops the daemon gracefully, only the exit status differs.
 */
final class Signals {
    private static final Logger LOG = LoggerFactory.getLogger(Signals.class);

    private Signals() {}

    /** Runs {@code action} (on a JDK signal thread) when SIGTERM or SIGINT arrives; false if not possible. */
    static boolean onTerminate(Runnable action) {
        return on(action, "TERM", "INT");
    }

    /**
     * Runs {@code action} when SIGHUP arrives, instead of the JVM's default (which shuts down); false if not
     * possible. {@code serve} uses it to reload TLS certificates, as nbdkit and nginx do.
     */
    static boolean onHangup(Runnable action) {
        return on(action, "HUP");
    }

    private static boolean on(Runnable action, String... signals) {
        try {
            Class<?> signal = Class.forName("sun.misc.Signal");
            Class<?> handlerType = Class.forName("sun.misc.SignalHandler");
            Object handler = Proxy.newProxyInstance(Signals.class.getClassLoader(), new Class<?>[] {handlerType},
                    (proxy, method, args) -> switch (method.getName()) {
                        case "handle" -> {
                            LOG.info("received SIG{}", args[0] == null ? "?" : signal.getMethod("getName").invoke(args[0]));
                            action.run();
                            yield null;
                        }
                        case "hashCode" -> System.identityHashCode(proxy);
                        case "equals" -> proxy == args[0];
                        case "toString" -> "cairn signal handler";
                        default -> null;
                    });
            for (String name : signals) {
                Object sig = signal.getConstructor(String.class).newInstance(name);
                signal.getMethod("handle", signal, handlerType).invoke(null, sig, handler);
            }
            return true;
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            LOG.debug("no signal handling ({}); relying on the shutdown hook", e.toString());
            return false;
        }
    }
}
