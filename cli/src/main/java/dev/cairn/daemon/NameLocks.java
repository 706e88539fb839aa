package dev.cairn.daemon;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.locks.ReentrantLock;

/**
 * One lock per device name, so a verb that waits (a suspend waiting for I/O held below) holds only
 * the names it works on, never the whole daemon: other verbs (a resume of the device below, ls) go
 * on. Several names are taken in sorted order, so two verbs cannot deadlock on each other's names.
 * A name's lock exists only while someone holds or waits for it.
 *
 * <p>Thread safety: any thread; a holder unlocks on the thread that locked.
 */
final class NameLocks {
    private static final class Entry {
        final ReentrantLock lock = new ReentrantLock();
        int users; // guarded by NameLocks.this
    }

    private final Map<String, Entry> entries = new HashMap<>(); // guarded by this

    /** Names held together; closing unlocks them. */
    interface Held extends AutoCloseable {
        @Override
        void close();
    }

    /** Locks every non-null name (in sorted order, each once). */
    Held lock(String... names) {
        TreeSet<String> sorted = new TreeSet<>();
        for (String n : names) {
            if (n != null) {
                sorted.add(n);
            }
        }
        List<String> taken = new ArrayList<>();
        try {
            for (String n : sorted) {
                Entry e;
                synchronized (this) {
                    e = entries.computeIfAbsent(n, k -> new Entry());
                    e.users++;
                }
                try {
                    e.lock.lock();
                } catch (RuntimeException | Error t) {
                    release(n, e, false);
                    throw t;
                }
                taken.add(n);
            }
        } catch (RuntimeException | Error t) {
            unlockAll(taken);
            throw t;
        }
        return () -> unlockAll(taken);
    }

    private void unlockAll(List<String> taken) {
        for (int i = taken.size() - 1; i >= 0; i--) {
            String n = taken.get(i);
            Entry e;
            synchronized (this) {
                e = entries.get(n);
            }
            release(n, e, true);
        }
    }

    private void release(String name, Entry e, boolean locked) {
        if (locked) {
            e.lock.unlock();
        }
        synchronized (this) {
            if (--e.users == 0) {
                entries.remove(name, e);
            }
        }
    }

    /** Names with a lock right now (held or waited for). */
    synchronized int size() {
        return entries.size();
    }
}
