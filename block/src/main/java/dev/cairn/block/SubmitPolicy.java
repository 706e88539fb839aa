package dev.cairn.block;

import java.util.Locale;

/**
 * How a {@link Submitter} orders the bios parked on a thread's list and what it does with them
 * when the thread is about to block. One policy per submitter instance, never global.
 *
 * <table>
 * <caption>policies</caption>
 * <tr><th>policy</th><th>list order</th><th>when a thread is about to block</th><th>dm splitting</th><th>models</th></tr>
 * <tr><td>LEGACY</td><td>FIFO</td><td>nothing; only an empty BioSet punts that set's own parked bios (2012)</td>
 *     <td>all pieces in one call</td><td>Linux 3.7-3.15</td></tr>
 * <tr><td>FLUSH_ON_BLOCK</td><td>FIFO</td><td>every parked bio with a BioSet goes to that set's rescuer</td>
 *     <td>all pieces in one call</td><td>the patch (default)</td></tr>
 * <tr><td>DEPTH_FIRST</td><td>lower devices, then same device, then older pending</td><td>as LEGACY</td>
 *     <td>first piece, resubmit the rest</td><td>Linux 4.16+</td></tr>
 * </table>
 */
public enum SubmitPolicy {
    /** Before the patch: can deadlock with stacked drivers such as dm-snapshot (kept to prove the bug). */
    LEGACY,
    /** The patch "block: flush queued bios when the process blocks". */
    FLUSH_ON_BLOCK,
    /** NeilBrown's depth-first order plus dm's one-piece-at-a-time splitting. */
    DEPTH_FIRST;

    /** True when a thread about to block hands its parked pooled bios to their rescuers. */
    public boolean flushesOnBlock() {
        return this == FLUSH_ON_BLOCK;
    }

    /** True when stacked drivers should map only the first piece of a bio and resubmit the rest. */
    public boolean splitsDepthFirst() {
        return this == DEPTH_FIRST;
    }

    /** The configuration spelling: {@code legacy}, {@code flush-on-block}, {@code depth-first}. */
    public String configName() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** Parses the configuration spelling (or the enum name), with a precise error. */
    public static SubmitPolicy parse(String text) {
        String normal = text.trim().toUpperCase(Locale.ROOT).replace('-', '_');
        for (SubmitPolicy p : values()) {
            if (p.name().equals(normal)) {
                return p;
            }
        }
        throw new IllegalArgumentException("submit policy: " + text + " (expected: legacy, flush-on-block or depth-first)");
    }
}
