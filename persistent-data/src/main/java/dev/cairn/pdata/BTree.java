package dev.cairn.pdata;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.OptionalLong;

/**
 * Persistent btrees exactly as Linux lays them out and balances them ({@code dm-btree.c},
 * {@code dm-btree-remove.c}, {@code dm-btree-spine.c}), including hierarchical trees of several
 * levels, where a leaf of every level but the last holds the root of a next-level tree (and is flagged
 * LEAF).
 *
 * <h2>Implementation notes</h2>
 * <b>Shadow spine.</b> Every change walks down from the root shadowing each node ({@link
 * TransactionManager#shadow}); the parent's pointer is patched to the shadow, and when the original
 * was shared everything it points to gets a reference. At most two nodes (parent, current) are in
 * play; the walk crosses levels, so a level's new root is patched into the leaf above.
 *
 * <p><b>Insert</b> (the kernel since "improve btree residency"): on the way down a full node gets room
 * first (a full leaf that already holds the key is an overwrite and needs none). A full root splits
 * beneath itself; any other full node moves entries to an unshared sibling with at least
 * {@link #SPACE_THRESHOLD} free slots, else splits one into two (at the edges, under a small parent,
 * or next to a shared sibling) or two into three. Every non-root node therefore stays at least a third
 * full, which {@code thin_check} enforces.
 *
 * <p><b>Remove</b> rebalances the children around the path at every internal node on the way down
 * (merge two, or delete the centre of three, below the thresholds; otherwise redistribute), so the same
 * bound holds. Redistribution gathers the entries and refills the nodes to the kernel's target counts,
 * which gives the kernel's result without its step-by-step shifts. One deliberate difference: when a
 * root with a single child takes over that child's contents and the child is shared, the child's
 * children get a reference (the kernel omits it, which would undercount them).
 *
 * <p>Thread safety: none; trees are changed under their owner's lock.
 */
public final class BTree {
    /** Free slots a sibling needs to take entries instead of a split ({@code SPACE_THRESHOLD}). */
    static final int SPACE_THRESHOLD = 8;

    /**
     * A tree's shape: the transaction manager, the number of levels and the value type of the last
     * level (the other levels hold u64 subtree roots).
     */
    public record Info(TransactionManager tm, int levels, ValueType valueType) {
        public Info {
            if (levels < 1) {
                throw new IllegalArgumentException("levels: " + levels + " (expected: >= 1)");
            }
        }
    }

    private BTree() {}

    /** A u64 value as 8 little-endian bytes. */
    public static byte[] le64(long v) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, v).array();
    }

    /** The u64 in the first 8 bytes of {@code value}. */
    public static long le64(byte[] value) {
        return ByteBuffer.wrap(value).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
    }

    /** Subtree roots as values: a reference is a reference to the root block ({@code le64_type}). */
    static ValueType le64Type(TransactionManager tm) {
        return new ValueType() {
            @Override
            public int size() {
                return 8;
            }

            @Override
            public void inc(ByteBuffer node, int offsetBytes) throws MetadataException {
                tm.inc(node.getLong(offsetBytes));
            }

            @Override
            public void dec(ByteBuffer node, int offsetBytes) throws MetadataException {
                tm.dec(node.getLong(offsetBytes));
            }
        };
    }

    /** A new empty tree for level 0 of {@code info}: one zeroed leaf ({@code dm_btree_empty}). */
    public static long empty(Info info) throws MetadataException {
        return emptyLevel(info, 0);
    }

    private static long emptyLevel(Info info, int level) throws MetadataException {
        Block b = info.tm().newBlock(BlockValidator.BTREE_NODE);
        new Node(b).init(Node.LEAF, valueSize(info, level));
        return b.location();
    }

    private static int valueSize(Info info, int level) {
        return level == info.levels() - 1 ? info.valueType().size() : 8;
    }

    private static Node read(Info info, long location) throws MetadataException {
        return new Node(info.tm().read(location, BlockValidator.BTREE_NODE));
    }

    // ---------------------------------------------------------------- lookup

    /** The value stored under {@code keys} (one per level), or null. */
    public static byte[] lookup(Info info, long root, long... keys) throws MetadataException {
        checkKeys(info, keys);
        long block = root;
        for (int level = 0; level < info.levels(); level++) {
            Node n = read(info, block);
            while (!n.isLeaf()) {
                int i = n.lowerBound(keys[level]);
                if (i < 0) {
                    return null;
                }
                n = read(info, n.value64(i));
            }
            int i = n.lowerBound(keys[level]);
            if (i < 0 || n.key(i) != keys[level]) {
                return null;
            }
            if (level == info.levels() - 1) {
                return n.value(i);
            }
            block = n.value64(i);
        }
        throw new AssertionError("unreachable");
    }

    /** The highest key of a one-level tree ({@code dm_btree_find_highest_key}), or empty. */
    public static OptionalLong highestKey(Info info, long root) throws MetadataException {
        Node n = read(info, root);
        while (!n.isLeaf()) {
            if (n.nrEntries() == 0) {
                return OptionalLong.empty();
            }
            n = read(info, n.value64(n.nrEntries() - 1));
        }
        return n.nrEntries() == 0 ? OptionalLong.empty() : OptionalLong.of(n.key(n.nrEntries() - 1));
    }

    /** Receives the entries of a one-level tree in key order. */
    @FunctionalInterface
    public interface Visitor {
        void visit(long key, byte[] value) throws MetadataException;
    }

    /** Visits every entry of a one-level tree (or of one level of a hierarchy) in key order. */
    public static void walk(Info info, long root, Visitor visitor) throws MetadataException {
        Node n = read(info, root);
        int nr = n.nrEntries();
        if (n.isLeaf()) {
            for (int i = 0; i < nr; i++) {
                visitor.visit(n.key(i), n.value(i));
            }
            return;
        }
        long[] children = new long[nr];
        for (int i = 0; i < nr; i++) {
            children[i] = n.value64(i);
        }
        for (long c : children) {
            walk(info, c, visitor);
        }
    }

    /** Receives every node of a tree (for space accounting and checks), with its level and depth. */
    @FunctionalInterface
    public interface NodeVisitor {
        void visit(long location, int level, boolean leaf, int nrEntries, int maxEntries) throws MetadataException;
    }

    /** Visits every node reachable from {@code root} (shared nodes once per reference), all levels. */
    public static void walkNodes(Info info, long root, NodeVisitor visitor) throws MetadataException {
        walkNodes(info, root, 0, visitor);
    }

    private static void walkNodes(Info info, long root, int level, NodeVisitor visitor) throws MetadataException {
        Node n = read(info, root);
        int nr = n.nrEntries();
        visitor.visit(root, level, n.isLeaf(), nr, n.maxEntries());
        long[] next = new long[nr];
        boolean descend = !n.isLeaf() || level < info.levels() - 1;
        if (!descend) {
            return;
        }
        for (int i = 0; i < nr; i++) {
            next[i] = n.value64(i);
        }
        for (long c : next) {
            walkNodes(info, c, n.isLeaf() ? level + 1 : level, visitor);
        }
    }

    // ---------------------------------------------------------------- spine

    /** The two nodes in play while walking down ({@code struct shadow_spine}). */
    private static final class Spine {
        final Info info;
        final Node[] nodes = new Node[2];
        int count;
        long root;

        Spine(Info info) {
            this.info = info;
        }

        void step(long location, ValueType vt) throws MetadataException {
            if (count == 2) {
                nodes[0] = nodes[1];
                count = 1;
            }
            nodes[count] = shadow(info, location, vt);
            if (count == 0) {
                root = nodes[0].location();
            }
            count++;
        }

        Node current() {
            return nodes[count - 1];
        }

        void setCurrent(Node n) {
            nodes[count - 1] = n;
        }

        Node parent() {
            return nodes[0];
        }

        boolean hasParent() {
            return count >= 2;
        }
    }

    /** Shadows a node and, when the original was shared, takes a reference to its children. */
    private static Node shadow(Info info, long location, ValueType vt) throws MetadataException {
        TransactionManager.Shadow s = info.tm().shadow(location, BlockValidator.BTREE_NODE);
        Node n = new Node(s.block());
        if (s.incChildren()) {
            incChildren(info, n, vt);
        }
        return n;
    }

    private static void incChildren(Info info, Node n, ValueType vt) throws MetadataException {
        int nr = n.nrEntries();
        if (n.isInternal()) {
            for (int i = 0; i < nr; i++) {
                info.tm().inc(n.value64(i));
            }
        } else {
            for (int i = 0; i < nr; i++) {
                vt.inc(n.d, n.valueOffset(i));
            }
        }
    }

    /** Shadows child {@code index} of {@code parent} and patches the parent's pointer ({@code init_child}). */
    private static Node shadowChild(Info info, ValueType vt, Node parent, int index) throws MetadataException {
        Node c = shadow(info, parent.value64(index), vt);
        parent.setValue64(index, c.location());
        return c;
    }

    // ---------------------------------------------------------------- insert

    /** The new root after an insert, and whether the key was new (else its value was overwritten). */
    public record InsertResult(long root, boolean inserted) {}

    /** Inserts or overwrites {@code value} under {@code keys} (one per level) ({@code dm_btree_insert_notify}). */
    public static InsertResult insert(Info info, long root, long[] keys, byte[] value) throws MetadataException {
        checkKeys(info, keys);
        if (value.length != info.valueType().size()) {
            throw new IllegalArgumentException("value: " + value.length + " bytes (expected: " + info.valueType().size() + ")");
        }
        Spine s = new Spine(info);
        ValueType le64 = le64Type(info.tm());
        int last = info.levels() - 1;
        int[] index = {-1};
        long block = root;
        for (int level = 0; level < last; level++) {
            insertRaw(s, block, le64, keys[level], index);
            Node n = s.current();
            if (needInsert(n, keys[level], index[0])) {
                long sub = emptyLevel(info, level + 1);
                n.insertAt(index[0], keys[level], le64(sub));
            }
            block = n.value64(index[0]);
        }
        insertRaw(s, block, info.valueType(), keys[last], index);
        Node n = s.current();
        boolean inserted;
        if (needInsert(n, keys[last], index[0])) {
            n.insertAt(index[0], keys[last], value);
            inserted = true;
        } else {
            int off = n.valueOffset(index[0]);
            if (!info.valueType().equal(n.d, off, value)) {
                info.valueType().dec(n.d, off);
            }
            n.setValue(index[0], value);
            inserted = false;
        }
        return new InsertResult(s.root, inserted);
    }

    private static boolean needInsert(Node n, long key, int index) {
        return index >= n.nrEntries() || n.key(index) != key;
    }

    private static boolean hasSpaceForInsert(Node n, long key) {
        if (n.nrEntries() == n.maxEntries()) {
            if (n.isLeaf()) {
                int i = n.lowerBound(key);
                return i >= 0 && n.key(i) == key;
            }
            return false;
        }
        return true;
    }

    /** {@code btree_insert_raw}: walks to the leaf for {@code key}, making room; index[0] = insert position. */
    private static void insertRaw(Spine s, long root, ValueType vt, long key, int[] index) throws MetadataException {
        int i = index[0];
        boolean top = true;
        Node node;
        while (true) {
            s.step(root, vt);
            if (s.hasParent() && i >= 0) {
                s.parent().setValue64(i, s.current().location());
            }
            node = s.current();
            if (!hasSpaceForInsert(node, key)) {
                if (top) {
                    splitBeneath(s);
                } else {
                    rebalanceOrSplit(s, vt, i, key);
                }
                node = s.current();
            }
            i = node.lowerBound(key);
            if (node.isLeaf()) {
                break;
            }
            if (i < 0) {
                node.setKey(0, key);
                i = 0;
            }
            root = node.value64(i);
            top = false;
        }
        if (i < 0 || node.key(i) != key) {
            i++;
        }
        index[0] = i;
    }

    /** {@code btree_split_beneath}: the root's entries go to two new children; the root becomes INTERNAL. */
    private static void splitBeneath(Spine s) throws MetadataException {
        Node pn = s.current();
        int nr = pn.nrEntries();
        int vs = pn.valueSize();
        long[] keys = new long[nr];
        byte[][] values = new byte[nr][];
        pn.drainTo(keys, values, 0);
        int nrLeft = nr / 2;
        Node ln = new Node(s.info.tm().newBlock(BlockValidator.BTREE_NODE));
        ln.init(pn.flags(), vs);
        ln.fill(keys, values, 0, nrLeft);
        Node rn = new Node(s.info.tm().newBlock(BlockValidator.BTREE_NODE));
        rn.init(pn.flags(), vs);
        rn.fill(keys, values, nrLeft, nr - nrLeft);
        pn.clearSlots(0, pn.maxEntries());
        pn.init(Node.INTERNAL, 8);
        pn.setKey(0, ln.key(0));
        pn.setValue64(0, ln.location());
        pn.setKey(1, rn.key(0));
        pn.setValue64(1, rn.location());
        pn.setNrEntries(2);
    }

    private static void rebalanceOrSplit(Spine s, ValueType vt, int parentIndex, long key) throws MetadataException {
        Node parent = s.parent();
        int nrParent = parent.nrEntries();
        boolean leftShared = false;
        boolean rightShared = false;
        if (parentIndex > 0) {
            long leftB = parent.value64(parentIndex - 1);
            leftShared = s.info.tm().count(leftB) > 1;
            if (!leftShared && freeSpace(s.info, leftB) >= SPACE_THRESHOLD) {
                Node left = shadowChild(s.info, vt, parent, parentIndex - 1);
                redistribute2(left, s.current());
                parent.setKey(parentIndex, s.current().key(0));
                if (key < s.current().key(0)) {
                    s.setCurrent(left);
                }
                return;
            }
        }
        if (parentIndex < nrParent - 1) {
            long rightB = parent.value64(parentIndex + 1);
            rightShared = s.info.tm().count(rightB) > 1;
            if (!rightShared && freeSpace(s.info, rightB) >= SPACE_THRESHOLD) {
                Node right = shadowChild(s.info, vt, parent, parentIndex + 1);
                Node left = s.current();
                redistribute2(left, right);
                parent.setKey(parentIndex + 1, right.key(0));
                if (key >= right.key(0)) {
                    s.setCurrent(right);
                }
                return;
            }
        }
        if (leftShared || rightShared || nrParent <= 2 || parentIndex == 0 || parentIndex + 1 == nrParent) {
            splitOneIntoTwo(s, parentIndex, key);
        } else {
            splitTwoIntoThree(s, vt, parentIndex, key);
        }
    }

    private static int freeSpace(Info info, long location) throws MetadataException {
        Node n = read(info, location);
        return n.maxEntries() - n.nrEntries();
    }

    private static void splitOneIntoTwo(Spine s, int parentIndex, long key) throws MetadataException {
        Node ln = s.current();
        Node rn = new Node(s.info.tm().newBlock(BlockValidator.BTREE_NODE));
        rn.init(ln.flags(), ln.valueSize());
        redistribute2(ln, rn);
        s.parent().insertAt(parentIndex + 1, rn.key(0), le64(rn.location()));
        if (key >= rn.key(0)) {
            s.setCurrent(rn);
        }
    }

    private static void splitTwoIntoThree(Spine s, ValueType vt, int parentIndex, long key) throws MetadataException {
        Node pn = s.parent();
        int middleIndex;
        Node left;
        Node right;
        if (parentIndex == 0) {
            middleIndex = 1;
            left = s.current();
            right = shadowChild(s.info, vt, pn, parentIndex + 1);
        } else {
            middleIndex = parentIndex;
            right = s.current();
            left = shadowChild(s.info, vt, pn, parentIndex - 1);
        }
        Node middle = new Node(s.info.tm().newBlock(BlockValidator.BTREE_NODE));
        middle.init(left.flags(), left.valueSize());
        int total = left.nrEntries() + right.nrEntries();
        int targetLeft = total / 3;
        int targetCenter = (total - targetLeft) / 2;
        redistribute(new Node[] {left, middle, right}, new int[] {targetLeft, targetCenter, total - targetLeft - targetCenter});
        pn.setKey(middleIndex, right.key(0));
        pn.insertAt(middleIndex, middle.key(0), le64(middle.location()));
        if (key < middle.key(0)) {
            s.setCurrent(left);
        } else if (key < right.key(0)) {
            s.setCurrent(middle);
        } else {
            s.setCurrent(right);
        }
    }

    /** Evens out two siblings: left gets total/2 ({@code redistribute2}). */
    private static void redistribute2(Node left, Node right) {
        int total = left.nrEntries() + right.nrEntries();
        redistribute(new Node[] {left, right}, new int[] {total / 2, total - total / 2});
    }

    /** Refills sibling nodes, in key order, with {@code targets[i]} entries each. */
    private static void redistribute(Node[] nodes, int[] targets) {
        int total = 0;
        for (Node n : nodes) {
            total += n.nrEntries();
        }
        long[] keys = new long[total];
        byte[][] values = new byte[total][];
        int at = 0;
        for (Node n : nodes) {
            at = n.drainTo(keys, values, at);
        }
        int from = 0;
        for (int i = 0; i < nodes.length; i++) {
            nodes[i].fill(keys, values, from, targets[i]);
            from += targets[i];
        }
        if (from != total) {
            throw new AssertionError("redistribute: targets " + Arrays.toString(targets) + " (expected: sum " + total + ")");
        }
    }

    // ---------------------------------------------------------------- remove

    /** The new root after a remove, and whether the key was there. */
    public record RemoveResult(long root, boolean removed) {}

    /** Removes {@code keys} (one per level); the last level's value type drops its reference ({@code dm_btree_remove}). */
    public static RemoveResult remove(Info info, long root, long... keys) throws MetadataException {
        checkKeys(info, keys);
        if (lookup(info, root, keys) == null) {
            return new RemoveResult(root, false);
        }
        Spine s = new Spine(info);
        ValueType le64 = le64Type(info.tm());
        int last = info.levels() - 1;
        int[] index = {0};
        long block = root;
        for (int level = 0; level < info.levels(); level++) {
            removeRaw(s, level == last ? info.valueType() : le64, block, keys[level], index);
            Node n = s.current();
            if (level != last) {
                block = n.value64(index[0]);
                continue;
            }
            if (index[0] < 0 || index[0] >= n.nrEntries() || n.key(index[0]) != keys[level]) {
                throw new MetadataException("btree remove: key " + keys[level] + " vanished on the way down");
            }
            info.valueType().dec(n.d, n.valueOffset(index[0]));
            n.deleteAt(index[0]);
        }
        return new RemoveResult(s.root, true);
    }

    private static void removeRaw(Spine s, ValueType vt, long root, long key, int[] index) throws MetadataException {
        int i = index[0];
        while (true) {
            s.step(root, vt);
            if (s.hasParent()) {
                s.parent().setValue64(i, s.current().location());
            }
            Node n = s.current();
            if (n.isLeaf()) {
                index[0] = n.lowerBound(key);
                return;
            }
            rebalanceChildren(s, vt, key);
            n = s.current();
            if (n.isLeaf()) {
                index[0] = n.lowerBound(key);
                return;
            }
            i = n.lowerBound(key);
            if (i < 0) {
                throw new MetadataException("btree remove: key " + key + " below node " + n.location());
            }
            root = n.value64(i);
        }
    }

    private static int mergeThreshold(Node n) {
        return n.maxEntries() / 3;
    }

    private static void rebalanceChildren(Spine s, ValueType vt, long key) throws MetadataException {
        Node n = s.current();
        if (n.nrEntries() == 1) {
            long childB = n.value64(0);
            Node child = read(s.info, childB);
            boolean shared = s.info.tm().count(childB) > 1;
            System.arraycopy(child.block.bytes(), 0, n.block.bytes(), 0, BlockManager.BLOCK_SIZE);
            s.info.tm().dec(childB);
            if (shared) {
                incChildren(s.info, n, vt);
            }
            return;
        }
        int i = n.lowerBound(key);
        if (i < 0) {
            throw new MetadataException("btree remove: key " + key + " below node " + n.location());
        }
        boolean hasLeft = i > 0;
        boolean hasRight = i < n.nrEntries() - 1;
        if (!hasLeft) {
            rebalance2(s, vt, i);
        } else if (!hasRight) {
            rebalance2(s, vt, i - 1);
        } else {
            rebalance3(s, vt, i - 1);
        }
    }

    private static void rebalance2(Spine s, ValueType vt, int leftIndex) throws MetadataException {
        Node parent = s.current();
        Node left = shadowChild(s.info, vt, parent, leftIndex);
        Node right = shadowChild(s.info, vt, parent, leftIndex + 1);
        rebalance2(s.info, parent, left, right, leftIndex + 1);
    }

    private static void rebalance2(Info info, Node parent, Node left, Node right, int rightIndex) throws MetadataException {
        int nl = left.nrEntries();
        int nr = right.nrEntries();
        int threshold = 2 * (mergeThreshold(left) + 1);
        if (nl + nr < threshold) {
            redistribute(new Node[] {left, right}, new int[] {nl + nr, 0});
            parent.deleteAt(rightIndex);
            info.tm().dec(right.location());
        } else {
            redistribute2(left, right);
            parent.setKey(rightIndex, right.key(0));
        }
    }

    private static void rebalance3(Spine s, ValueType vt, int leftIndex) throws MetadataException {
        Node parent = s.current();
        Node left = shadowChild(s.info, vt, parent, leftIndex);
        Node center = shadowChild(s.info, vt, parent, leftIndex + 1);
        Node right = shadowChild(s.info, vt, parent, leftIndex + 2);
        int nl = left.nrEntries();
        int nc = center.nrEntries();
        int nr = right.nrEntries();
        int total = nl + nc + nr;
        int threshold = mergeThreshold(left) * 4 + 1;
        if (total < threshold) {
            // delete_center_node: left fills up from the centre, the rest goes to the front of right.
            int toLeft = Math.min(left.maxEntries() - nl, nc);
            redistribute(new Node[] {left, center, right}, new int[] {nl + toLeft, 0, nr + nc - toLeft});
            parent.setKey(leftIndex + 2, right.key(0));
            parent.deleteAt(leftIndex + 1);
            s.info.tm().dec(center.location());
            rebalance2(s.info, parent, left, right, leftIndex + 1);
        } else {
            int targetRight = total / 3;
            int targetLeft = targetRight + (targetRight * 3 != total ? 1 : 0);
            redistribute(new Node[] {left, center, right}, new int[] {targetLeft, total - targetLeft - targetRight, targetRight});
            parent.setKey(leftIndex + 1, center.key(0));
            parent.setKey(leftIndex + 2, right.key(0));
        }
    }

    // ---------------------------------------------------------------- delete

    /**
     * Drops a reference to a whole tree ({@code dm_btree_del}): a node still shared elsewhere only loses
     * a reference; otherwise its children (or the last level's values) are released and it is freed.
     */
    public static void delete(Info info, long root) throws MetadataException {
        delete(info, root, 0);
    }

    private static void delete(Info info, long location, int level) throws MetadataException {
        TransactionManager tm = info.tm();
        if (tm.count(location) > 1) {
            tm.dec(location);
            return;
        }
        Node n = read(info, location);
        int nr = n.nrEntries();
        if (n.isInternal()) {
            long[] children = new long[nr];
            for (int i = 0; i < nr; i++) {
                children[i] = n.value64(i);
            }
            for (long c : children) {
                delete(info, c, level);
            }
        } else if (level < info.levels() - 1) {
            long[] subtrees = new long[nr];
            for (int i = 0; i < nr; i++) {
                subtrees[i] = n.value64(i);
            }
            for (long c : subtrees) {
                delete(info, c, level + 1);
            }
        } else {
            ByteBuffer copy = ByteBuffer.wrap(n.block.bytes().clone()).order(ByteOrder.LITTLE_ENDIAN);
            int vs = n.valueSize();
            int base = n.valueOffset(0);
            for (int i = 0; i < nr; i++) {
                info.valueType().dec(copy, base + vs * i);
            }
        }
        tm.dec(location);
    }

    private static void checkKeys(Info info, long[] keys) {
        if (keys.length != info.levels()) {
            throw new IllegalArgumentException("keys: " + keys.length + " (expected: " + info.levels() + ", one per level)");
        }
    }
}
