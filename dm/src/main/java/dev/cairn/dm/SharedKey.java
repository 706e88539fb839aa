package dev.cairn.dm;

import java.util.Objects;

/**
 * Names state that every target of one {@link DeviceRegistry} shares ({@link TargetContext#shared}), with
 * its type, so a lookup needs no unchecked cast. Declare one constant per kind of shared state:
 *
 * <pre>{@code
 * static final SharedKey<OriginRegistry> KEY = SharedKey.of("snapshot origins", OriginRegistry.class);
 * }</pre>
 *
 * @param name what is shared, for messages; two keys are the same when name and type are
 * @param type the class of the shared value
 */
public record SharedKey<T>(String name, Class<T> type) {
    public SharedKey {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(type, "type");
    }

    public static <T> SharedKey<T> of(String name, Class<T> type) {
        return new SharedKey<>(name, type);
    }
}
