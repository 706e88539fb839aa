package dev.cairn.dm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.Bio;
import dev.cairn.block.BioOp;
import dev.cairn.block.BioStatus;
import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.store.MemoryStore;
import dev.cairn.testkit.Io;
import dev.cairn.testkit.Pattern;
import dev.cairn.testkit.StackBuilder;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Holders, open counts, remove rules, deps, the tree and the dependency order. */
class RegistryTest {
    private StackBuilder stack;
    private DeviceRegistry dm;

    @BeforeEach
    void setUp() throws Exception {
        stack = StackBuilder.create(SubmitPolicy.FLUSH_ON_BLOCK);
        dm = new DeviceRegistry(stack.submitter());
        dm.addLeaf("disk", new MemoryStore("disk", 4 << 20));
        dm.create("base", "0 8192 linear disk 0");
        dm.create("top", "0 4096 linear base 0\n4096 4096 striped 2 8 base 4096 mem:1M 0");
    }

    @AfterEach
    void tearDown() {
        dm.close();
        stack.close();
    }

    @Test
    void infoReportsHoldersOpenCountAndState() throws Exception {
        DeviceInfo base = dm.info("base");
        assertThat(base.holders()).containsExactly("top");
        assertThat(base.openCount()).isEqualTo(2); // two references from top's table
        assertThat(base.state()).isEqualTo(DeviceState.ACTIVE);
        assertThat(base.liveTable()).isTrue();
        assertThat(base.inactiveTable()).isFalse();
        assertThat(base.capacitySectors()).isEqualTo(8192);
        assertThat(base.targetCount()).isEqualTo(1);
        assertThat(base.eventNumber()).isEqualTo(1);
        DeviceInfo top = dm.info("top");
        assertThat(top.holders()).isEmpty();
        assertThat(top.openCount()).isZero();
        assertThat(top.targetCount()).isEqualTo(2);
    }

    @Test
    void removeIsRefusedWhileAnotherDeviceUsesIt() throws Exception {
        assertThatThrownBy(() -> dm.remove("base", false)).isInstanceOf(DeviceBusyException.class)
                .hasMessage("device: base (expected: not in use; used by top)");
        assertThatThrownBy(() -> dm.removeLeaf("disk")).isInstanceOf(DeviceBusyException.class)
                .hasMessage("device: disk (expected: not in use; used by base)");
        dm.remove("top", false);
        assertThat(dm.info("base").holders()).isEmpty();
        assertThat(dm.info("base").openCount()).isZero();
        dm.remove("base", false);
        dm.removeLeaf("disk");
        assertThat(dm.names()).isEmpty();
    }

    @Test
    void anInactiveTableHoldsItsDevicesToo() throws Exception {
        dm.create("other", "0 8 zero");
        dm.load("other", "0 8 linear base 0");
        assertThat(dm.info("base").holders()).containsExactly("other", "top");
        assertThat(dm.deps("other")).isEqualTo(new DeviceDeps("other", List.of(), List.of("base")));
        dm.clear("other");
        assertThat(dm.info("base").holders()).containsExactly("top");
    }

    @Test
    void removeIsRefusedWhileOpen() throws Exception {
        OpenHandle h = dm.device("top").open();
        assertThat(dm.info("top").openCount()).isEqualTo(1);
        assertThatThrownBy(() -> dm.remove("top", false)).isInstanceOf(DeviceBusyException.class)
                .hasMessage("device: top (expected: not open; open count 1)");
        h.close();
        h.close(); // idempotent
        assertThat(dm.info("top").openCount()).isZero();
        dm.remove("top", false);
        assertThatThrownBy(() -> dm.device("top")).isInstanceOf(NoSuchDeviceException.class);
    }

    @Test
    void forcedRemoveOfAUsedDeviceMakesItsUsersFail() throws Exception {
        MappedDevice top = dm.device("top");
        Io.writeOk(stack.submitter(), top, 0, Pattern.segment(0, 4096, 1));
        MappedDevice base = dm.device("base");
        dm.remove("base", true);
        assertThat(base.isRemoved()).isTrue();
        assertThat(dm.names()).containsExactly("top");
        assertThat(Io.read(stack.submitter(), top, 0, MemorySegment.ofArray(new byte[4096]))).isEqualTo(BioStatus.IOERR);
        assertThatThrownBy(() -> base.open()).isInstanceOf(NoSuchDeviceException.class);
        dm.remove("top", false);
        dm.removeLeaf("disk"); // base's table was destroyed, so disk is free
    }

    @Test
    void removingASuspendedDeviceFailsItsHeldIo() throws Exception {
        MappedDevice top = dm.device("top");
        top.suspend(SuspendMode.FLUSH);
        CompletableFuture<BioStatus> status = new CompletableFuture<>();
        Bio b = Bio.alloc().setDevice(top).setOp(BioOp.READ).setSector(0).setData(MemorySegment.ofArray(new byte[512]));
        b.setEndIo(x -> status.complete(x.status()));
        stack.submitter().submit(b);
        assertThat(top.info().heldBios()).isEqualTo(1);
        dm.remove("top", false);
        assertThat(status.get(5, TimeUnit.SECONDS)).isEqualTo(BioStatus.IOERR);
    }

    @Test
    void depsTreeAndDependencyOrder() throws Exception {
        assertThat(dm.deps("top")).isEqualTo(new DeviceDeps("top", List.of("base", "mem:1M"), List.of()));
        assertThat(dm.deps("base").live()).containsExactly("disk");
        dm.create("solo", "0 8 zero");
        List<DeviceTree> tree = dm.tree();
        assertThat(tree).extracting(DeviceTree::name).containsExactly("solo", "top");
        assertThat(tree.get(1).render()).isEqualTo("""
                top
                 |-base
                 |  `-disk
                 `-mem:1M
                """);
        assertThat(tree.get(1).children().get(0).kind()).isEqualTo(DeviceRef.Kind.MAPPED);
        assertThat(tree.get(1).children().get(1).kind()).isEqualTo(DeviceRef.Kind.MEMORY);
        dm.create("aaa", "0 8 linear top 0");
        assertThat(dm.dependencyOrder()).containsExactly("base", "top", "aaa", "solo");
    }

    @Test
    void messagesGoToTheTargetAtTheSector() throws Exception {
        assertThatThrownBy(() -> dm.message("top", 0, "hello"))
                .hasMessage("linear: message: hello (expected: none; this target takes no messages)");
        assertThatThrownBy(() -> dm.message("top", 8192, "x"))
                .hasMessage("sector: 8192 (expected: a sector of the device, below 8192)");
    }

    @Test
    void resumeSwapsTablesAndRaisesTheEventNumber() throws Exception {
        MappedDevice top = dm.device("top");
        long before = top.eventNumber();
        dm.load("top", "0 16 zero");
        assertThat(top.capacitySectors()).isEqualTo(8192); // the live table is untouched until resume
        assertThat(dm.inactiveStatus("top", StatusType.TABLE).text()).isEqualTo("0 16 zero\n");
        dm.resume("top");
        assertThat(top.capacitySectors()).isEqualTo(16);
        assertThat(top.eventNumber()).isEqualTo(before + 1);
        assertThat(dm.info("base").holders()).isEmpty();
        dm.resume("top"); // nothing loaded, already active: no-op
        assertThat(top.eventNumber()).isEqualTo(before + 1);
    }

    @Test
    void aDeviceWithoutATableCannotBeResumedAfterSuspend() throws Exception {
        MappedDevice md = dm.create("empty");
        assertThat(md.info().liveTable()).isFalse();
        md.suspend(SuspendMode.FLUSH);
        assertThatThrownBy(md::resume).hasMessage("resume: empty (expected: a device with a table; load one first)");
    }

    @Test
    void closeRemovesEverything() throws Exception {
        MappedDevice top = dm.device("top");
        dm.close();
        assertThat(top.isRemoved()).isTrue();
        assertThat(dm.names()).isEmpty();
        assertThatThrownBy(() -> dm.create("x")).hasMessage("registry: closed (expected: an open registry)");
    }
}
