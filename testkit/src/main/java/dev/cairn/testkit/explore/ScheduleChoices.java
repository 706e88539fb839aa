package dev.cairn.testkit.explore;

import java.util.ArrayList;
import java.util.List;

/**
 * The choices of one schedule, as a depth-first search over schedules makes them: a prefix to replay,
 * then the first option at every new decision. A decision with a single option is not a choice and is
 * not recorded, so a schedule's replay string lists only real choices ("0.2.1": at the first choice take
 * option 0, at the second option 2, ...). After a run, {@link #next()} gives the next schedule of the
 * search (the last choice that has an untried option moves on; everything after it is dropped).
 *
 * <p>Replaying a prefix checks that each decision offers as many options as when it was recorded: a
 * different number means the system under test did something the scheduler does not control, and is
 * reported as {@link NondeterminismException} instead of silently exploring another tree.
 *
 * <p>Thread safety: not thread-safe; the scheduler calls it under its lock.
 */
public final class ScheduleChoices {
    private record Choice(int chosen, int options) {}

    private final List<Choice> path;
    private final boolean replayOnly;
    private int depth;

    private ScheduleChoices(List<Choice> path, boolean replayOnly) {
        this.path = path;
        this.replayOnly = replayOnly;
    }

    /** The first schedule of a search: option 0 everywhere. */
    public static ScheduleChoices first() {
        return new ScheduleChoices(new ArrayList<>(), false);
    }

    /**
     * A schedule given by its replay string (as {@link #replayString()} prints it); after the string, option 0.
     * Throws IllegalArgumentException for a string that is not dot-separated non-negative numbers.
     */
    public static ScheduleChoices replay(String replay) {
        List<Choice> path = new ArrayList<>();
        if (!replay.isBlank()) {
            for (String part : replay.strip().split("\\.")) {
                int chosen;
                try {
                    chosen = Integer.parseInt(part);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("replay string: '" + replay + "' (expected: numbers separated by dots)");
                }
                if (chosen < 0) {
                    throw new IllegalArgumentException("replay string: '" + replay + "' (expected: numbers >= 0)");
                }
                path.add(new Choice(chosen, -1));
            }
        }
        return new ScheduleChoices(path, true);
    }

    /** Picks one of {@code options} (at least 1) at the next decision. */
    int choose(int options) {
        if (options < 1) {
            throw new IllegalArgumentException("options: " + options + " (expected: >= 1)");
        }
        if (options == 1) {
            return 0;
        }
        if (depth < path.size()) {
            Choice c = path.get(depth);
            if (c.options() == -1) {
                if (c.chosen() >= options) {
                    throw new NondeterminismException("choice " + depth + " of the replay string is " + c.chosen()
                            + " but only " + options + " options are open there");
                }
                path.set(depth, new Choice(c.chosen(), options));
            } else if (c.options() != options) {
                throw new NondeterminismException("choice " + depth + " had " + c.options() + " options when recorded, "
                        + options + " on replay: the system under test is not deterministic under the scheduler");
            }
            depth++;
            return c.chosen();
        }
        path.add(new Choice(0, options));
        depth++;
        return 0;
    }

    /** The choices made so far, dot-separated: replays this schedule with {@link #replay(String)}. */
    public String replayString() {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < depth; i++) {
            if (i > 0) {
                sb.append('.');
            }
            sb.append(path.get(i).chosen());
        }
        return sb.toString();
    }

    /** How many choices this schedule made. */
    public int choices() {
        return depth;
    }

    /**
     * The next schedule of the depth-first search after this one ran, or null when the tree is exhausted
     * (or this was a replay).
     */
    public ScheduleChoices next() {
        if (replayOnly) {
            return null;
        }
        List<Choice> p = new ArrayList<>(path.subList(0, depth));
        while (!p.isEmpty()) {
            Choice last = p.removeLast();
            if (last.chosen() + 1 < last.options()) {
                p.add(new Choice(last.chosen() + 1, last.options()));
                return new ScheduleChoices(p, false);
            }
        }
        return null;
    }

    /** The system under test made different decisions on the same schedule. */
    public static final class NondeterminismException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        NondeterminismException(String message) {
            super(message);
        }
    }
}
