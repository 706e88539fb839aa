package dev.cairn.dm;

/**
 * A target type's own version (Linux {@code target_type.version}, shown by {@code dmsetup targets}): a table
 * written for {@code major.minor} works with any later version of the same major. Each Cairn target type
 * counts its own, independently of Cairn's release and of Linux's numbers for the same target.
 *
 * @param major changes only when a table or on-disk format stops being accepted
 * @param minor goes up when the target accepts something new (an argument, a message)
 * @param patch goes up for fixes
 */
public record TargetVersion(int major, int minor, int patch) {
    public TargetVersion {
        if (major < 0 || minor < 0 || patch < 0) {
            throw new IllegalArgumentException("version: " + major + "." + minor + "." + patch
                    + " (expected: three numbers >= 0)");
        }
    }

    public static TargetVersion of(int major, int minor, int patch) {
        return new TargetVersion(major, minor, patch);
    }

    /** {@code major.minor.patch}, as dmsetup prints it after a {@code v}. */
    @Override
    public String toString() {
        return major + "." + minor + "." + patch;
    }
}
