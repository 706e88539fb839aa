package dev.cairn.nbd.server;

/**
 * One open NBD connection's figures at one moment ({@link NbdServer#connectionStats()}).
 *
 * @param id                   the server's number for the connection (as in its log lines)
 * @param peer                 the client's address
 * @param exportName           the export it chose, or null while it is still in the handshake
 * @param readingEnded         the connection reads no more requests (DISC, end of stream, a stop): it only
 *                             finishes what is in flight, then closes
 * @param inFlightRequests     requests read and not yet answered
 * @param waitingForBudget     the reader waits for in-flight requests to finish before it takes the next one
 *                             (the server's bounds on requests and bytes in flight)
 * @param streamingSwitches    times request reading moved from the connection's virtual thread to a platform
 *                             thread of its own (a run of large WRITEs)
 * @param copiedFileRangeBytes bytes of READ replies answered by reference that were sent by copying through
 *                             memory because the socket was full
 */
public record ConnectionStats(long id, String peer, String exportName, boolean readingEnded,
        int inFlightRequests,
        boolean waitingForBudget, int streamingSwitches, long copiedFileRangeBytes) {}
