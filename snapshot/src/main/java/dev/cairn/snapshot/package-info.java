/** dm-snapshot: the snapshot-origin, snapshot and snapshot-merge targets and their exception stores. */
package dev.cairn.snapshot;
