#!/usr/bin/env bash
# Profiles one Cairn stack under one client workload with JFR and prints where the time goes.
#
#   bench/harness/profile.sh --stack plain-mem|tls-mem|plain-file|linear2|snapshot|striped|depth8 --workload W
#                            [--runtime S] [--size SIZE] [--out DIR] [--src head|worktree] [--jar JAR]
#
# W is any compare.sh workload (copy-read, rr4k-q32, sw1m-q8, ...; see harness/lib.sh). Starts the server
# with -XX:StartFlightRecording (settings=profile), fills the device, warms it up for 3 s, records while
# the workload runs, and prints from the recording:
#   - CPU of the server per GiB moved (from /proc, the same as compare.sh)
#   - top "self" frames of jdk.ExecutionSample (Java code on CPU)
#   - top Cairn frames (the first dev.cairn frame of each sample: whose code the CPU was in or under)
#   - top native frames (jdk.NativeMethodSample: threads in system calls or parked in epoll)
#   - top allocation sites (jdk.ObjectAllocationSample, weighted) and classes
#   - thread parks longer than 10 ms per blocking frame (jdk.ThreadPark)
# The .jfr stays in DIR for `jfr print` / JMC.
set -euo pipefail

here=$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd -P "$here/../.." && pwd)
H_ROOT=$root
# shellcheck source=lib.sh
source "$here/lib.sh"

stack=plain-mem
workload=rr4k-q32
runtime=10
size=1G
out=
src=head
jar=${CAIRN_BENCH_JAR:-}
while (($#)); do
  case $1 in
    --stack) stack=$2; shift 2 ;;
    --workload) workload=$2; shift 2 ;;
    --runtime) runtime=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --src) src=$2; shift 2 ;;
    --jar) jar=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "profile.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
s=${size^^}; m=1
case $s in *K) m=1024 ;; *M) m=$((1 << 20)) ;; *G) m=$((1 << 30)) ;; esac
size_bytes=$((${s%[KMG]} * m))
sectors=$((size_bytes / 512))

: "${out:=/tmp/cairn-profile-$stack-$workload-$(date +%H%M%S)}"
h_init_run "$out"
out=$RUN_DIR

h_need_tools nbdcopy nbdinfo fio jq
# shellcheck source=../../bin/lib/jdk.sh
source "$root/bin/lib/jdk.sh"
H_JAR=${jar:-$("$here/build.sh" --src "$src")}
H_JFR_DIR=$out
H_JAVA_OPTS=${CAIRN_BENCH_JAVA_OPTS:-}
H_SRC=$out/src.img
head -c "$size_bytes" /dev/urandom >"$H_SRC"

case $stack in
  plain-mem) printf 'mem m0 %s\nexport m0\n' "$size_bytes" ;;
  tls-mem)
    # plain-mem with TLS required (X.509, a certificate made here), as compare.sh's tls group
    mkdir -p "$out/pki"
    (cd "$out/pki" && certtool --generate-privkey --outfile ca-key.pem &&
      printf 'cn = CA\nca\ncert_signing_key\nexpiration_days = 30\n' >ca.info &&
      certtool --generate-self-signed --load-privkey ca-key.pem --template ca.info --outfile ca-cert.pem &&
      certtool --generate-privkey --outfile server-key.pem &&
      printf 'cn = localhost\ndns_name = localhost\ntls_www_server\nencryption_key\nsigning_key\nexpiration_days = 30\n' >server.info &&
      certtool --generate-certificate --load-ca-certificate ca-cert.pem --load-ca-privkey ca-key.pem \
        --load-privkey server-key.pem --template server.info --outfile server-cert.pem) >"$out/certtool.log" 2>&1 ||
      h_die "certtool failed (see $out/certtool.log)"
    H_TLS_PKI=$out/pki
    H_CAIRN_ARGS="${H_CAIRN_ARGS:-} --tls-certificates $out/pki"
    printf 'mem m0 %s\nexport m0\n' "$size_bytes" ;;
  plain-file) cp "$H_SRC" "$out/f0.img"; printf 'file f0 %s\nexport f0\n' "$out/f0.img" ;;
  linear2)
    truncate -s $((size_bytes + (2 << 20))) "$out/f0.img"
    printf 'file f0 %s\ndevice l1\n0 %s linear f0 2048\ndevice l2\n0 %s linear l1 2048\nexport l2\n' \
      "$out/f0.img" $((sectors + 2048)) "$sectors" ;;
  snapshot)
    # The COW holds every chunk twice over: the warm-up and a first write of the whole device fit.
    cp "$H_SRC" "$out/base.img"; truncate -s $((2 * size_bytes)) "$out/cow.img"
    printf 'file base %s\nfile cow %s\ndevice snap\n0 %s snapshot base cow P 128\nexport snap\n' \
      "$out/base.img" "$out/cow.img" "$sectors" ;;
  striped)
    for i in 0 1 2 3; do truncate -s $((size_bytes / 4)) "$out/s$i.img"; done
    printf 'file f0 %s\nfile f1 %s\nfile f2 %s\nfile f3 %s\ndevice s0\n0 %s striped 4 128 f0 0 f1 0 f2 0 f3 0\nexport s0\n' \
      "$out/s0.img" "$out/s1.img" "$out/s2.img" "$out/s3.img" "$sectors" ;;
  depth8)
    printf 'mem m0 %s\n' "$size_bytes"
    prev=m0
    for d in 1 2 3 4 5 6 7 8; do printf 'device d%s\n0 %s linear %s 0\n' $d "$sectors" $prev; prev=d$d; done
    echo "export d8" ;;
  *) h_die "unknown stack $stack" ;;
esac >"$out/cairn.stack"

h_start_cairn cairn unix "$out/cairn.stack" || h_die "Cairn did not start: $H_WHY"
pid=$H_PID
uri=$H_URI
if [[ $stack == plain-mem || $stack == tls-mem || $stack == depth8 || $stack == linear2 || $stack == striped ]]; then
  nbdcopy "$H_SRC" "$uri"
fi
h_workload "$uri" mix4k-q32 "$size_bytes" 3 "$out/warmup.json" >/dev/null || true
if [[ $stack == snapshot ]]; then
  # The warm-up copied chunks out: start the measured first write on a fresh snapshot of the same JVM.
  h_stop_pid "$pid"
  rm -f "$out/cow.img"; truncate -s $((2 * size_bytes)) "$out/cow.img"
  h_start_cairn cairn2 unix "$out/cairn.stack" || h_die "Cairn did not restart: $H_WHY"
  pid=$H_PID uri=$H_URI
  fio --name=warm --ioengine=nbd --uri="$uri" --rw=randread --bs=4k --iodepth=32 --size="$size_bytes" \
    --time_based --runtime=3 --randrepeat=0 >/dev/null 2>&1 || true
fi
c0=$(h_cpu_ticks "$pid")
if [[ $workload == copy-* ]]; then
  # nbdcopy runs are short: repeat them for about --runtime seconds.
  total=0; n=0; t_end=$(($(date +%s) + runtime))
  while (($(date +%s) < t_end)); do
    read -r v unit bytes _ <<<"$(h_workload "$uri" "$workload" "$size_bytes" "$runtime" "$out/w.json")"
    total=$((total + bytes)); n=$((n + 1)); echo "  run $n: $v $unit"
  done
  bytes=$total
else
  read -r v unit bytes _ <<<"$(h_workload "$uri" "$workload" "$size_bytes" "$runtime" "$out/w.json")"
  echo "  $workload: $v $unit"
fi
c1=$(h_cpu_ticks "$pid")
awk -v c=$((c1 - c0)) -v t="$H_CLK_TCK" -v b="$bytes" \
  'BEGIN {printf "server CPU %.2f s for %.2f GiB: %.3f CPU s/GiB\n", c / t, b / 2^30, (c / t) / (b / 2^30)}'
h_stop_pid "$pid"
sleep 1
jfrfile=$out/cairn.jfr
[[ $stack == snapshot ]] && jfrfile=$out/cairn2.jfr
[[ -s $jfrfile ]] || h_die "no recording at $jfrfile"
JFR=$JAVA_HOME/bin/jfr

top() { sort | uniq -c | sort -rn | head -n "${1:-15}"; }
frames() { # $1 event, $2 depth: prints each sample's frames on one line, separated by " < "
  "$JFR" print --events "$1" --stack-depth "$2" "$jfrfile" | awk '
    /stackTrace = \[/ { inside = 1; line = ""; next }
    inside && /^[[:space:]]*\]/ { inside = 0; print line; next }
    inside { f = $0; sub(/^[[:space:]]+/, "", f); sub(/[[:space:]]+line:.*/, "", f); sub(/\(.*\)/, "", f)
             line = line == "" ? f : line " < " f }'
}
echo
echo "== Java on CPU, self frame (jdk.ExecutionSample; $(frames jdk.ExecutionSample 1 | wc -l) samples)"
frames jdk.ExecutionSample 1 | top 20
echo
echo "== Java on CPU, first Cairn frame (where in Cairn, or under which Cairn call)"
frames jdk.ExecutionSample 64 | awk -F' < ' '{ for (i = 1; i <= NF; i++) if ($i ~ /^dev\.cairn/) { print $i; next } print "(no Cairn frame) " $1 }' | top 20
echo
echo "== Java on CPU, self frame < caller < caller"
frames jdk.ExecutionSample 3 | top 15
echo
echo "== Native (jdk.NativeMethodSample: system calls, or idle in epoll)"
frames jdk.NativeMethodSample 2 | top 8
echo
echo "== Allocation (jdk.ObjectAllocationSample, by weight in MiB): class < site"
"$JFR" print --events jdk.ObjectAllocationSample --stack-depth 2 "$jfrfile" | awk '
  /objectClass = / { c = $3 }
  /weight = / { w = $3; u = $4; if (u ~ /kB/) w /= 1024; else if (u ~ /GB/) w *= 1024; else if (u ~ /bytes/) w /= 1048576 }
  /stackTrace = \[/ { getline; f = $0; sub(/^[[:space:]]+/, "", f); sub(/[[:space:]]+line:.*/, "", f); sub(/\(.*\)/, "", f)
                      sum[c " < " f] += w }
  END { for (k in sum) printf "%10.1f MiB  %s\n", sum[k], k }' | sort -rn | head -15
echo
echo "== Parks over 10 ms (jdk.ThreadPark), by the first Cairn frame"
frames jdk.ThreadPark 64 | awk -F' < ' '{ for (i = 1; i <= NF; i++) if ($i ~ /^dev\.cairn/) { print $i; next } print "(no Cairn frame) " $1 }' | top 8
echo
echo "recording: $jfrfile"
