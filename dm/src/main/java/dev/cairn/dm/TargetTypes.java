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
 * The target types a registry knows, by name. {@link #load()} finds every {@link TargetType} on the
 * class path through {@link ServiceLoader}; {@link #with} adds one programmatically (tests, plug-ins).
 *
 * <p>Thread safety: immutable.
 */
public final class TargetTypes {
    private final Map<String, TargetType> byName;

    private TargetTypes(Map<String, TargetType> byName) {
        this.byName = Collections.unmodifiableMap(byName);
    }

    /** Every target type registered in {@code META-INF/services/dev.cairn.dm.TargetType} visible to this class's loader. */
    public static TargetTypes load() {
        return load(TargetTypes.class.getClassLoader());
    }

    /**
     * Every target type visible to {@code loader}. A later duplicate name is ignored. A provider that cannot
     * be loaded (a services entry whose class is missing or broken) is logged and skipped, so one bad
     * plug-in does not take every other target type down with it.
     */
    public static TargetTypes load(ClassLoader loader) {
        Map<String, TargetType> map = new TreeMap<>();
        Iterator<TargetType> it = ServiceLoader.load(TargetType.class, loader).iterator();
        while (true) {
            try {
                if (!it.hasNext()) {
                    break;
                }
                TargetType t = it.next();
                map.putIfAbsent(t.name(), t);
            } catch (ServiceConfigurationError e) {
                System.getLogger(TargetTypes.class.getName()).log(System.Logger.Level.WARNING,
                        "skipping a target type that cannot be loaded: " + e.getMessage(), e);
            }
        }
        return new TargetTypes(map);
    }

    /** Exactly {@code types}. */
    public static TargetTypes of(TargetType... types) {
        Map<String, TargetType> map = new TreeMap<>();
        for (TargetType t : types) {
            map.put(t.name(), t);
        }
        return new TargetTypes(map);
    }

    /** These types plus {@code type} (replacing one of the same name). */
    public TargetTypes with(TargetType type) {
        Map<String, TargetType> map = new TreeMap<>(byName);
        map.put(type.name(), type);
        return new TargetTypes(map);
    }

    public Optional<TargetType> find(String name) {
        return Optional.ofNullable(byName.get(name));
    }

    /** The names, sorted ({@code dmsetup targets}). */
    public List<String> names() {
        return new ArrayList<>(byName.keySet());
    }

    @Override
    public String toString() {
        return "TargetTypes" + byName.keySet();
    }
}
