#!/usr/bin/env bash
# Context switches and server CPU per request: Cairn (memory store) against nbdkit memory, alternating.
# Evidence for the thread hand-off cost of a request (reader -> device -> writer, poller wake-ups).
#
#   bench/harness/handoffs.sh [--rounds N] [--runtime S] [--jar JAR] [--stack FILE] [--out DIR]
#                             [--variant 'NAME|JAR|JVM FLAGS']...
#
# For each workload (4k randread qd1 and qd32, 4k randwrite qd32, 1M read qd8) and round, runs fio against
# each server and prints IOPS, context switches per I/O (voluntary + involuntary, summed over all the
# server's threads from /proc/PID/task/*/status) and server CPU microseconds per I/O (utime+stime).
# Counters are read 1 s after fio starts and 1 s before it ends, while the connection (and nbdkit's
# per-connection threads, whose counts vanish when they exit) still exist; I/Os in that window are
# estimated as IOPS x window. Extra JVM flags for Cairn: CAIRN_BENCH_JAVA_OPTS.
# --stack: serve this StackServeMain stack file instead of a plain 1 GiB memory store (its first export).
# --variant: one more Cairn server in the alternation (JAR empty: the default jar), e.g. to measure a
#   proposed change built from a private copy of the sources, or JVM flags:
#   --variant 'vt1||-Djdk.virtualThreadScheduler.parallelism=1'
set -euo pipefail

here=$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd -P "$here/../.." && pwd)
H_ROOT=$root
# shellcheck source=lib.sh
source "$here/lib.sh"

rounds=2
runtime=6
jar=${CAIRN_BENCH_JAR:-}
stack=
out=
variants=()
while (($#)); do
  case $1 in
    --variant) variants+=("$2"); shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --runtime) runtime=$2; shift 2 ;;
    --jar) jar=$2; shift 2 ;;
    --stack) stack=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "handoffs.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
: "${out:=/tmp/cairn-handoffs-$(date +%H%M%S)}"
h_init_run "$out"
out=$RUN_DIR
h_need_tools nbdkit nbdcopy fio jq
# shellcheck source=../../bin/lib/jdk.sh
source "$root/bin/lib/jdk.sh"
H_JAR=${jar:-$("$here/build.sh")}
H_JAVA_OPTS=${CAIRN_BENCH_JAVA_OPTS:-}

size=$((1 << 30))
head -c $size /dev/urandom >"$out/src.img"
if [[ -z $stack ]]; then
  stack=$out/mem.stack
  printf 'mem m0 %s\nexport m0\n' $size >"$stack"
fi
declare -A pid_of=() uri_of=()
servers=(cairn)
h_start_cairn cairn unix "$stack" || h_die "Cairn: $H_WHY"
pid_of[cairn]=$H_PID uri_of[cairn]=$H_URI
default_jar=$H_JAR default_opts=$H_JAVA_OPTS
for v in "${variants[@]}"; do
  IFS='|' read -r vname vjar vopts <<<"$v"
  H_JAR=${vjar:-$default_jar} H_JAVA_OPTS=$vopts
  h_start_cairn "$vname" unix "$stack" || h_die "$vname: $H_WHY"
  pid_of[$vname]=$H_PID uri_of[$vname]=$H_URI
  servers+=("$vname")
done
H_JAR=$default_jar H_JAVA_OPTS=$default_opts
h_start_nbdkit nbdkit unix memory $size || h_die "nbdkit: $H_WHY"
pid_of[nbdkit]=$H_PID uri_of[nbdkit]=$H_URI
servers+=(nbdkit)
for s in "${servers[@]}"; do
  nbdcopy "$out/src.img" "${uri_of[$s]}"
  h_workload "${uri_of[$s]}" mix4k-q32 $size 2 "$out/warm.json" >/dev/null
done

ctx() {
  local t=0 f
  for f in /proc/"$1"/task/*/status; do
    t=$((t + $(awk '/ctxt_switches/ {s += $2} END {print s + 0}' "$f" 2>/dev/null || echo 0)))
  done
  echo $t
}
printf '%-10s %-22s %5s %10s %10s %12s\n' server workload round IOPS ctxsw/io cpu_us/io
for w in "randread 4k 1" "randread 4k 32" "randwrite 4k 32" "read 1M 8"; do
  read -r rw bs qd <<<"$w"
  for ((r = 1; r <= rounds; r++)); do
    n=${#servers[@]}
    for ((i = 0; i < n; i++)); do
      s=${servers[$(((i + r - 1) % n))]}
      p=${pid_of[$s]} u=${uri_of[$s]}
      fio --name=t --ioengine=nbd --uri="$u" --rw="$rw" --bs="$bs" --iodepth="$qd" --size=$size --time_based \
        --runtime="$runtime" --norandommap --randrepeat=0 --output-format=json --output="$out/f.json" >/dev/null &
      fpid=$!
      sleep 1
      c0=$(ctx "$p"); t0=$(h_cpu_ticks "$p")
      sleep $((runtime - 2))
      c1=$(ctx "$p"); t1=$(h_cpu_ticks "$p")
      wait $fpid
      read -r iops < <(jq -r '.jobs[0] | .read.iops + .write.iops' "$out/f.json")
      ios=$(awk -v i="$iops" -v w=$((runtime - 2)) 'BEGIN {printf "%.0f", i * w}')
      awk -v s="$s" -v w="$rw $bs qd$qd" -v r="$r" -v ios="$ios" -v iops="$iops" -v c=$((c1 - c0)) -v t=$((t1 - t0)) \
        -v hz="$H_CLK_TCK" 'BEGIN {printf "%-10s %-22s %5d %10.0f %10.2f %12.1f\n", s, w, r, iops, c / ios, t / hz * 1e6 / ios}'
    done
  done
done
