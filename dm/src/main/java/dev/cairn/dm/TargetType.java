package dev.cairn.dm;

/**
 * A kind of target (Linux {@code struct target_type}), found through {@link java.util.ServiceLoader}:
 * list the implementation in {@code META-INF/services/dev.cairn.dm.TargetType}. An implementation
 * must have a public no-argument constructor and be stateless: everything a target needs comes
 * from {@link TargetContext} and {@link TargetArgs}.
 *
 * <pre>{@code
 * public final class ZeroTargetType implements TargetType {
 *     public String name() { return "zero"; }
 *     public TargetVersion version() { return TargetVersion.of(1, 0, 0); }
 *     public Target create(TargetContext ctx, TargetArgs args) throws TableException {
 *         args.expectEnd();
 *         return new ZeroTarget();
 *     }
 * }
 * }</pre>
 */
public interface TargetType {
    /** The name used in tables, e.g. {@code linear}. Lower case, no spaces. */
    String name();

    /** This target type's own version ({@code cairn targets} prints it, as {@code dmsetup targets} does). */
    TargetVersion version();

    /**
     * Builds a target for one table line. Validate every argument before opening devices or starting
     * threads, and report the first problem through {@link TargetArgs#error}, so the message names the
     * line, the target and the argument. On failure, release what was acquired (dm core releases the
     * devices opened through {@code args}/{@code ctx}).
     */
    Target create(TargetContext ctx, TargetArgs args) throws TableException;
}
