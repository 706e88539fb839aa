#!/usr/bin/env bash
# Soak test: mixed real clients against a Cairn snapshot stack for N minutes. Not part of bin/test.
#
#   bench/soak.sh --minutes N [--out DIR] [--size SIZE] [--rss-tolerance PCT] [--src head|worktree]
#
# Stack (StackServeMain, persistent COW, 8 KiB chunks):
#   base file (every byte 0x5a) --> "origin" export: snapshot-origin base
#                               \-> "snap"   export: snapshot base cow P 16
# The device is cut into quarters, each with its own writer, so every client can check what it reads:
#   Q0  qemu-io writes a new pattern to the ORIGIN and reads it back; the snapshot must still read 0x5a
#       there (every origin write copies the old chunk out first)
#   Q1  fio randwrite with crc32c verify on the SNAPSHOT (each pass writes every block once, then reads
#       all back and checks)
#   Q2  qemu-io writes a new pattern to the SNAPSHOT and reads it back; the origin must still read 0x5a
#   Q3  nobody writes: nbdcopy reads the whole snapshot and the whole origin to null: in a loop, and
#       qemu-io checks 0x5a on both exports
# Runs all loops in parallel until the time is up, samples the server's RSS every 5 s, then asserts:
#   - no client reported an error (every failed command is logged in DIR/errors.log)
#   - the server's log has no WATCHDOG line (the block layer's watchdog saw no hung bio or wait, 10 s
#     threshold) and no "internal error"
#   - the server is still alive and answers
#   - RSS is flat after warm-up: the median of the last third of the samples is at most the median of
#     the middle third plus max(PCT %, 32 MiB) (PCT default 10). The first third is warm-up. The JVM gets
#     a fixed, pre-touched heap (-Xms256m -Xmx256m -XX:+AlwaysPreTouch, override with
#     CAIRN_SOAK_JAVA_OPTS) so heap sizing does not look like growth; what can still grow is native memory
#     (I/O buffers, direct memory, metaspace, code cache, thread stacks).
# Exit status 0 when every assertion holds, 1 otherwise. Prints a summary (also DIR/summary.txt).
set -euo pipefail

here=$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd -P "$here/.." && pwd)
H_ROOT=$root
# shellcheck source=harness/lib.sh
source "$here/harness/lib.sh"

minutes=
out=
size=256M
tolerance=10
src=head
while (($#)); do
  case $1 in
    --minutes) minutes=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --rss-tolerance) tolerance=$2; shift 2 ;;
    --src) src=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "soak.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ $minutes =~ ^[0-9]+$ ]] && ((minutes > 0)) || { echo "soak.sh: --minutes N (N >= 1) is needed" >&2; exit 2; }

to_bytes() {
  local s=${1^^} m=1
  case $s in *K) m=1024 ;; *M) m=$((1 << 20)) ;; *G) m=$((1 << 30)) ;; esac
  s=${s%[KMG]}
  echo $((s * m))
}
size_bytes=$(to_bytes "$size")
((size_bytes % (4 << 20) == 0)) || { echo "soak.sh: --size must be a multiple of 4 MiB" >&2; exit 2; }
q=$((size_bytes / 4))
sectors=$((size_bytes / 512))

: "${out:=/tmp/cairn-soak-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
out=$(cd "$out" && pwd)
H_RUN=$out/run
H_PIDS=$out/pids.tsv
H_WATCH=$out/watch
H_RSSDIR=$out/rss
mkdir -p "$H_RUN"
: >"$H_PIDS"
: >"$out/errors.log"
loops=()
stop_loops() {
  local p
  for p in "${loops[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${loops[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  loops=()
}
trap 'stop_loops; h_cleanup; rm -f "$out"/base.img "$out"/cow.img' EXIT
trap 'exit 130' INT TERM

h_need_tools nbdcopy nbdinfo qemu-io fio jq
# shellcheck source=../bin/lib/jdk.sh
source "$root/bin/lib/jdk.sh"
H_JAR=${CAIRN_BENCH_JAR:-$("$here/harness/build.sh" --src "$src")}
H_JAVA_OPTS=${CAIRN_SOAK_JAVA_OPTS:--Xms256m -Xmx256m -XX:+AlwaysPreTouch}
H_CAIRN_ARGS="--watchdog-ms 10000"

h_log "output: $out"
h_log "base image: $size of 0x5a"
truncate -s "$size_bytes" "$out/base.img"
qemu-io -f raw -c "write -P 0x5a 0 $size_bytes" "$out/base.img" >/dev/null
truncate -s "$size_bytes" "$out/cow.img"
{
  echo "file base $out/base.img"
  echo "file cow $out/cow.img"
  echo "device origin"
  echo "0 $sectors snapshot-origin base"
  echo "device snap"
  echo "0 $sectors snapshot base cow P 16"
  echo "export origin origin"
  echo "export snap snap"
} >"$out/soak.stack"
if ! h_start_cairn cairn unix "$out/soak.stack" origin; then
  h_die "Cairn did not start: $H_WHY"
fi
server=$H_PID
sock=$H_RUN/cairn.sock
U_ORIGIN="nbd+unix:///origin?socket=$sock"
U_SNAP="nbd+unix:///snap?socket=$sock"
nbdinfo --size "$U_SNAP" >/dev/null || h_die "the snapshot export does not answer"
h_log "serving: $U_ORIGIN and $U_SNAP (pid $server)"

deadline=$(($(date +%s) + minutes * 60))
fail() { printf '%s %s: %s\n' "$(date +%H:%M:%S)" "$1" "$2" >>"$out/errors.log"; }
counter() { echo $(($(cat "$out/count.$1" 2>/dev/null || echo 0) + 1)) >"$out/count.$1"; }

# Q0: origin writer; snapshot keeps 0x5a.
loop_origin() {
  local i=0 p off len=$((1 << 20)) res
  while (($(date +%s) < deadline)); do
    i=$((i + 1))
    p=$(((i % 250) + 1))
    off=$(((RANDOM * 32768 + RANDOM) % (q / len) * len))
    if ! res=$(qemu-io -f raw -c "write -P $p $off $len" -c "read -P $p $off $len" "$U_ORIGIN" 2>&1) ||
      grep -q 'fail\|error\|Pattern verification' <<<"$res"; then
      fail origin "write/read pattern $p at $off: $(tail -n2 <<<"$res" | tr '\n' ' ')"
    fi
    if ! res=$(qemu-io -r -f raw -c "read -P 0x5a $off $len" "$U_SNAP" 2>&1) || grep -q 'fail\|error\|Pattern verification' <<<"$res"; then
      fail origin "snapshot changed under an origin write at $off: $(tail -n2 <<<"$res" | tr '\n' ' ')"
    fi
    counter origin
  done
}

# Q1: fio verify on the snapshot.
loop_fio() {
  local i=0
  while (($(date +%s) < deadline)); do
    i=$((i + 1))
    if ! fio --name=soak --ioengine=nbd --uri="$U_SNAP" --rw=randwrite --bs=4k --iodepth=16 --offset=$q --size=$q \
        --verify=crc32c --do_verify=1 --verify_fatal=1 --verify_state_save=0 --randseed=$i --output-format=json \
        --output="$H_RUN/fio-$((i % 2)).json" >/dev/null 2>"$H_RUN/fio.err" ||
      [[ $(jq '.jobs[0].error' "$H_RUN/fio-$((i % 2)).json" 2>/dev/null) != 0 ]]; then
      fail fio "pass $i: $(tail -n3 "$H_RUN/fio.err" | tr '\n' ' ')"
    fi
    counter fio
  done
}

# Q2: snapshot writer; origin keeps 0x5a.
loop_snap() {
  local i=0 p off len=$((256 << 10)) res
  while (($(date +%s) < deadline)); do
    i=$((i + 1))
    p=$(((i % 250) + 1))
    off=$((2 * q + (RANDOM * 32768 + RANDOM) % (q / len) * len))
    if ! res=$(qemu-io -f raw -c "write -P $p $off $len" -c "read -P $p $off $len" -c "write -z $((off + len / 2)) 4096" \
        -c "read -P 0 $((off + len / 2)) 4096" -c flush "$U_SNAP" 2>&1) ||
      grep -q 'fail\|error\|Pattern verification' <<<"$res"; then
      fail snap "write/read pattern $p at $off: $(tail -n2 <<<"$res" | tr '\n' ' ')"
    fi
    if ! res=$(qemu-io -r -f raw -c "read -P 0x5a $off $len" "$U_ORIGIN" 2>&1) || grep -q 'fail\|error\|Pattern verification' <<<"$res"; then
      fail snap "origin changed under a snapshot write at $off: $(tail -n2 <<<"$res" | tr '\n' ' ')"
    fi
    counter snap
  done
}

# Q3 and everything: whole-device readers.
loop_copy() {
  local res
  while (($(date +%s) < deadline)); do
    nbdcopy "$U_SNAP" null: 2>>"$H_RUN/nbdcopy.err" || fail nbdcopy "snap to null: failed"
    nbdcopy "$U_ORIGIN" null: 2>>"$H_RUN/nbdcopy.err" || fail nbdcopy "origin to null: failed"
    for u in "$U_SNAP" "$U_ORIGIN"; do
      if ! res=$(qemu-io -r -f raw -c "read -P 0x5a $((3 * q)) $q" "$u" 2>&1) || grep -q 'fail\|error\|Pattern verification' <<<"$res"; then
        fail nbdcopy "untouched quarter of $u is not 0x5a: $(tail -n2 <<<"$res" | tr '\n' ' ')"
      fi
    done
    counter copy
  done
}

# RSS every 5 s.
loop_rss() {
  while (($(date +%s) < deadline)) && h_alive "$server"; do
    printf '%s\t%s\n' "$(date +%s)" "$(awk '/^VmRSS:/ {print $2}' "/proc/$server/status")" >>"$out/rss.tsv"
    sleep 5
  done
}

: >"$out/rss.tsv"
loop_origin & loops+=($!)
loop_fio & loops+=($!)
loop_snap & loops+=($!)
loop_copy & loops+=($!)
loop_rss & loops+=($!)
h_log "running for $minutes min (until $(date -d "@$deadline" +%H:%M:%S))"
while (($(date +%s) < deadline)); do
  sleep 10
  h_alive "$server" || { fail server "Cairn exited"; break; }
done
for p in "${loops[@]}"; do wait "$p" 2>/dev/null || true; done
loops=()

# ------------------------------------------------------------------------------------------ verdict
ok=1
verdict() { printf '%-6s %s\n' "$1" "$2" | tee -a "$out/summary.txt"; [[ $1 != FAIL ]] || ok=0; }
: >"$out/summary.txt"
{
  echo "soak: $minutes min, $size, $(date -u +%Y-%m-%dT%H:%M:%SZ), nproc=$(nproc), cairn=$(basename "$(dirname "$(dirname "$(dirname "$H_JAR")")")" | cut -c1-12)"
  for c in origin fio snap copy; do echo "  $c loop iterations: $(cat "$out/count.$c" 2>/dev/null || echo 0)"; done
} | tee -a "$out/summary.txt"
errors=$(wc -l <"$out/errors.log")
if ((errors == 0)); then verdict PASS "no client errors"; else verdict FAIL "$errors client errors (see $out/errors.log)"; fi
if h_alive "$server" && nbdinfo --size "$U_SNAP" >/dev/null 2>&1; then verdict PASS "server alive and answering"; else verdict FAIL "server gone"; fi
wd=$(grep -c '^WATCHDOG' "$H_RUN/cairn.log" || true)
ie=$(grep -ci 'internal error' "$H_RUN/cairn.log" || true)
if ((wd == 0 && ie == 0)); then verdict PASS "no watchdog report, no internal error in the server log"; else
  verdict FAIL "$wd watchdog lines, $ie internal errors (see $H_RUN/cairn.log)"; fi
read -r n mid last allowed < <(awk -v tol="$tolerance" '
  { v[NR] = $2 }
  function median(a, b,   m, i, j, t, k) { m = 0; for (i = a; i <= b; i++) w[++m] = v[i]
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (w[j] < w[i]) { t = w[i]; w[i] = w[j]; w[j] = t }
    k = int((m + 1) / 2); return m ? (m % 2 ? w[k] : (w[k] + w[k + 1]) / 2) : 0 }
  END { n = NR; t = int(n / 3); if (t < 1) { print n, 0, 0, 0; exit }
        mid = median(t + 1, 2 * t); last = median(2 * t + 1, n)
        slack = mid * tol / 100; if (slack < 32768) slack = 32768
        printf "%d %d %d %d\n", n, mid, last, mid + slack }' "$out/rss.tsv")
if ((n < 6)); then
  verdict WARN "only $n RSS samples: too short to judge growth (run at least 1 minute)"
elif ((last <= allowed)); then
  verdict PASS "RSS flat: middle third median $((mid / 1024)) MiB, last third $((last / 1024)) MiB (allowed $((allowed / 1024)) MiB)"
else
  verdict FAIL "RSS grew: middle third median $((mid / 1024)) MiB, last third $((last / 1024)) MiB (allowed $((allowed / 1024)) MiB)"
fi
echo "peak RSS $(($(h_hwm_kb "$server") / 1024)) MiB; samples in $out/rss.tsv; server log $H_RUN/cairn.log" | tee -a "$out/summary.txt"
((ok)) && exit 0 || exit 1
