/**
 * dm-thin: the {@code thin-pool} and {@code thin} targets over the Linux thin-provisioning metadata
 * format ({@link dev.cairn.thin.ThinMetadata}), so that {@code thin_check}, {@code thin_dump} and a Linux
 * kernel read what Cairn writes, and Cairn reads theirs.
 */
package dev.cairn.thin;
