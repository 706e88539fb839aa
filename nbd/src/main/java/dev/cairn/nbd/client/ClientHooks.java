package dev.cairn.nbd.client;

/**
 * Points in {@link NbdClientDevice}'s connection handling where tests step in to force an interleaving
 * (a connection dying at one exact moment). Production uses {@link #NONE}. Hooks run on the thread that
 * reaches the point and must not block for long.
 */
interface ClientHooks {
    ClientHooks NONE = new ClientHooks() { };

    /** On the timer thread, in a reconnect: the connection's handshake is done, it is not in the live list yet. */
    default void connected(ClientConnection c) {}
}
