/**
 * Ceph RBD images as Cairn leaf devices: {@link dev.cairn.rbd.RbdDevice} over librbd through the FFM API,
 * named in tables as {@code rbd:POOL/IMAGE[@SNAP][?conf=PATH&id=USER&timeout=SECONDS]}
 * ({@link dev.cairn.rbd.RbdLeafType}). See docs/scale-out.md.
 */
package dev.cairn.rbd;
