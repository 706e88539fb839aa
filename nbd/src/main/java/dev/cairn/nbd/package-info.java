/** NBD server: exports block devices over the Network Block Device protocol. */
package dev.cairn.nbd;
