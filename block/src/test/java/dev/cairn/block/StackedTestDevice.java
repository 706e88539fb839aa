package dev.cairn.block;

/**
 * Base of the block tests' stacking devices: the name is given, capacity and limits are those of the
 * device below (read once, as a dm table does at load). Subclasses write only {@code submitBio}.
 */
abstract class StackedTestDevice implements BlockDevice {
    protected final Submitter submitter;
    protected final BlockDevice lower;
    private final String name;
    private final long capacitySectors;
    private final QueueLimits limits;

    StackedTestDevice(String name, Submitter submitter, BlockDevice lower) {
        this.name = name;
        this.submitter = submitter;
        this.lower = lower;
        this.capacitySectors = lower.capacitySectors();
        this.limits = lower.limits();
    }

    @Override
    public final String name() {
        return name;
    }

    @Override
    public final long capacitySectors() {
        return capacitySectors;
    }

    @Override
    public final QueueLimits limits() {
        return limits;
    }
}
