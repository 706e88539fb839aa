/**
 * A Java NBD client: {@link dev.cairn.nbd.client.NbdClientDevice} makes a remote NBD export (another
 * Cairn daemon, qemu-nbd, nbdkit, nbd-server) a {@link dev.cairn.block.BlockDevice}, and
 * {@link dev.cairn.nbd.client.NbdLeafType} lets tables name it as {@code nbd://HOST[:PORT]/EXPORT} or
 * {@code nbd+unix:///EXPORT?socket=PATH}. Fixed newstyle handshake with OPT_GO, structured replies,
 * {@code base:allocation} block status, the server's FUA/FLUSH/TRIM/WRITE_ZEROES/FAST_ZERO, multi-conn
 * and reconnect with backoff. Not supported: TLS, extended headers, NBD_CMD_CACHE, resize.
 */
package dev.cairn.nbd.client;
