package dev.cairn.block;

import java.util.List;

/**
 * What the watchdog found: threads that have waited in a blocking primitive longer than the
 * threshold (with what they wait for, who holds it, and the bios parked on their lists), and pooled
 * bios in flight longer than the threshold.
 *
 * @param submitter   the submitter's name
 * @param thresholdMillis the threshold in force
 * @param threads     the stuck threads
 * @param stuckBios   pooled bios in flight too long
 */
public record WatchdogReport(String submitter, long thresholdMillis, List<StuckThread> threads, List<String> stuckBios) {

    /**
     * @param thread      thread name
     * @param state       the thread's state
     * @param waitingIn   the primitive
     * @param holders     who holds it
     * @param waitedMillis how long it has waited
     * @param parkedBios  bios left on its list when it parked
     * @param stack       its stack, innermost first
     */
    public record StuckThread(String thread, String state, String waitingIn, String holders, long waitedMillis,
            List<String> parkedBios, List<String> stack) {}

    /** The report as text, as a person reads it in a log. */
    public String text() {
        StringBuilder sb = new StringBuilder();
        sb.append("cairn watchdog (").append(submitter).append("): I/O stuck for more than ").append(thresholdMillis)
                .append(" ms\n");
        for (StuckThread t : threads) {
            sb.append("  thread \"").append(t.thread()).append("\" ").append(t.state()).append(" for ")
                    .append(t.waitedMillis()).append(" ms in ").append(t.waitingIn()).append(" (")
                    .append(t.holders()).append(")\n");
            if (t.parkedBios().isEmpty()) {
                sb.append("    no bios parked on its list\n");
            } else {
                for (String b : t.parkedBios()) {
                    sb.append("    parked: ").append(b).append('\n');
                }
            }
            for (String frame : t.stack()) {
                sb.append("      at ").append(frame).append('\n');
            }
        }
        for (String b : stuckBios) {
            sb.append("  in flight: ").append(b).append('\n');
        }
        return sb.toString();
    }

    /** The default reporter: logs the text at WARNING through {@link System.Logger}. */
    public static void log(WatchdogReport report) {
        System.getLogger("dev.cairn.block.Watchdog").log(System.Logger.Level.WARNING, report.text());
    }
}
