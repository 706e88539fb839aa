#!/usr/bin/env bash
# A/B of Cairn variants (jars or JVM flags) against nbdkit on one stack, in alternation: the quick check of
# a proposed change before a full compare.sh run. Every workload of compare.sh (harness/lib.sh), over a
# Unix socket (default) or loopback TCP.
#
#   bench/harness/ab.sh [--stack FILE] [--nbdkit 'PLUGIN ARGS...'] [--workloads LIST] [--rounds N]
#                       [--runtime S] [--transport unix|tcp] [--jar JAR] [--out DIR]
#                       [--variant 'NAME|JAR|JVM FLAGS[|SERVER ARGS]']...
#
#   --stack      StackServeMain stack file (its first export is served); default: a 1 GiB memory store
#   --nbdkit     the nbdkit plugin and arguments that serve the same thing (default 'memory 1G'), e.g.
#                'file /tmp/x.img' or '--filter=noextents split a.img b.img c.img d.img'
#   --workloads  comma list of compare.sh workloads (default copy-read,copy-write,rr4k-q1,rw4k-q32,sw1m-q8)
#   --variant    one more Cairn server (JAR empty: the default jar), e.g. 'g1||-XX:+UseG1GC' or
#                'patched|/tmp/copy/bench/target/benchmarks.jar|'; SERVER ARGS go to StackServeMain, e.g.
#                'io16|||--io-threads 16'
#
# Prints one line per workload and round: each server's value (IOPS, MiB/s or GiB/s) and its CPU ticks
# (utime+stime, 1/100 s) during that run. The subject order rotates each round, as in compare.sh.
set -euo pipefail

here=$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd -P "$here/../.." && pwd)
H_ROOT=$root
# shellcheck source=lib.sh
source "$here/lib.sh"

rounds=3
runtime=4
jar=${CAIRN_BENCH_JAR:-}
stack=
nbdkit_args="memory 1G"
workloads=copy-read,copy-write,rr4k-q1,rw4k-q32,sw1m-q8
out=
transport=unix
variants=()
while (($#)); do
  case $1 in
    --stack) stack=$2; shift 2 ;;
    --nbdkit) nbdkit_args=$2; shift 2 ;;
    --workloads) workloads=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --runtime) runtime=$2; shift 2 ;;
    --jar) jar=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --transport) transport=$2; shift 2 ;;
    --variant) variants+=("$2"); shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "ab.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
: "${out:=/tmp/cairn-ab-$(date +%H%M%S)}"
h_init_run "$out"
out=$RUN_DIR
h_need_tools nbdkit nbdcopy nbdinfo fio jq
# shellcheck source=../../bin/lib/jdk.sh
source "$root/bin/lib/jdk.sh"
H_JAR=${jar:-$("$here/build.sh")}
H_JAVA_OPTS=${CAIRN_BENCH_JAVA_OPTS:-}

size=$((1 << 30))
H_SRC=$out/src.img
head -c $size /dev/urandom >"$H_SRC"
if [[ -z $stack ]]; then
  stack=$out/mem.stack
  printf 'mem m0 %s\nexport m0\n' $size >"$stack"
fi
declare -A pid_of=() uri_of=()
servers=()
default_jar=$H_JAR default_opts=$H_JAVA_OPTS
for v in "cairn||$default_opts" "${variants[@]}"; do
  IFS='|' read -r vname vjar vopts vargs <<<"$v"
  H_JAR=${vjar:-$default_jar} H_JAVA_OPTS=$vopts H_CAIRN_ARGS=$vargs
  h_start_cairn "$vname" "$transport" "$stack" || h_die "$vname: $H_WHY"
  pid_of[$vname]=$H_PID uri_of[$vname]=$H_URI
  servers+=("$vname")
done
# shellcheck disable=SC2086 # the plugin and its arguments are words
h_start_nbdkit nbdkit "$transport" $nbdkit_args || h_die "nbdkit: $H_WHY"
pid_of[nbdkit]=$H_PID uri_of[nbdkit]=$H_URI
servers+=(nbdkit)
for s in "${servers[@]}"; do
  nbdcopy "$H_SRC" "${uri_of[$s]}"
  h_workload "${uri_of[$s]}" mix4k-q32 $size 2 "$out/warm.json" >/dev/null
  h_workload "${uri_of[$s]}" copy-read $size 0 "$out/warm.json" >/dev/null # fresh socket memory: see harness.md, Noise
done

IFS=, read -r -a wl <<<"$workloads"
for w in "${wl[@]}"; do
  for ((r = 1; r <= rounds; r++)); do
    n=${#servers[@]} line="$w r$r"
    for ((i = 0; i < n; i++)); do
      s=${servers[$(((i + r - 1) % n))]}
      t0=$(h_cpu_ticks "${pid_of[$s]}")
      res=$(h_workload "${uri_of[$s]}" "$w" $size "$runtime" "$out/$s.json") || res="failed -"
      t1=$(h_cpu_ticks "${pid_of[$s]}")
      read -r value unit _ <<<"$res"
      line+="  $s=$value $unit/$((t1 - t0))"
    done
    echo "$line"
  done
done
for s in "${servers[@]}"; do
  echo "$s peak RSS: $(awk '/VmHWM/ {print $2, $3}' "/proc/${pid_of[$s]}/status")"
done
