/**
 * Test support shared by the modules' tests.
 *
 * <ul>
 *   <li>{@link dev.cairn.testkit.Pattern}: self-checking data; the byte at offset X of generation G is a
 *       function of (X, G); fill, verify (first mismatch with expected and found generation), classify.</li>
 *   <li>{@link dev.cairn.testkit.Io}: one-line synchronous read/write/flush/discard/write-zeroes through a
 *       {@link dev.cairn.block.Submitter}, and {@code extents} of a device.</li>
 *   <li>{@link dev.cairn.testkit.ModelDevice} and {@link dev.cairn.testkit.RandomIo}: a reference model and a
 *       seeded random I/O generator that runs against a device and the model at once (seed printed on failure,
 *       replay with {@code -Dcairn.seed=N}).</li>
 *   <li>{@link dev.cairn.testkit.CrashSimulatingStore} and {@link dev.cairn.testkit.DiskImage}: a memory store
 *       with a volatile write cache; {@code crash(seed)} gives one possible disk after a power cut, which
 *       {@code open}s again as a new store.</li>
 *   <li>{@link dev.cairn.testkit.PatternDevice}: a read-only device full of one pattern generation.</li>
 *   <li>{@link dev.cairn.testkit.StackBuilder}: a submitter plus everything a test builds on it, torn down in
 *       reverse order by one try-with-resources.</li>
 *   <li>{@link dev.cairn.testkit.Poll}: wait for a condition another thread makes true, with a deadline,
 *       instead of a fixed sleep.</li>
 * </ul>
 */
package dev.cairn.testkit;
