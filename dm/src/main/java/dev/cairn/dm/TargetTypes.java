package dev.cairn.dm;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
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

    /** Every target type visible to {@code loader}. A later duplicate name is ignored. */
    public static TargetTypes load(ClassLoader loader) {
        Map<String, TargetType> map = new TreeMap<>();
        for (TargetType t : ServiceLoader.load(TargetType.class, loader)) {
            map.putIfAbsent(t.name(), t);
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
