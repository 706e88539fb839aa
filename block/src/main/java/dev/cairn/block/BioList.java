package dev.cairn.block;

import java.util.ArrayList;
import java.util.List;

/**
 * An intrusive FIFO of bios linked through {@link Bio#next} (Linux {@code struct bio_list}):
 * adding and popping allocate nothing. A bio is on at most one list at a time.
 *
 * <p>Thread safety: none; each list has one owner (a thread's submission state, or a rescuer
 * under its lock).
 */
final class BioList {
    private Bio head;
    private Bio tail;

    boolean isEmpty() {
        return head == null;
    }

    void add(Bio bio) {
        bio.next = null;
        if (tail == null) {
            head = bio;
        } else {
            tail.next = bio;
        }
        tail = bio;
    }

    Bio pop() {
        Bio bio = head;
        if (bio != null) {
            head = bio.next;
            if (head == null) {
                tail = null;
            }
            bio.next = null;
        }
        return bio;
    }

    /** Appends all of {@code other} to this list, in order, and leaves {@code other} empty. */
    void addAll(BioList other) {
        if (other.head == null) {
            return;
        }
        if (tail == null) {
            head = other.head;
        } else {
            tail.next = other.head;
        }
        tail = other.tail;
        other.head = null;
        other.tail = null;
    }

    /** Moves everything out of this list into a new one (the receiving list is fresh). */
    void moveTo(BioList target) {
        target.addAll(this);
    }

    int size() {
        int n = 0;
        for (Bio b = head; b != null; b = b.next) {
            n++;
        }
        return n;
    }

    /** Descriptions of the bios on the list, for diagnostics. */
    List<String> describe() {
        List<String> out = new ArrayList<>();
        for (Bio b = head; b != null; b = b.next) {
            out.add(b.toString());
        }
        return out;
    }
}
