/**
 * The NBD server: {@link dev.cairn.nbd.server.NbdServer} serves {@link dev.cairn.nbd.server.NbdExport}s
 * (any {@link dev.cairn.block.BlockDevice}) over TCP and Unix sockets. Only the builder, the export and the
 * standalone main are public.
 */
package dev.cairn.nbd.server;
