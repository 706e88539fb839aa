/**
 * Linux persistent-data ({@code drivers/md/persistent-data}) in Java, byte for byte: a block manager of
 * 4 KiB checksummed blocks, a shadowing transaction manager, btrees laid out and balanced as the kernel
 * does, and the disk and metadata space maps. Used by the thin target; era and cache could reuse it.
 */
package dev.cairn.pdata;
