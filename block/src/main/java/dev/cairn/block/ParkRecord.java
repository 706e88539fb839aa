package dev.cairn.block;

import java.util.List;

/**
 * One thread parked in a blocking primitive, as the watchdog sees it.
 *
 * @param thread      the parked thread
 * @param primitive   what it waits in ("mutex snap0", "bioset dm-clone", ...)
 * @param holders     who holds that primitive now, as far as it knows ("thread B (write)")
 * @param sinceNanos  {@link System#nanoTime()} when it parked
 * @param parkedBios  the bios still on the thread's list when it parked (after any flush)
 */
record ParkRecord(Thread thread, Blocker primitive, long sinceNanos, List<String> parkedBios) {

    /** What a blocking primitive tells the watchdog about itself. */
    interface Blocker {
        String describe();

        String describeHolders();
    }
}
