package dev.cairn.snapshot;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The completed-exception table against a HashMap, with growth and backward-shift removal. */
class ChunkMapTest {
    @Test
    void behavesLikeAMapUnderRandomPutsAndRemoves() {
        SplittableRandom random = new SplittableRandom(99);
        ChunkMap map = new ChunkMap(4);
        Map<Long, Long> model = new HashMap<>();
        for (int i = 0; i < 200_000; i++) {
            long key = random.nextLong(5000); // dense keys collide and cluster
            switch (random.nextInt(3)) {
                case 0, 1 -> {
                    long v = random.nextLong(1L << 40);
                    map.put(key, v);
                    model.put(key, v);
                }
                default -> assertThat(map.remove(key)).isEqualTo(model.remove(key) != null);
            }
            if (i % 1000 == 0) {
                for (long k = 0; k < 5000; k++) {
                    assertThat(map.get(k)).isEqualTo(model.getOrDefault(k, -1L));
                }
            }
        }
        assertThat(map.size()).isEqualTo(model.size());
    }
}
