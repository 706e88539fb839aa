package dev.cairn.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.cairn.block.BioSet;
import dev.cairn.block.SubmitPolicy;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class StackBuilderTest {

    @Test
    void closesInReverseOrderThenTheSubmitterAndReportsTheFirstFailure() {
        List<String> closed = new ArrayList<>();
        StackBuilder stack = StackBuilder.create(SubmitPolicy.LEGACY);
        BioSet set = stack.bioSet("set", 4);
        stack.add((AutoCloseable) () -> closed.add("a"));
        stack.add((AutoCloseable) () -> {
            closed.add("b");
            throw new IllegalStateException("b failed");
        });
        stack.add((AutoCloseable) () -> closed.add("c"));
        assertThatThrownBy(stack::close).isInstanceOf(IllegalStateException.class).hasMessage("b failed");
        assertThat(closed).containsExactly("c", "b", "a");
        assertThat(stack.submitter().isShutdown()).isTrue();
        assertThat(set.available()).isEqualTo(4);
        stack.close(); // idempotent
        assertThatThrownBy(() -> stack.add(new Object())).isInstanceOf(IllegalStateException.class);
    }
}
