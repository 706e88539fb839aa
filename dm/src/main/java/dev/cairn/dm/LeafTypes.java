package dev.cairn.dm;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.TreeMap;

/**
 * The leaf types a registry knows, by scheme. {@link #load()} finds every {@link LeafType} on the
 * class path through {@link ServiceLoader}; {@link #with} adds or replaces one (tests, plug-ins).
 *
 * <p>Thread safety: immutable.
 */
public final class LeafTypes {
    private final Map<String, LeafType> byScheme;

    private LeafTypes(Map<String, LeafType> byScheme) {
        this.byScheme = Collections.unmodifiableMap(byScheme);
    }

    /** Every leaf type registered in {@code META-INF/services/dev.cairn.dm.LeafType} visible to this class's loader. */
    public static LeafTypes load() {
        return Installed.TYPES;
    }

    /**
     * Every leaf type visible to {@code loader}. A later duplicate scheme is ignored; a provider that cannot
     * be loaded is logged and skipped.
     */
    public static LeafTypes load(ClassLoader loader) {
        Map<String, LeafType> map = new TreeMap<>();
        Iterator<LeafType> it = ServiceLoader.load(LeafType.class, loader).iterator();
        while (true) {
            try {
                if (!it.hasNext()) {
                    break;
                }
                LeafType t = it.next();
                map.putIfAbsent(t.scheme(), t);
            } catch (ServiceConfigurationError e) {
                System.getLogger(LeafTypes.class.getName()).log(System.Logger.Level.WARNING,
                        "skipping a leaf type that cannot be loaded: " + e.getMessage(), e);
            }
        }
        return new LeafTypes(map);
    }

    /** Exactly {@code types}. */
    public static LeafTypes of(LeafType... types) {
        Map<String, LeafType> map = new TreeMap<>();
        for (LeafType t : types) {
            map.put(t.scheme(), t);
        }
        return new LeafTypes(map);
    }

    /** These types plus {@code type} (replacing one of the same scheme). */
    public LeafTypes with(LeafType type) {
        Map<String, LeafType> map = new TreeMap<>(byScheme);
        map.put(type.scheme(), type);
        return new LeafTypes(map);
    }

    /** The type of {@code spec}'s scheme (the text before its first colon), if known. */
    public Optional<LeafType> forSpec(String spec) {
        String scheme = schemeOf(spec);
        return scheme == null ? Optional.empty() : Optional.ofNullable(byScheme.get(scheme));
    }

    public Optional<LeafType> find(String scheme) {
        return Optional.ofNullable(byScheme.get(scheme));
    }

    /** The schemes, sorted. */
    public List<String> schemes() {
        return new ArrayList<>(byScheme.keySet());
    }

    /**
     * The syntax of every type for messages: {@code mem:SIZE} and {@code file:PATH} first (the built-in
     * ones), then the others by scheme, as {@code "mem:SIZE, file:PATH or rbd:POOL/IMAGE"}.
     */
    public String syntaxSummary() {
        List<String> out = new ArrayList<>();
        find("mem").ifPresent(t -> out.add(t.syntax()));
        find("file").ifPresent(t -> out.add(t.syntax()));
        for (LeafType t : byScheme.values()) {
            if (!t.scheme().equals("mem") && !t.scheme().equals("file")) {
                out.add(t.syntax());
            }
        }
        if (out.size() <= 1) {
            return String.join("", out);
        }
        return String.join(", ", out.subList(0, out.size() - 1)) + " or " + out.getLast();
    }

    /** The scheme of a reference ({@code nbd+unix} for {@code nbd+unix:///x}), or null when it has none. */
    static String schemeOf(String spec) {
        int colon = spec.indexOf(':');
        if (colon <= 0) {
            return null;
        }
        for (int i = 0; i < colon; i++) {
            char c = spec.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9' && i > 0) || ((c == '+' || c == '-' || c == '.') && i > 0);
            if (!ok) {
                return null;
            }
        }
        return spec.substring(0, colon);
    }

    @Override
    public String toString() {
        return "LeafTypes" + byScheme.keySet();
    }

    /** Lazily loaded once: syntax checks of table arguments run with no registry at hand. */
    private static final class Installed {
        static final LeafTypes TYPES = load(LeafTypes.class.getClassLoader());
    }
}
