package dev.cairn.nbd.server;

import static org.assertj.core.api.Assertions.assertThat;

import dev.cairn.block.SubmitPolicy;
import dev.cairn.block.Submitter;
import java.util.function.UnaryOperator;

/** A server without listeners (in-memory connections) and its submitter; checks for leaks on close. */
final class ServerFixture implements AutoCloseable {
    final Submitter submitter = Submitter.create(SubmitPolicy.FLUSH_ON_BLOCK);
    final NbdServer server;

    ServerFixture() {
        this(b -> b);
    }

    ServerFixture(UnaryOperator<NbdServer.Builder> config) {
        server = config.apply(NbdServer.builder().submitter(submitter).noListeners()).build();
    }

    ServerFixture export(NbdExport e) {
        server.addExport(e);
        return this;
    }

    /** Waits until every connection closed and every buffer went back to the pool. */
    /** Internal errors a test provokes on purpose (an injected bug); every other test expects none. */
    long expectedInternalErrors;

    void assertQuiescent() {
        long deadline = System.currentTimeMillis() + 10_000;
        while ((server.connectionCount() != 0 || server.bufferPool().outstanding() != 0)
                && System.currentTimeMillis() < deadline) {
            try {
                Thread.sleep(5);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        assertThat(server.connectionCount()).as("open connections").isZero();
        assertThat(server.bufferPool().outstanding()).as("buffers not returned to the pool").isZero();
        assertThat(server.internalErrors()).as("connections that ended with an internal error")
                .isEqualTo(expectedInternalErrors);
    }

    @Override
    public void close() {
        server.close();
        submitter.close();
    }
}
