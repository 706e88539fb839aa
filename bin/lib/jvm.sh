# shellcheck shell=bash
# Sourced by bin/cairn and by the benchmark harness (bench/harness/lib.sh), so the numbers in
# docs/benchmarks are for the JVM flags users get. Sets CAIRN_JVM_FLAGS, the flags Cairn's JVM starts with
# before CAIRN_JAVA_OPTS (later flags win; a GC chosen in $1 replaces ours).
#
# Why these (docs/benchmarks/harness-history.md, "Second pass"):
#   -XX:+UseSerialGC  Cairn keeps its data off the heap (direct I/O buffers, native store pages, primitive
#                     arrays for snapshot tables) and pools its bios, so the heap is small and GC is rare.
#                     G1 (the default on a machine with 2+ cores and 2+ GiB) adds remembered sets and a
#                     larger young generation: 350-380 MiB RSS for a file export, against 136 MiB with
#                     Serial, at the same throughput.
#   -Xms16m           The default initial heap is 1/64 of RAM (376 MiB on a 24 GiB machine), committed
#                     and touched as the young generation fills. The heap still grows to the default
#                     maximum (1/4 of RAM) when a large snapshot table needs it.
cairn_jvm_flags() {
  local user=${1:-}
  CAIRN_JVM_FLAGS=(-Xms16m)
  if [[ ! $user =~ -XX:\+Use[A-Za-z0-9]+GC ]]; then
    CAIRN_JVM_FLAGS+=(-XX:+UseSerialGC)
  fi
}
