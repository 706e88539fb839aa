package dev.cairn.dm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.Bio;
import dev.cairn.block.BlockDevice;
import dev.cairn.block.QueueLimits;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.testkit.StackBuilder;
import java.io.IOException;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/** Leaf types as plug-ins: found by scheme, checked, opened without the registry lock, shared by key. */
class LeafTypeTest {
    /** {@code test:KEY[#n]}: shared by KEY, a 1 MiB memory store; {@code test:bad} fails to open. */
    static final class TestLeafType implements LeafType {
        final List<String> events = new CopyOnWriteArrayList<>();
        DeviceRegistry registry;

        @Override public String scheme() { return "test"; }
        @Override public String syntax() { return "test:KEY"; }

        @Override
        public String checkSyntax(String spec) {
            return spec.length() > 5 ? null : "test:KEY with a key";
        }

        @Override
        public Optional<String> shareKey(String spec) {
            int hash = spec.indexOf('#');
            return Optional.of(hash < 0 ? spec : spec.substring(0, hash));
        }

        @Override
        public BlockDevice open(String spec, String holderName) throws IOException {
            if (spec.equals("test:bad")) {
                throw new IOException("a reachable test device; test:bad is not");
            }
            // Proof that open runs without the registry mutex: another thread can use the registry now.
            Thread t = Thread.ofPlatform().start(() -> events.add("names " + registry.names()));
            try {
                t.join();
            } catch (InterruptedException e) {
                throw new IOException(e);
            }
            events.add("open " + spec + " for " + holderName);
            MemoryStore store = new MemoryStore(spec, 1 << 20);
            return new Closing(store, () -> events.add("close " + spec));
        }
    }

    record Closing(MemoryStore store, Runnable onClose) implements BlockDevice, AutoCloseable {
        @Override public String name() { return store.name(); }
        @Override public long capacitySectors() { return store.capacitySectors(); }
        @Override public QueueLimits limits() { return store.limits(); }
        @Override public void submitBio(Bio bio) { store.submitBio(bio); }
        @Override public void close() { onClose.run(); }
    }

    @Test
    void theBuiltInTypesComeFromServiceLoader() {
        assertThat(LeafTypes.load().schemes()).contains("file", "mem");
        assertThat(LeafTypes.load().syntaxSummary()).isEqualTo("mem:SIZE or file:PATH");
    }

    @Test
    void aPluggedTypeIsOpenedOutsideTheLockSharedByKeyAndClosedWithItsLastTable() throws Exception {
        TestLeafType type = new TestLeafType();
        try (StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);
                DeviceRegistry dm = new DeviceRegistry(stack.submitter(),
                        RegistryOptions.defaults().withLeafTypes(LeafTypes.load().with(type)))) {
            type.registry = dm;
            dm.create("a", "0 8 linear test:one 0\n8 8 linear test:one#2 8");
            dm.create("b", "0 8 linear test:one 16");
            assertThat(type.events).containsExactly("names [a]", "open test:one for a");
            assertThat(dm.tree().stream().filter(t -> t.name().equals("a")).findFirst().orElseThrow().children())
                    .extracting(DeviceTree::kind).containsOnly(DeviceRef.Kind.EXTERNAL);
            dm.remove("a", false);
            assertThat(type.events).hasSize(2);
            dm.remove("b", false);
            assertThat(type.events).last().isEqualTo("close test:one");

            assertThatThrownBy(() -> dm.create("c", "0 8 linear test:bad 0"))
                    .hasMessage("line 1: linear: dev: test:bad (expected: a reachable test device; test:bad is not)");
            assertThatThrownBy(() -> dm.create("c", "0 8 linear test: 0"))
                    .hasMessage("line 1: linear: dev: test: (expected: test:KEY with a key)");
            assertThatThrownBy(() -> dm.create("c", "0 8 linear other:x 0"))
                    .hasMessage("line 1: linear: dev: other:x (expected: a device name, mem:SIZE, file:PATH or test:KEY)");
            assertThat(dm.names()).isEmpty();
        }
    }

    @Test
    void aRegistryWithoutAPluggedTypeRejectsItsScheme() throws Exception {
        try (StackBuilder stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);
                DeviceRegistry dm = new DeviceRegistry(stack.submitter(),
                        RegistryOptions.defaults().withLeafTypes(LeafTypes.of(new MemLeafType())))) {
            assertThatThrownBy(() -> dm.create("c", "0 8 linear file:/x 0"))
                    .hasMessage("line 1: linear: dev: file:/x (expected: a device name or mem:SIZE)");
        }
    }
}
