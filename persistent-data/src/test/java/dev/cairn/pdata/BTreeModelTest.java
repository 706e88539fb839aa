package dev.cairn.pdata;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import dev.cairn.block.store.MemoryStore;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.random.RandomGenerator;
import java.util.random.RandomGeneratorFactory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Btrees and both space maps against a model: random inserts, overwrites, removes and lookups in
 * several trees, snapshots of trees (a shared root), deletes of whole trees; after every commit the
 * reference counts recomputed from everything reachable must equal both space maps exactly, and every
 * non-root node must be at least a third full (what thin_check enforces).
 */
class BTreeModelTest {
    private final Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);

    @AfterEach
    void close() {
        submitter.close();
    }

    /** A tree's values reference data blocks in {@code data}: the mapping trees' value type. */
    static ValueType dataRefs(DataSpaceMap data) {
        return new ValueType() {
            @Override
            public int size() {
                return 8;
            }

            @Override
            public void inc(ByteBuffer node, int offsetBytes) throws MetadataException {
                data.inc(node.getLong(offsetBytes));
            }

            @Override
            public void dec(ByteBuffer node, int offsetBytes) throws MetadataException {
                data.dec(node.getLong(offsetBytes));
            }
        };
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 20261207})
    void randomWorkloadMatchesModelAndCountsStayExact(long seed) throws Exception {
        System.out.println("BTreeModelTest seed=" + seed);
        RandomGenerator rnd = RandomGeneratorFactory.of("L64X128MixRandom").create(seed);
        MemoryStore store = new MemoryStore("meta", 64L << 20);
        BlockManager bm = new BlockManager(submitter, store, 256);
        TransactionManager tm = new TransactionManager(bm);
        MetadataSpaceMap msm = new MetadataSpaceMap(tm);
        tm.setSpaceMap(msm);
        msm.format(bm.nrBlocks(), 0);
        DataSpaceMap dsm = DataSpaceMap.create(tm, 200_000);
        BTree.Info info = new BTree.Info(tm, 1, dataRefs(dsm));

        List<Long> roots = new ArrayList<>();
        List<TreeMap<Long, Long>> models = new ArrayList<>();
        roots.add(BTree.empty(info));
        models.add(new TreeMap<>());
        for (int round = 0; round < 12; round++) {
            int ops = 2000 + rnd.nextInt(2000);
            for (int op = 0; op < ops; op++) {
                int t = rnd.nextInt(roots.size());
                TreeMap<Long, Long> model = models.get(t);
                long key = rnd.nextLong(rnd.nextBoolean() ? 3000 : 60_000);
                int kind = rnd.nextInt(10);
                String where = "seed " + seed + " round " + round + " op " + op + " tree " + t + " key " + key;
                if (kind < 6) {
                    long dataBlock = dsm.newBlock(); // its one reference goes to the tree
                    BTree.InsertResult r = BTree.insert(info, roots.get(t), new long[] {key}, BTree.le64(dataBlock));
                    assertThat(r.inserted()).as(where).isEqualTo(!model.containsKey(key));
                    roots.set(t, r.root());
                    model.put(key, dataBlock);
                } else if (kind < 9) {
                    BTree.RemoveResult r = BTree.remove(info, roots.get(t), key);
                    assertThat(r.removed()).as(where).isEqualTo(model.remove(key) != null);
                    roots.set(t, r.root());
                } else {
                    byte[] v = BTree.lookup(info, roots.get(t), key);
                    Long expected = model.get(key);
                    assertThat(v == null ? null : BTree.le64(v)).as(where).isEqualTo(expected);
                }
            }
            // Snapshot one tree, or delete one when there are several.
            if (rnd.nextInt(3) > 0 || roots.size() == 1) {
                int t = rnd.nextInt(roots.size());
                tm.inc(roots.get(t));
                roots.add(roots.get(t));
                models.add(new TreeMap<>(models.get(t)));
            } else {
                int t = rnd.nextInt(roots.size());
                BTree.delete(info, roots.remove(t));
                models.remove(t);
            }
            dsm.commit(tm);
            tm.preCommit();
            List<Long> held = new ArrayList<>(roots);
            SpaceMapRoot dataRoot = dsm.root();
            checkCounts(tm, info, held, dsm, dataRoot, msm.root(), "seed " + seed + " round " + round);
            tm.commit(bm.zeroed(0, new BlockValidator("superblock", 160774)));
            dsm.transactionCommitted();
            for (int t = 0; t < roots.size(); t++) {
                TreeMap<Long, Long> seen = new TreeMap<>();
                BTree.walk(info, roots.get(t), (k, v) -> seen.put(k, BTree.le64(v)));
                assertThat(seen).as("seed %d round %d tree %d", seed, round, t).isEqualTo(models.get(t));
            }
            bm.trim();
        }
        // The on-disk maps read back to the same counts.
        DataSpaceMap reopened = DataSpaceMap.open(tm, dsm.root());
        assertThat(reopened.countsSnapshot()).isEqualTo(dsm.countsSnapshot());
        bm.invalidateAll();
        TransactionManager tm2 = new TransactionManager(bm);
        MetadataSpaceMap msm2 = new MetadataSpaceMap(tm2);
        tm2.setSpaceMap(msm2);
        msm2.open(msm.root());
        assertThat(msm2.countsSnapshot()).isEqualTo(msm.countsSnapshot());
    }

    /** Recomputes every reference count from the roots and compares with both maps; checks node fill. */
    static void checkCounts(TransactionManager tm, BTree.Info info, List<Long> treeRoots, DataSpaceMap dsm,
            SpaceMapRoot dataRoot, SpaceMapRoot metaRoot, String where) throws MetadataException {
        Map<Long, Long> meta = new HashMap<>();
        Map<Long, Long> data = new HashMap<>();
        Set<Long> visited = new HashSet<>();
        meta.merge(0L, 1L, Long::sum);
        for (long r : treeRoots) {
            meta.merge(r, 1L, Long::sum);
            countTree(tm, r, true, visited, meta, data, where);
        }
        BTree.Info plain16 = new BTree.Info(tm, 1, ValueType.plain(16));
        BTree.Info plain4 = new BTree.Info(tm, 1, ValueType.plain(4));
        // Data space map: index tree, its bitmaps, ref-count tree.
        meta.merge(dataRoot.bitmapRoot(), 1L, Long::sum);
        countTree(tm, dataRoot.bitmapRoot(), false, visited, meta, null, where);
        BTree.walk(plain16, dataRoot.bitmapRoot(), (k, v) -> meta.merge(BTree.le64(v), 1L, Long::sum));
        meta.merge(dataRoot.refCountRoot(), 1L, Long::sum);
        countTree(tm, dataRoot.refCountRoot(), false, visited, meta, null, where);
        // Metadata space map: index block, bitmaps, ref-count tree.
        meta.merge(metaRoot.bitmapRoot(), 1L, Long::sum);
        ByteBuffer ib = tm.read(metaRoot.bitmapRoot(), BlockValidator.INDEX).data();
        for (int i = 0; i < SpaceMap.bitmapsFor(metaRoot.nrBlocks()); i++) {
            meta.merge(ib.getLong(16 + 16 * i), 1L, Long::sum);
        }
        meta.merge(metaRoot.refCountRoot(), 1L, Long::sum);
        countTree(tm, metaRoot.refCountRoot(), false, visited, meta, null, where);
        assertThat(tm.spaceMap().countsSnapshot()).as(where + ": metadata counts").isEqualTo(meta);
        assertThat(dsm.countsSnapshot()).as(where + ": data counts").isEqualTo(data);
        assertThat(metaRoot.nrAllocated()).as(where).isEqualTo(meta.size());
        assertThat(dataRoot.nrAllocated()).as(where).isEqualTo(data.size());
        // Reference counts >= 3 are in the ref-count trees exactly.
        Map<Long, Long> overflow = new HashMap<>();
        BTree.walk(plain4, metaRoot.refCountRoot(), (k, v) -> overflow.put(k, (long) ByteBuffer.wrap(v).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt(0)));
        Map<Long, Long> expectedOverflow = new HashMap<>();
        meta.forEach((b, c) -> {
            if (c >= 3) {
                expectedOverflow.put(b, c);
            }
        });
        assertThat(overflow).as(where + ": metadata ref-count tree").isEqualTo(expectedOverflow);
    }

    private static void countTree(TransactionManager tm, long root, boolean dataValues, Set<Long> visited,
            Map<Long, Long> meta, Map<Long, Long> data, String where) throws MetadataException {
        countNode(tm, root, dataValues, visited, meta, data, where, true);
    }

    private static void countNode(TransactionManager tm, long b, boolean dataValues, Set<Long> visited,
            Map<Long, Long> meta, Map<Long, Long> data, String where, boolean isRoot) throws MetadataException {
        if (!visited.add(b)) {
            return;
        }
        Node n = new Node(tm.read(b, BlockValidator.BTREE_NODE));
        int nr = n.nrEntries();
        assertThat(n.maxEntries() % 3).as(where + " node " + b).isZero();
        if (!isRoot) {
            assertThat(nr).as(where + ": non-root node " + b + " at least a third full").isGreaterThanOrEqualTo(n.maxEntries() / 3);
        }
        for (int i = 1; i < nr; i++) {
            assertThat(n.key(i)).as(where + " node " + b + " keys increase").isGreaterThan(n.key(i - 1));
        }
        if (n.isInternal()) {
            for (int i = 0; i < nr; i++) {
                long c = n.value64(i);
                meta.merge(c, 1L, Long::sum);
                Node child = new Node(tm.read(c, BlockValidator.BTREE_NODE));
                assertThat(n.key(i)).as(where + " parent key <= child's first").isLessThanOrEqualTo(child.nrEntries() == 0 ? Long.MAX_VALUE : child.key(0));
                countNode(tm, c, dataValues, visited, meta, data, where, false);
            }
        } else if (dataValues) {
            for (int i = 0; i < nr; i++) {
                data.merge(n.value64(i), 1L, Long::sum);
            }
        }
    }
}
