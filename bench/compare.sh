#!/usr/bin/env bash
# Side-by-side NBD performance: Cairn against nbdkit, qemu-nbd and nbd-server on this machine.
#
#   bench/compare.sh --quick|--full [--out DIR] [--charts DIR] [--rounds N] [--runtime S] [--size SIZE]
#                    [--groups LIST] [--src head|worktree] [--jfr] [--keep-data]
#
# Starts every server itself on loopback (Unix socket, and TCP for the plain rows), runs the same client
# workloads (nbdcopy, fio --ioengine=nbd) against each server of a stack in alternation (A B C, then
# B C A, ...: drift of a shared machine lands on every server alike), stops everything it started (also
# on Ctrl-C or error), and writes into DIR. Before a server is measured it must read back three patterns
# it was just sent (h_check_rw, qemu-io); one that does not is stopped and listed as not measured.
# Output files:
#   results.tsv     one line per run (stack, transport, server, workload, round, value, unit, bytes)
#   resources.tsv   per server process: peak RSS (VmHWM, or the sampled process tree for nbd-server) and
#                   CPU seconds (utime+stime, children included) spent during the measured runs
#   summary.md      medians per row with the ratio Cairn / best peer, resources, depth growth
#   charts          PNGs (gnuplot) in --charts DIR (default: docs/bench for --full, DIR/charts for --quick)
#
#   --quick   256 MiB devices, 2 s per fio run, 1 round, 4 workloads: a few minutes; proves the harness works
#   --full    1 GiB devices, 5 s per fio run, 3 rounds, every workload: about an hour on 2 cores
#   --groups  comma list of: plain-mem,plain-mem-tcp,plain-file,plain-file-tcp,linear2,snapshot,snapshot-n,
#             striped,depth,cold-mem,cold-file (cold: a fresh server for every run, see group_cold),
#             thin (a thin pool's clone and snapshot against qcow2 overlays and nbdkit's cow filter),
#             tls (X.509 over a Unix socket against nbdkit and qemu-nbd, and Cairn in plaintext; see group_tls)
#             Not in the defaults: rbd (a one-OSD Ceph cluster: Cairn's rbd: leaf vs qemu-nbd's rbd driver vs
#             rbd bench; needs ceph-mon/mgr/osd, ceph-common, qemu-block-extra) and nbd-hop (Cairn's nbd:
#             leaf vs nbdkit's nbd plugin vs the remote read directly); see group_rbd and group_nbd_hop
#             log-writes-file,log-writes-mem,log-replay (not in the defaults: issue 19's log-writes rows, see
#             group_log_writes and group_log_replay; summary in DIR/log-writes.md)
#   --src     which Cairn to measure (see bench/harness/build.sh); default head
#   --jfr     record a JFR profile of every Cairn server into DIR/jfr (settings=profile)
#
# Environment: CAIRN_BENCH_JAVA_OPTS (extra JVM flags for Cairn), CAIRN_BENCH_JAR (skip the build).
# Stacks and how each server builds them are documented in docs/benchmarks/harness.md.
set -euo pipefail

here=$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd -P "$here/.." && pwd)
H_ROOT=$root
# shellcheck source=harness/lib.sh
source "$here/harness/lib.sh"

mode=
out=
charts=
rounds=
runtime=
size=
groups=
src=head
jfr=0
keep_data=0
while (($#)); do
  case $1 in
    --quick) mode=quick; shift ;;
    --full) mode=full; shift ;;
    --out) out=$2; shift 2 ;;
    --charts) charts=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --runtime) runtime=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --groups) groups=$2; shift 2 ;;
    --src) src=$2; shift 2 ;;
    --jfr) jfr=1; shift ;;
    --keep-data) keep_data=1; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ -n $mode ]] || { echo "compare.sh: --quick or --full is needed (see --help)" >&2; exit 2; }

to_bytes() {
  local s=${1^^} m=1
  case $s in *K) m=1024 ;; *M) m=$((1 << 20)) ;; *G) m=$((1 << 30)) ;; esac
  s=${s%[KMG]}
  echo $((s * m))
}

if [[ $mode == quick ]]; then
  : "${rounds:=1}" "${runtime:=2}" "${size:=256M}"
  : "${groups:=plain-mem,plain-mem-tcp,plain-file,linear2,snapshot,striped,depth}"
  workloads=(copy-read rr4k-q32 rw4k-q32 sr1m-q8)
  depth_levels=(0 1 2 4 8)
  depth_workloads=(rr4k-q1 rr4k-q32)
  tcp_workloads=("${workloads[@]}")
  : "${out:=/tmp/cairn-compare-quick-$(date +%Y%m%d-%H%M%S)}"
  : "${charts:=$out/charts}"
else
  : "${rounds:=3}" "${runtime:=5}" "${size:=1G}"
  : "${groups:=plain-mem,plain-mem-tcp,plain-file,plain-file-tcp,linear2,snapshot,snapshot-n,striped,depth,cold-mem,cold-file}"
  workloads=(copy-read copy-write rr4k-q1 rr4k-q32 rw4k-q1 rw4k-q32 mix4k-q1 mix4k-q32 sr1m-q8 sw1m-q8)
  depth_levels=(0 1 2 3 4 5 6 7 8)
  depth_workloads=(rr4k-q1 rr4k-q32 sr1m-q8)
  tcp_workloads=(copy-read rr4k-q1 rr4k-q32 rw4k-q32 sr1m-q8)
  : "${out:=/tmp/cairn-compare-full-$(date +%Y%m%d-%H%M%S)}"
  : "${charts:=$root/docs/bench}"
fi
size_bytes=$(to_bytes "$size")
sectors=$((size_bytes / 512))
region=$((size_bytes / 4)) # the snapshot rows' first-write region

mkdir -p "$out"
out=$(cd "$out" && pwd)
H_RUN=$out/run
H_PIDS=$out/pids.tsv
H_WATCH=$out/watch
H_RSSDIR=$out/rss
data=$out/data
mkdir -p "$H_RUN" "$data"
: >"$H_PIDS"
((jfr)) && H_JFR_DIR=$out/jfr
H_JAVA_OPTS=${CAIRN_BENCH_JAVA_OPTS:-}
trap 'h_cleanup; ((keep_data)) || rm -rf "$data"' EXIT
trap 'exit 130' INT TERM

h_need_tools nbdkit nbdcopy nbdinfo qemu-nbd qemu-img qemu-io nbd-server fio jq gnuplot
# shellcheck source=../bin/lib/jdk.sh
source "$root/bin/lib/jdk.sh"
if [[ -n ${CAIRN_BENCH_JAR:-} ]]; then
  H_JAR=$CAIRN_BENCH_JAR
else
  H_JAR=$("$here/harness/build.sh" --src "$src")
fi

results=$out/results.tsv
resources=$out/resources.tsv
printf 'stack\ttransport\tserver\tworkload\tround\tvalue\tunit\tbytes\n' >"$results"
printf 'stack\ttransport\tserver\tpeak_rss_kb\tcpu_ticks\tbytes\tclk_tck\tfio_cpu_ticks\tfio_requests\n' >"$resources"
{
  echo "mode=$mode rounds=$rounds runtime=$runtime size=$size groups=$groups src=$src jfr=$jfr"
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ) host=$(hostname) nproc=$(nproc)"
  echo "mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) kernel=$(uname -r)"
  echo "cpu=$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  # The build folder is named after the commit it was built from (see harness/build.sh).
  echo "cairn=$(basename "$(dirname "$(dirname "$(dirname "$H_JAR")")")" | cut -c1-12) jar=$H_JAR"
  cairn_jvm_flags "${H_JAVA_OPTS:-}"
  echo "java=$("$JAVA_HOME/bin/java" -version 2>&1 | head -n1) flags=${CAIRN_JVM_FLAGS[*]} opts=${H_JAVA_OPTS:-none}"
  echo "nbdkit=$(nbdkit --version | head -n1) qemu-nbd=$(qemu-nbd --version | head -n1)"
  echo "nbd-server=$(dpkg-query -W -f='${Version}' nbd-server 2>/dev/null) fio=$(fio --version) libnbd=$(nbdcopy --version | head -n1)"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/machine.txt"
h_log "output: $out"
h_start_sampler
h_track "$H_SAMPLER" compare.sh

h_log "making $size of random data"
H_SRC=$data/src.img
head -c "$size_bytes" /dev/urandom >"$H_SRC"

# ------------------------------------------------------------------------------------------ per group state

declare -a SUBJ=()          # subject names in order
declare -A S_URI=() S_PID=() S_PROC=() S_WHY=()
declare -A P_TICKS=() P_BYTES=() P_PEAK=() P_PID=() P_FIO_TICKS=() P_REQS=()

reset_group() {
  SUBJ=()
  S_URI=() S_PID=() S_PROC=() S_WHY=()
  P_TICKS=() P_BYTES=() P_PEAK=() P_PID=() P_FIO_TICKS=() P_REQS=()
}

# add_subject NAME PROC START-FUNCTION ARGS... (the function sets H_URI, H_PID or H_WHY). A server that
# starts but fails the read-after-write check (h_check_rw) is stopped and not measured, with the reason.
add_subject() {
  local name=$1 proc=$2
  shift 2
  SUBJ+=("$name")
  S_PROC[$name]=$proc
  H_WHY=
  if "$@" && { h_check_rw "$H_URI" "$size_bytes" || { h_stop_pid "$H_PID"; false; }; }; then
    S_URI[$name]=$H_URI
    S_PID[$name]=$H_PID
    P_PID[$proc]=$H_PID
    h_watch "$H_PID"
    h_log "  $name: $H_URI (pid $H_PID)"
  else
    S_WHY[$name]=${H_WHY:-failed to start}
    h_log "  $name: not measured: ${S_WHY[$name]}"
  fi
}

# A subject served by a process that already runs (another export of the same Cairn JVM).
add_export() {
  local name=$1 proc=$2 uri=$3
  SUBJ+=("$name")
  S_PROC[$name]=$proc
  S_URI[$name]=$uri
  S_PID[$name]=${P_PID[$proc]}
}

# Folds a process's peak RSS into P_PEAK (call before stopping it).
sample_peak() {
  local proc=$1 pid=${P_PID[$1]:-} kb
  [[ -n $pid ]] && h_alive "$pid" || return 0
  kb=$(h_peak_rss_kb "$pid")
  ((kb > ${P_PEAK[$proc]:-0})) && P_PEAK[$proc]=$kb
  return 0
}

stop_group() {
  local proc
  for proc in "${!P_PID[@]}"; do
    sample_peak "$proc"
    h_stop_pid "${P_PID[$proc]}"
  done
}

write_resources() {
  local stack=$1 transport=$2 proc
  for proc in "${!P_PEAK[@]}"; do
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$stack" "$transport" "$proc" "${P_PEAK[$proc]}" "${P_TICKS[$proc]:-0}" \
      "${P_BYTES[$proc]:-0}" "$H_CLK_TCK" "${P_FIO_TICKS[$proc]:-0}" "${P_REQS[$proc]:-0}" >>"$resources"
  done
}

# measure STACK TRANSPORT SUBJECT WORKLOAD ROUND SIZE
measure() {
  local stack=$1 transport=$2 s=$3 w=$4 r=$5 sz=$6 pid proc c0 c1 res json
  [[ -z ${S_WHY[$s]:-} ]] || return 0
  pid=${S_PID[$s]} proc=${S_PROC[$s]}
  json=$H_RUN/$stack-$transport-$s-$w-$r.json
  c0=$(h_cpu_ticks "$pid")
  if ! res=$(h_workload "${S_URI[$s]}" "$w" "$sz" "$runtime" "$json"); then
    h_log "    $s $w: FAILED ($(head -c 300 "$json.err" 2>/dev/null | tr '\n' ' '))"
    printf '%s\t%s\t%s\t%s\t%s\tNaN\tfailed\t0\n' "$stack" "$transport" "$s" "$w" "$r" >>"$results"
    return 0
  fi
  # nbd-server's per-connection child is reaped a moment after the client leaves.
  [[ $proc == nbd-server ]] && sleep 0.3
  c1=$(h_cpu_ticks "$pid")
  read -r value unit bytes reqs <<<"$res"
  P_TICKS[$proc]=$(( ${P_TICKS[$proc]:-0} + c1 - c0 ))
  P_BYTES[$proc]=$(( ${P_BYTES[$proc]:-0} + bytes ))
  if ((reqs > 0)); then
    P_FIO_TICKS[$proc]=$(( ${P_FIO_TICKS[$proc]:-0} + c1 - c0 ))
    P_REQS[$proc]=$(( ${P_REQS[$proc]:-0} + reqs ))
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$stack" "$transport" "$s" "$w" "$r" "$value" "$unit" "$bytes" >>"$results"
  h_log "    $s $w: $value $unit"
}

# Not measured: fills memory stores with data (reads of holes cost nothing) and warms every server up
# (the JVM compiles its hot paths; the peers' page cache fills) with the same I/O for each: 2 s of 70/30
# 4 KiB I/O, 1 s of 1 MiB reads and one whole-device nbdcopy read.
warm_up() {
  local s prefill=$1
  for s in "${SUBJ[@]}"; do
    [[ -z ${S_WHY[$s]:-} ]] || continue
    if ((prefill)); then
      nbdcopy "$H_SRC" "${S_URI[$s]}" 2>>"$H_RUN/warmup.err" || h_log "  prefill of $s failed"
    fi
    h_workload "${S_URI[$s]}" mix4k-q32 "$size_bytes" 2 "$H_RUN/warmup-$s.json" >/dev/null || true
    h_workload "${S_URI[$s]}" sr1m-q8 "$size_bytes" 1 "$H_RUN/warmup-$s.json" >/dev/null || true
    # a whole-device read too: the first one after a server starts pays for fresh kernel memory (socket
    # buffers) that this VM's free page reporting had handed back to the host (see harness.md, Noise)
    h_workload "${S_URI[$s]}" copy-read "$size_bytes" 0 "$H_RUN/warmup-$s.json" >/dev/null || true
  done
}

# Rounds of every workload against every subject, the subject order rotating by one each round.
run_rounds() {
  local stack=$1 transport=$2 r w i n=${#SUBJ[@]}
  shift 2
  local wl=("$@")
  for ((r = 1; r <= rounds; r++)); do
    h_log "  round $r/$rounds"
    for w in "${wl[@]}"; do
      for ((i = 0; i < n; i++)); do
        measure "$stack" "$transport" "${SUBJ[$(((i + r - 1) % n))]}" "$w" "$r" "$size_bytes"
      done
    done
  done
}

copy_file() { cp --sparse=never "$H_SRC" "$1"; }

# ------------------------------------------------------------------------------------------ groups

group_plain_mem() {
  local transport=$1 stack=plain-mem g=$data/plain-mem
  mkdir -p "$g"
  printf 'mem m0 %s\nexport m0\n' "$size_bytes" >"$g/cairn.stack"
  add_subject cairn cairn h_start_cairn "cairn-mem-$transport" "$transport" "$g/cairn.stack"
  add_subject nbdkit nbdkit h_start_nbdkit "nbdkit-mem-$transport" "$transport" memory "$size_bytes"
  warm_up 1
  if [[ $transport == unix ]]; then run_rounds $stack "$transport" "${workloads[@]}"; else run_rounds $stack "$transport" "${tcp_workloads[@]}"; fi
}

group_plain_file() {
  local transport=$1 stack=plain-file g=$data/plain-file
  mkdir -p "$g"
  for s in cairn nbdkit qemu nbdserver; do copy_file "$g/$s.img"; done
  printf 'file f0 %s\nexport f0\n' "$g/cairn.img" >"$g/cairn.stack"
  add_subject cairn cairn h_start_cairn "cairn-file-$transport" "$transport" "$g/cairn.stack"
  add_subject nbdkit nbdkit h_start_nbdkit "nbdkit-file-$transport" "$transport" file "$g/nbdkit.img"
  add_subject qemu-nbd qemu-nbd h_start_qemu "qemu-file-$transport" "$transport" -f raw "$g/qemu.img"
  add_subject nbd-server nbd-server h_start_nbdserver "nbdserver-file-$transport" "$transport" "$g/nbdserver.img"
  warm_up 0
  if [[ $transport == unix ]]; then run_rounds $stack "$transport" "${workloads[@]}"; else run_rounds $stack "$transport" "${tcp_workloads[@]}"; fi
}

# linear over linear over a file, each layer 1 MiB further in.
group_linear2() {
  local transport=unix stack=linear2 g=$data/linear2 mib=$((1 << 20)) s
  mkdir -p "$g"
  for s in cairn nbdkit qemu; do
    truncate -s $((size_bytes + 2 * mib)) "$g/$s.img"
    dd if="$H_SRC" of="$g/$s.img" bs=1M seek=2 conv=notrunc,sparse status=none
  done
  {
    echo "file f0 $g/cairn.img"
    echo "device l1"
    echo "0 $((sectors + 2048)) linear f0 2048"
    echo "device l2"
    echo "0 $sectors linear l1 2048"
    echo "export l2"
  } >"$g/cairn.stack"
  add_subject cairn cairn h_start_cairn cairn-linear2 $transport "$g/cairn.stack"
  add_subject nbdkit nbdkit h_start_nbdkit nbdkit-linear2 $transport --filter=offset --filter=offset \
    file "$g/nbdkit.img" offset=$mib
  add_subject qemu-nbd qemu-nbd h_start_qemu qemu-linear2 $transport --image-opts \
    "driver=raw,offset=$mib,size=$size_bytes,file.driver=raw,file.offset=$mib,file.size=$((size_bytes + mib)),file.file.driver=file,file.file.filename=$g/qemu.img"
  warm_up 0
  run_rounds $stack $transport "${workloads[@]}"
}

# striped over 4 files, 64 KiB chunks. No peer stripes; the nearest is a concatenation of the same 4
# files: qemu-nbd over a VMDK descriptor with 4 flat extents, nbd-server's multifile export and nbdkit's
# split plugin. nbdkit 1.32's split plugin (Debian 12) writes each request at the device offset instead
# of the file offset (data lands past the end of files 1-3 and reads back stale), so the read-after-write
# check of add_subject turns it away; it stays in the group to show that, and is measured where a fixed
# nbdkit is installed (under noextents: 1.32's split plugin also segfaults answering block status after
# writes).
group_striped() {
  local transport=unix stack=striped g=$data/striped quarter=$((size_bytes / 4)) i f
  mkdir -p "$g"
  for i in 0 1 2 3; do
    # nbd-server's multifile export names its parts FILE.0 .. FILE.3
    for f in "$g/cairn-$i.img" "$g/nbdkit-$i.img" "$g/qemu-$i.img" "$g/nbdserver.img.$i"; do
      dd if="$H_SRC" of="$f" bs=1M skip=$((i * quarter / 1048576)) count=$((quarter / 1048576)) status=none
    done
  done
  {
    for i in 0 1 2 3; do echo "file f$i $g/cairn-$i.img"; done
    echo "device s0"
    echo "0 $sectors striped 4 128 f0 0 f1 0 f2 0 f3 0"
    echo "export s0"
  } >"$g/cairn.stack"
  {
    echo "# Disk DescriptorFile"
    echo "version=1"
    echo "CID=fffffffe"
    echo "parentCID=ffffffff"
    echo 'createType="monolithicFlat"'
    for i in 0 1 2 3; do echo "RW $((quarter / 512)) FLAT \"qemu-$i.img\" 0"; done
    echo 'ddb.adapterType = "ide"'
  } >"$g/qemu.vmdk"
  add_subject cairn cairn h_start_cairn cairn-striped $transport "$g/cairn.stack"
  add_subject nbdkit-split nbdkit h_start_nbdkit nbdkit-split $transport --filter=noextents split \
    "$g/nbdkit-0.img" "$g/nbdkit-1.img" "$g/nbdkit-2.img" "$g/nbdkit-3.img"
  add_subject qemu-nbd qemu-nbd h_start_qemu qemu-vmdk $transport -f vmdk "$g/qemu.vmdk"
  add_subject nbd-server nbd-server h_start_nbdserver nbdserver-multifile $transport "$g/nbdserver.img" multifile
  warm_up 0
  run_rounds $stack $transport "${workloads[@]}"
}

# depth 0..8 of linear layers over one memory store, all exports of one Cairn JVM (cost growth).
group_depth() {
  local transport=unix stack=depth g=$data/depth d
  mkdir -p "$g"
  {
    echo "mem m0 $size_bytes"
    echo "export m0 d0"
    for ((d = 1; d <= 8; d++)); do
      echo "device d$d"
      echo "0 $sectors linear $([[ $d == 1 ]] && echo m0 || echo d$((d - 1))) 0"
      echo "export d$d d$d"
    done
  } >"$g/cairn.stack"
  add_subject d0 cairn h_start_cairn cairn-depth $transport "$g/cairn.stack" d0
  if [[ -z ${S_WHY[d0]:-} ]]; then
    for d in "${depth_levels[@]}"; do
      ((d == 0)) && continue
      add_export "d$d" cairn "nbd+unix:///d$d?socket=$H_RUN/cairn-depth.sock"
    done
    nbdcopy "$H_SRC" "${S_URI[d0]}" 2>>"$H_RUN/warmup.err" || h_log "  prefill of d0 failed"
  fi
  warm_up 0
  run_rounds $stack $transport "${depth_workloads[@]}"
}

# Snapshot with a persistent COW, 64 KiB chunks: each round and server starts from a fresh, empty COW
# (Cairn: dm snapshot P 128 on a COW file; qemu-nbd: a new qcow2 overlay over the raw base; nbdkit: the
# cow filter with cow-block-size=64K, whose overlay is a temporary file, not persistent). Per server:
# warm up by writing the last quarter (not measured), then first write of the first quarter (every 4 KiB
# block once: copy-out of each chunk), rewrite of the same blocks, random reads over the whole device.
#
# snapshot-n is the same with Cairn's COW transient (dm's N): nothing is made durable, which is what
# nbdkit's cow filter (a temporary overlay) offers; the persistent row pays two device syncs per commit
# batch, as Linux's persistent exception store does.
group_snapshot() {
  local transport=unix stack=${1:-snapshot} store=${2:-P} g=$data/${1:-snapshot} r i n s
  mkdir -p "$g"
  for s in cairn nbdkit qemu; do copy_file "$g/$s-base.img"; done
  local subjects=(cairn nbdkit qemu-nbd)
  n=${#subjects[@]}
  for ((r = 1; r <= rounds; r++)); do
    h_log "  round $r/$rounds"
    for ((i = 0; i < n; i++)); do
      s=${subjects[$(((i + r - 1) % n))]}
      SUBJ=()
      S_WHY=()
      case $s in
        cairn)
          rm -f "$g/cairn.cow"
          truncate -s "$size_bytes" "$g/cairn.cow"
          printf 'file base %s\nfile cow %s\ndevice snap\n0 %s snapshot base cow %s 128\nexport snap\n' \
            "$g/cairn-base.img" "$g/cairn.cow" "$sectors" "$store" >"$g/cairn.stack"
          add_subject cairn cairn h_start_cairn "cairn-snap-$r" $transport "$g/cairn.stack"
          ;;
        nbdkit)
          add_subject nbdkit nbdkit h_start_nbdkit "nbdkit-snap-$r" $transport --filter=cow file "$g/nbdkit-base.img" \
            cow-block-size=64K
          ;;
        qemu-nbd)
          rm -f "$g/qemu.qcow2"
          qemu-img create -q -f qcow2 -o cluster_size=64k -b "$g/qemu-base.img" -F raw "$g/qemu.qcow2"
          add_subject qemu-nbd qemu-nbd h_start_qemu "qemu-snap-$r" $transport -f qcow2 "$g/qemu.qcow2"
          ;;
      esac
      if [[ -z ${S_WHY[$s]:-} ]]; then
        fio --name=warm --ioengine=nbd --uri="${S_URI[$s]}" --rw=randwrite --bs=4k --iodepth=32 --offset=$((size_bytes - region)) \
          --size=$region --time_based --runtime=2 --randrepeat=0 >/dev/null 2>&1 || h_log "  warm-up of $s failed"
        measure $stack $transport "$s" first4k-q32 "$r" "$region"
        measure $stack $transport "$s" rewrite4k-q32 "$r" "$region"
        measure $stack $transport "$s" rr4k-q32 "$r" "$size_bytes"
        if [[ $s == cairn ]] && grep -q '^WATCHDOG' "$H_RUN/cairn-snap-$r.log" 2>/dev/null; then
          h_log "  cairn: watchdog report in $H_RUN/cairn-snap-$r.log"
        fi
      else
        printf '%s\t%s\t%s\t%s\t%s\tNaN\tn/a: %s\t0\n' $stack $transport "$s" first4k-q32 "$r" "${S_WHY[$s]}" >>"$results"
      fi
      sample_peak "${S_PROC[$s]}"
      [[ -n ${S_PID[$s]:-} ]] && h_stop_pid "${S_PID[$s]}"
      unset "P_PID[${S_PROC[$s]}]"
    done
  done
  SUBJ=() # each server's n/a is already recorded
}

# Thin provisioning (issue 18), 64 KiB blocks and clusters: each round and server starts fresh. Cairn: a
# thin pool on files (metadata 64 MiB, data 2.25 x SIZE) holding volume 1 filled with the base image and
# snapshotted as volume 2, and volume 3, empty, whose external origin is the base (a clone of a golden
# image, as the peers' overlays are clones of their base). One Cairn server exports both: stack "thin"
# measures volume 3 (its first write provisions a block and fills it from the origin), stack "thin-snap"
# snapshot 2 (its first write breaks sharing with volume 1: one copy of the block). The peers have one
# kind of first write, so their "thin" lines are copied into "thin-snap" at the end. Peers: qemu-nbd on a
# new qcow2 overlay (cluster_size 64k) over the raw base, nbdkit's cow filter (cow-block-size 64K) over
# the base file. Per subject: warm up with 2 s of random writes over the last quarter (not measured),
# then first write of each 4 KiB block of the first quarter, rewrite of the same blocks, random reads
# over the whole device.
group_thin() {
  local transport=unix stack=thin g=$data/thin r i n s pool_sectors
  mkdir -p "$g"
  for s in cairn nbdkit qemu; do copy_file "$g/$s-base.img"; done
  pool_sectors=$((sectors * 9 / 4 / 128 * 128))
  local servers=(cairn nbdkit qemu-nbd)
  n=${#servers[@]}
  for ((r = 1; r <= rounds; r++)); do
    h_log "  round $r/$rounds"
    for ((i = 0; i < n; i++)); do
      s=${servers[$(((i + r - 1) % n))]}
      SUBJ=()
      S_WHY=()
      local targets=()
      case $s in
        cairn)
          rm -f "$g/cairn-meta.img" "$g/cairn-data.img"
          truncate -s 64M "$g/cairn-meta.img"
          truncate -s $((pool_sectors * 512)) "$g/cairn-data.img"
          {
            echo "file meta $g/cairn-meta.img"
            echo "file data $g/cairn-data.img"
            echo "file base $g/cairn-base.img"
            echo "device pool"
            echo "0 $pool_sectors thin-pool meta data 128 0"
            echo "message pool create_thin 1"
            echo "device vol1"
            echo "0 $sectors thin pool 1"
            echo "fill vol1 $g/cairn-base.img"
            echo "message pool create_snap 2 1"
            echo "device snap2"
            echo "0 $sectors thin pool 2"
            echo "message pool create_thin 3"
            echo "device clone3"
            echo "0 $sectors thin pool 3 base"
            echo "export clone3 clone"
            echo "export snap2 snap"
          } >"$g/cairn.stack"
          add_subject cairn cairn h_start_cairn "cairn-thin-$r" $transport "$g/cairn.stack" clone
          targets=("thin ${S_URI[cairn]:--}" "thin-snap nbd+unix:///snap?socket=$H_RUN/cairn-thin-$r.sock")
          ;;
        nbdkit)
          add_subject nbdkit nbdkit h_start_nbdkit "nbdkit-thin-$r" $transport --filter=cow file "$g/nbdkit-base.img" \
            cow-block-size=64K
          ;;
        qemu-nbd)
          rm -f "$g/qemu.qcow2"
          qemu-img create -q -f qcow2 -o cluster_size=64k -b "$g/qemu-base.img" -F raw "$g/qemu.qcow2"
          add_subject qemu-nbd qemu-nbd h_start_qemu "qemu-thin-$r" $transport -f qcow2 "$g/qemu.qcow2"
          ;;
      esac
      [[ ${#targets[@]} -gt 0 ]] || targets=("thin ${S_URI[$s]:--}")
      local t stk uri
      for t in "${targets[@]}"; do
        read -r stk uri <<<"$t"
        if [[ -z ${S_WHY[$s]:-} ]]; then
          S_URI[$s]=$uri
          fio --name=warm --ioengine=nbd --uri="$uri" --rw=randwrite --bs=4k --iodepth=32 --offset=$((size_bytes - region)) \
            --size=$region --time_based --runtime=2 --randrepeat=0 >/dev/null 2>&1 || h_log "  warm-up of $s ($stk) failed"
          measure "$stk" $transport "$s" first4k-q32 "$r" "$region"
          measure "$stk" $transport "$s" rewrite4k-q32 "$r" "$region"
          measure "$stk" $transport "$s" rr4k-q32 "$r" "$size_bytes"
        else
          printf '%s\t%s\t%s\t%s\t%s\tNaN\tn/a: %s\t0\n' "$stk" $transport "$s" first4k-q32 "$r" "${S_WHY[$s]}" >>"$results"
        fi
      done
      if [[ $s == cairn ]] && grep -q '^WATCHDOG' "$H_RUN/cairn-thin-$r.log" 2>/dev/null; then
        h_log "  cairn: watchdog report in $H_RUN/cairn-thin-$r.log"
      fi
      sample_peak "${S_PROC[$s]}"
      [[ -n ${S_PID[$s]:-} ]] && h_stop_pid "${S_PID[$s]}"
      unset "P_PID[${S_PROC[$s]}]"
    done
  done
  awk -F'\t' -v OFS='\t' '$1 == "thin" && $3 != "cairn" { $1 = "thin-snap"; print }' "$results" >"$g/peers.tsv"
  cat "$g/peers.tsv" >>"$results"
  SUBJ=() # each server's n/a is already recorded
}

# Cold rows: a fresh server for every measured run, as users meet it (start a server, copy once). Per
# round and server (the order rotating): start, then the first whole-device nbdcopy read (memory stores are
# first filled by nbdcopy, not measured: reading holes costs nothing), stop; start again, then the first
# 2 s of 4k random writes qd32, stop. The median is over rounds, that is over fresh starts. No warm-up and
# no read-after-write check (the same servers pass it in the warm groups). Cairn starts as bin/cairn starts
# serve: without an AOT cache; CAIRN_BENCH_AOT=1 measures it with one (h_cairn_aot_cache), made by a
# training run first.
group_cold() {
  local kind=$1
  local stack=cold-$kind transport=unix g=$data/cold-$kind r i w s n servers=(cairn nbdkit)
  mkdir -p "$g"
  [[ $kind == file ]] && servers+=(qemu-nbd nbd-server)
  n=${#servers[@]}
  printf 'mem m0 %s\nexport m0\n' "$size_bytes" >"$g/mem.stack"
  printf 'file f0 %s\nexport f0\n' "$g/cairn.img" >"$g/file.stack"
  local aot_opts=
  if [[ ${CAIRN_BENCH_AOT:-0} == 1 ]]; then
    h_cairn_aot_cache "$data/cairn-aot.aot" "$g/mem.stack" && aot_opts="-XX:AOTCache=$data/cairn-aot.aot"
  fi
  h_log "  cairn flags: ${aot_opts:-no AOT cache}"
  for ((r = 1; r <= rounds; r++)); do
    h_log "  round $r/$rounds"
    for w in copy-read rw4k-q32; do
      for ((i = 0; i < n; i++)); do
        s=${servers[$(((i + r - 1) % n))]}
        [[ $kind == file ]] && copy_file "$g/$s.img"
        H_WHY=
        case $s/$kind in
          cairn/mem) H_JAVA_OPTS="${CAIRN_BENCH_JAVA_OPTS:-} $aot_opts" h_start_cairn cold-cairn $transport "$g/mem.stack" ;;
          cairn/file) H_JAVA_OPTS="${CAIRN_BENCH_JAVA_OPTS:-} $aot_opts" h_start_cairn cold-cairn $transport "$g/file.stack" ;;
          nbdkit/mem) h_start_nbdkit cold-nbdkit $transport memory "$size_bytes" ;;
          nbdkit/file) h_start_nbdkit cold-nbdkit $transport file "$g/nbdkit.img" ;;
          qemu-nbd/file) h_start_qemu cold-qemu $transport -f raw "$g/qemu-nbd.img" ;;
          nbd-server/file) h_start_nbdserver cold-nbdserver $transport "$g/nbd-server.img" ;;
        esac || { h_log "    $s did not start: ${H_WHY:-?}"; continue; }
        S_URI[$s]=$H_URI S_PID[$s]=$H_PID S_PROC[$s]=$s S_WHY[$s]=
        P_PID[$s]=$H_PID
        if [[ $kind == mem && $w == copy-read ]]; then
          nbdcopy "$H_SRC" "$H_URI" 2>>"$H_RUN/cold-prefill.err" || h_log "    prefill of $s failed"
        fi
        local saved_runtime=$runtime
        runtime=2
        measure "$stack" $transport "$s" "cold-$w" "$r" "$size_bytes"
        runtime=$saved_runtime
        sample_peak "$s"
        h_stop_pid "$H_PID"
        unset 'P_PID[$s]'
      done
    done
  done
}

# NBD over TLS (X.509, TLS required, Unix socket): Cairn (MemoryStore) against nbdkit --tls=require memory and
# qemu-nbd --tls-creds over a raw file (qemu-nbd has no memory backend), one certificate made here with
# certtool (RSA-3072, for localhost) for all three. Cairn without TLS runs in the same rotation as stack
# tls-plaintext (what TLS costs Cairn; under TLS large reads are encrypted from pooled buffers instead of
# splice/sendfile). The cipher suite each server negotiates with libnbd is logged (LIBNBD_DEBUG) into
# DIR/run/tls-ciphers.txt.
group_tls() {
  local transport=unix stack=tls g=$data/tls r w i s n
  mkdir -p "$g/pki"
  h_need_tools certtool
  (
    cd "$g/pki"
    certtool --generate-privkey --outfile ca-key.pem
    printf 'cn = Cairn bench CA\nca\ncert_signing_key\nexpiration_days = 30\n' >ca.info
    certtool --generate-self-signed --load-privkey ca-key.pem --template ca.info --outfile ca-cert.pem
    certtool --generate-privkey --outfile server-key.pem
    printf 'cn = localhost\ndns_name = localhost\nip_address = 127.0.0.1\ntls_www_server\nencryption_key\nsigning_key\nexpiration_days = 30\n' >server.info
    certtool --generate-certificate --load-ca-certificate ca-cert.pem --load-ca-privkey ca-key.pem \
      --load-privkey server-key.pem --template server.info --outfile server-cert.pem
  ) >"$H_RUN/tls-certtool.log" 2>&1 || h_die "certtool failed (see $H_RUN/tls-certtool.log)"
  local pki=$g/pki
  copy_file "$g/qemu.img"
  printf 'mem m0 %s\nexport m0\n' "$size_bytes" >"$g/cairn.stack"
  add_subject cairn-plaintext cairn-plaintext h_start_cairn tls-cairn-plain $transport "$g/cairn.stack"
  H_TLS_PKI=$pki
  H_CAIRN_ARGS="${H_CAIRN_ARGS:-} --tls-certificates $pki" add_subject cairn cairn h_start_cairn tls-cairn $transport "$g/cairn.stack"
  add_subject nbdkit nbdkit h_start_nbdkit tls-nbdkit $transport --tls=require --tls-certificates="$pki" memory "$size_bytes"
  add_subject qemu-nbd qemu-nbd h_start_qemu tls-qemu $transport \
    --object "tls-creds-x509,id=tls0,dir=$pki,endpoint=server,verify-peer=off" --tls-creds tls0 -f raw "$g/qemu.img"
  for s in "${SUBJ[@]}"; do
    [[ -z ${S_WHY[$s]:-} ]] || continue
    printf '%s\t%s\n' "$s" "$(LIBNBD_DEBUG=1 nbdinfo --size "${S_URI[$s]}" 2>&1 | grep -o 'connection is using TLS.*' || echo 'no TLS')"
  done | tee "$H_RUN/tls-ciphers.txt" | while IFS= read -r line; do h_log "  $line"; done
  warm_up 1
  local wl=(copy-read copy-write rr4k-q32 rw4k-q32 sr1m-q8)
  n=${#SUBJ[@]}
  for ((r = 1; r <= rounds; r++)); do
    h_log "  round $r/$rounds"
    for w in "${wl[@]}"; do
      for ((i = 0; i < n; i++)); do
        s=${SUBJ[$(((i + r - 1) % n))]}
        if [[ $s == cairn-plaintext ]]; then
          # recorded as server "cairn" of its own stack, so that the summary's peer ratio stays TLS to TLS
          measure tls-plaintext $transport "$s" "$w" "$r" "$size_bytes"
        else
          measure $stack $transport "$s" "$w" "$r" "$size_bytes"
        fi
      done
    done
  done
  sed -i 's/^tls-plaintext\tunix\tcairn-plaintext\t/tls-plaintext\tunix\tcairn\t/' "$results"
  unset H_TLS_PKI
}

# Rounds of WORKLOADS over SUBJ, the order rotating by one each round, like run_rounds, but each subject's
# results go under its own stack label (remote_stack_of, set by the group) and a subject named rbd-bench is
# run by measure_rbd_bench. Used by group_rbd and group_nbd_hop.
declare -A remote_stack_of=()
run_remote_rounds() {
  local r w i s n=${#SUBJ[@]}
  for ((r = 1; r <= rounds; r++)); do
    h_log "  round $r/$rounds"
    for w in "$@"; do
      for ((i = 0; i < n; i++)); do
        s=${SUBJ[$(((i + r - 1) % n))]}
        if [[ $s == rbd-bench ]]; then
          measure_rbd_bench "${remote_stack_of[$s]}" "$w" "$r"
        else
          measure "${remote_stack_of[$s]}" unix "$s" "$w" "$r" "$size_bytes"
        fi
      done
    done
  done
}

# rbd bench on image rbd/bench as the librbd limit of workload $2 (the same I/O size, depth and pattern as
# the fio workload of that name; --io-total bounds it instead of a time: 4k runs 32768 I/Os, 1M runs the
# whole image). Prints a results.tsv line like measure.
measure_rbd_bench() {
  local stack=$1 w=$2 r=$3 type pattern bs threads total log ops value unit
  case $w in
    rr4k-q32) type=read pattern=rand bs=4096 threads=32 total=$((32768 * 4096)) ;;
    rw4k-q32) type=write pattern=rand bs=4096 threads=32 total=$((32768 * 4096)) ;;
    sr1m-q8) type=read pattern=seq bs=1048576 threads=8 total=$size_bytes ;;
    sw1m-q8) type=write pattern=seq bs=1048576 threads=8 total=$size_bytes ;;
    *) h_die "rbd bench has no workload $w" ;;
  esac
  log=$H_RUN/$stack-rbd-bench-$w-$r.log
  if ! timeout -k 5 600 rbd -c "$CEPH_CONF" bench --io-type $type --io-pattern $pattern --io-size $bs \
      --io-threads $threads --io-total $total rbd/bench >"$log" 2>&1; then
    h_log "    rbd-bench $w: FAILED ($(tail -n1 "$log"))"
    printf '%s\tunix\trbd-bench\t%s\t%s\tNaN\tfailed\t0\n' "$stack" "$w" "$r" >>"$results"
    return 0
  fi
  # the summary line: "elapsed: 3   ops: 32768   ops/sec: 9841.2   bytes/sec: 38 MiB/s"
  ops=$(awk '/^elapsed:/ {for (i = 1; i < NF; i++) if ($i == "ops/sec:") v = $(i + 1)} END {print v}' "$log")
  if ((bs == 4096)); then
    value=$(awk -v o="$ops" 'BEGIN {printf "%.0f", o}') unit=IOPS
  else
    value=$(awk -v o="$ops" -v b="$bs" 'BEGIN {printf "%.1f", o * b / 1048576}') unit=MiB/s
  fi
  printf '%s\tunix\trbd-bench\t%s\t%s\t%s\t%s\t%s\n' "$stack" "$w" "$r" "$value" "$unit" "$total" >>"$results"
  h_log "    rbd-bench $w: $value $unit"
}

# RBD (issue 21), on one throwaway Ceph cluster (harness/ceph.sh: one monitor, one manager, one memstore
# OSD on loopback, so Ceph's own CPU work competes with the servers and clients for the same cores).
# Three images get the same data (rbd import of the random source): Cairn serves rbd/cairn through its rbd:
# leaf (a linear table over it: the leaf SPI finds rbd: by scheme), qemu-nbd serves rbd/qemu through qemu's
# rbd driver (qemu-block-extra), and rbd bench runs on rbd/bench as the librbd limit (stack rbd-librbd).
# Separate images, because two librbd clients writing one image pass its exclusive lock back and forth.
# Every librbd client uses Ceph's defaults (rbd cache on, write-around). The three alternate in each round.
group_rbd() {
  local stack=rbd g=$data/rbd s w
  mkdir -p "$g"
  h_need_tools ceph-mon ceph-mgr ceph-osd ceph rbd monmaptool
  # shellcheck source=harness/ceph.sh
  source "$here/harness/ceph.sh"
  SUBJ=(cairn qemu-nbd rbd-bench)
  remote_stack_of=([cairn]=rbd [qemu-nbd]=rbd [rbd-bench]=rbd-librbd)
  S_PROC=([cairn]=cairn [qemu-nbd]=qemu-nbd [rbd-bench]=rbd-bench)
  if ! ceph_start "$g/ceph" $((3 * size_bytes + (1 << 30))); then
    for s in "${SUBJ[@]}"; do S_WHY[$s]="ceph did not start: $H_WHY"; done
    ceph_stop
    return 0
  fi
  h_log "  ceph up: $CEPH_CONF; importing 3 images of $size"
  for s in cairn qemu bench; do
    timeout -k 5 900 rbd -c "$CEPH_CONF" import --no-progress "$H_SRC" "rbd/$s" || h_die "rbd import rbd/$s failed"
  done
  SUBJ=()
  printf 'device r0\n0 %s linear rbd:rbd/cairn?conf=%s 0\nexport r0\n' "$sectors" "$CEPH_CONF" >"$g/cairn.stack"
  add_subject cairn cairn h_start_cairn cairn-rbd unix "$g/cairn.stack"
  add_subject qemu-nbd qemu-nbd h_start_qemu qemu-rbd unix -f raw "rbd:rbd/qemu:conf=$CEPH_CONF"
  warm_up 0
  SUBJ+=(rbd-bench)
  for w in rr4k-q32 sr1m-q8; do measure_rbd_bench rbd-warmup "$w" 0 >/dev/null 2>&1; done
  sed -i '/^rbd-warmup\t/d' "$results"
  run_remote_rounds rr4k-q32 rw4k-q32 sr1m-q8 sw1m-q8
  stop_group
  P_PID=()
  ceph_stop
}

# nbd: leaf (issue 21): the cost of one hop. One Cairn server ("remote") exports a memory store filled with
# the random source; it is read directly (stack nbd-hop-direct), through a second Cairn whose table is a
# linear over nbd+unix:///?socket=REMOTE (the nbd: client leaf, multi-conn), and through nbdkit's nbd plugin
# pointed at the same socket (both under stack nbd-hop, Cairn against nbdkit). All three alternate.
group_nbd_hop() {
  local g=$data/nbd-hop remote_sock
  mkdir -p "$g"
  printf 'mem m0 %s\nexport m0\n' "$size_bytes" >"$g/remote.stack"
  remote_stack_of=([direct]=nbd-hop-direct [cairn]=nbd-hop [nbdkit]=nbd-hop)
  add_subject direct cairn-remote h_start_cairn cairn-remote unix "$g/remote.stack"
  [[ -z ${S_WHY[direct]:-} ]] || return 0
  remote_sock=$H_RUN/cairn-remote.sock
  nbdcopy "$H_SRC" "${S_URI[direct]}" 2>>"$H_RUN/warmup.err" || h_log "  prefill of the remote failed"
  printf 'device h0\n0 %s linear nbd+unix:///?socket=%s 0\nexport h0\n' "$sectors" "$remote_sock" >"$g/hop.stack"
  add_subject cairn cairn h_start_cairn cairn-hop unix "$g/hop.stack"
  add_subject nbdkit nbdkit h_start_nbdkit nbdkit-hop unix nbd socket="$remote_sock"
  warm_up 0
  run_remote_rounds "${workloads[@]}"
}

# log-writes overhead (issue 19): 4 KiB random writes with a FLUSH every 32 writes (fio --fsync=32, at q1 and
# q32) through a log-writes device, against the same data store behind a linear device (the stack without
# log-writes). The log grows by 4.5 KiB per write, so each round starts every subject afresh (order rotating):
# new data and log (file row: the data file a copy of the random data, the log a sparse 16 GiB file; mem row:
# MemoryStores), a new server, 2 s of the q32 workload as warm-up (not measured), then each workload once.
# Per run, the server's CPU ticks and fio's write and FLUSH counts go to DIR/log-writes.tsv. After each
# log-writes server of the file row stops (its log then ends with dm-log-writes-end), harness/lwcount.py reads
# the log in the kernel's format and counts its write and FLUSH entries: the server-side proof of what fio sent,
# written to DIR/log-writes-counts.tsv next to fio's own totals for that server's life.
group_log_writes() {
  local kind=$1 stack=log-writes-$1 transport=unix g=$data/log-writes-$1 r i s n name c0 c1 json w table
  local subjects=(linear log-writes) wl=(rw4k-q1-fsync32 rw4k-q32-fsync32) log_bytes=$((16 << 30))
  [[ $kind == mem ]] && log_bytes=$((6 << 30))
  mkdir -p "$g"
  [[ -f $out/log-writes.tsv ]] || printf 'stack\tsubject\tworkload\tround\twrite_iops\twrites\tflushes\tcpu_ticks\tclk_tck\n' >"$out/log-writes.tsv"
  [[ -f $out/log-writes-counts.tsv ]] ||
    printf 'stack\tround\tlog_writes\tlog_flushes\tlog_complete\tfio_writes\tfio_flushes\n' >"$out/log-writes-counts.tsv"
  n=${#subjects[@]}
  for ((r = 1; r <= rounds; r++)); do
    h_log "  round $r/$rounds"
    for ((i = 0; i < n; i++)); do
      s=${subjects[$(((i + r - 1) % n))]}
      SUBJ=()
      S_WHY=()
      name=lw-$kind-$s-$r
      rm -f "$g/data.img" "$g/log.img"
      if [[ $s == linear ]]; then table="0 $sectors linear d0 0"; else table="0 $sectors log-writes d0 lg"; fi
      {
        if [[ $kind == file ]]; then
          copy_file "$g/data.img"
          truncate -s "$log_bytes" "$g/log.img"
          echo "file d0 $g/data.img"
          echo "file lg $g/log.img"
        else
          echo "mem d0 $size_bytes cache" # a write cache, so that the linear stack is offered FLUSH too
          echo "mem lg $log_bytes"
        fi
        echo "device dev"
        echo "$table"
        echo "export dev"
      } >"$g/cairn.stack"
      add_subject "$s" "$s" h_start_cairn "$name" $transport "$g/cairn.stack"
      if [[ -n ${S_WHY[$s]:-} ]]; then
        printf '%s\t%s\t%s\t-\t%s\tNaN\tn/a: %s\t0\n' "$stack" $transport "$s" "$r" "${S_WHY[$s]}" >>"$results"
        continue
      fi
      h_workload "${S_URI[$s]}" rw4k-q32-fsync32 "$size_bytes" 2 "$H_RUN/$name-warm.json" >/dev/null ||
        h_log "  warm-up of $s failed"
      for w in "${wl[@]}"; do
        c0=$(h_cpu_ticks "${S_PID[$s]}")
        measure "$stack" $transport "$s" "$w" "$r" "$size_bytes"
        c1=$(h_cpu_ticks "${S_PID[$s]}")
        json=$H_RUN/$stack-$transport-$s-$w-$r.json
        jq -r --arg st "$stack" --arg s "$s" --arg w "$w" --arg r "$r" --arg t $((c1 - c0)) --arg hz "$H_CLK_TCK" \
          '.jobs[0] | [$st, $s, $w, $r, .write.iops, .write.total_ios, .sync.total_ios, $t, $hz] | @tsv' "$json" \
          >>"$out/log-writes.tsv" 2>/dev/null || h_log "    $s $w: no fio result"
      done
      sample_peak "$s"
      h_stop_pid "${S_PID[$s]}"
      unset "P_PID[$s]"
      if grep -q 'logging disabled' "$H_RUN/$name.log" 2>/dev/null; then
        h_log "  $s: logging was disabled during the run (see $H_RUN/$name.log): its numbers do not count"
        printf '%s\t%s\t%s\t-\t%s\tNaN\tinvalid: logging disabled\t0\n' "$stack" $transport "$s" "$r" >>"$results"
      fi
      if [[ $kind == file && $s == log-writes ]]; then
        local counts fio_w fio_f
        counts=$(python3 "$here/harness/lwcount.py" "$g/log.img") || counts='{}'
        # what fio sent to this server: warm-up and workloads (h_check_rw's qemu-io writes are not counted)
        read -r fio_w fio_f < <(cat "$H_RUN/$name-warm.json" "$H_RUN/$stack-$transport-$s-"*"-$r.json" |
          jq -s -r '[(map(.jobs[0].write.total_ios) | add), (map(.jobs[0].sync.total_ios) | add)] | @tsv')
        jq -r --arg st "$stack" --arg r "$r" --arg fw "$fio_w" --arg ff "$fio_f" \
          '[$st, $r, .writes, .flushes, .complete, $fw, $ff] | @tsv' <<<"$counts" >>"$out/log-writes-counts.tsv"
        h_log "  server-side count: $counts; fio sent writes=$fio_w flushes=$fio_f"
      fi
    done
  done
  SUBJ=() # each subject's n/a is already recorded
}

# Replay speed of `cairn log-writes replay` (issue 19). harness LogMakeMain makes a log with the log-writes
# target over two files: REPLAY_WRITES random 4 KiB writes (200000 in --full, 50000 in --quick), a FLUSH
# after every 32, and 20 marks m1..m20 (one after every REPLAY_WRITES/20 writes). Then each round runs, in
# rotating order, `bin/cairn log-writes replay LOG --to FILE` for: the whole log (all), --limit of half its
# entries (limit-half), --end-mark m10 (end-mark-half) and --limit 0 (start-up: the command's fixed cost).
# Entries per second = entries replayed / wall time (JVM start included); the target file is a new sparse
# file each time. bin/cairn runs the working tree's CLI (it builds cli/target/cairn.jar when missing). xfstests'
# replay-log is not packaged by Debian 12 (apt-cache search xfstests finds nothing), so it is not compared.
group_log_replay() {
  local stack=log-replay transport=unix g=$data/log-replay nw r i c n entries half_mark t0 t1 got args
  local cases=(all limit-half end-mark-half startup) cairn=$root/bin/cairn
  nw=${REPLAY_WRITES:-$([[ $mode == full ]] && echo 200000 || echo 50000)}
  mkdir -p "$g"
  truncate -s "$size_bytes" "$g/data.img"
  truncate -s $(((nw + nw / 32 + 64) * 4608 + (1 << 20))) "$g/log.img"
  "$cairn" --version >/dev/null 2>>"$H_RUN/log-replay.err" || h_die "bin/cairn does not run (see $H_RUN/log-replay.err)"
  t0=$(date +%s.%N)
  "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -cp "$H_JAR" dev.cairn.bench.harness.LogMakeMain \
    --data "$g/data.img" --log "$g/log.img" --writes "$nw" --mark-every $((nw >= 20 ? nw / 20 : 1)) >"$H_RUN/log-make.out" 2>"$H_RUN/log-make.err" ||
    h_die "LogMakeMain failed (see $H_RUN/log-make.err)"
  t1=$(date +%s.%N)
  entries=$(python3 "$here/harness/lwcount.py" "$g/log.img" | jq -r .entries)
  h_log "  made a log of $entries entries ($(cat "$H_RUN/log-make.out")) in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s"
  half_mark=m10 # of the 20 marks
  n=${#cases[@]}
  for ((r = 1; r <= rounds; r++)); do
    h_log "  round $r/$rounds"
    for ((i = 0; i < n; i++)); do
      c=${cases[$(((i + r - 1) % n))]}
      case $c in
        all) args=() ;;
        limit-half) args=(--limit $((entries / 2))) ;;
        end-mark-half) args=(--end-mark "$half_mark") ;;
        startup) args=(--limit 0) ;;
      esac
      rm -f "$g/target.img"
      truncate -s "$size_bytes" "$g/target.img"
      t0=$(date +%s.%N)
      if ! "$cairn" log-writes replay "$g/log.img" --to "$g/target.img" "${args[@]}" >"$H_RUN/replay-$c-$r.out" 2>&1; then
        h_log "    $c: FAILED ($(head -c 300 "$H_RUN/replay-$c-$r.out" | tr '\n' ' '))"
        printf '%s\t%s\tcairn\t%s\t%s\tNaN\tfailed\t0\n' $stack $transport "$c" "$r" >>"$results"
        continue
      fi
      t1=$(date +%s.%N)
      got=$(sed -n 's/^replayed \([0-9]*\) of .*/\1/p' "$H_RUN/replay-$c-$r.out")
      # entries per second; for the start-up case (nothing replayed) the wall time in seconds
      awk -v s=$stack -v t=$transport -v c="$c" -v r="$r" -v n="$got" -v a="$t0" -v b="$t1" \
        'BEGIN {if (n > 0) printf "%s\t%s\tcairn\t%s\t%s\t%.0f\tentries/s\t%d\n", s, t, c, r, n / (b - a), n;
                else printf "%s\t%s\tcairn\t%s\t%s\t%.2f\ts\t0\n", s, t, c, r, b - a}' >>"$results"
      h_log "    $c: $got entries in $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}') s"
    done
  done
  printf 'log-replay\tentries\t%s\twrites\t%s\n' "$entries" "$nw" >"$out/log-replay.txt"
}

# Records a subject that could not start as one "n/a" line, so the summary can say why.
note_unavailable() {
  local stack=$1 transport=$2 s
  for s in "${SUBJ[@]}"; do
    if [[ -n ${S_WHY[$s]:-} ]]; then
      printf '%s\t%s\t%s\t-\t0\tNaN\tn/a: %s\t0\n' "$stack" "$transport" "$s" "${S_WHY[$s]}" >>"$results"
    fi
  done
}

IFS=, read -r -a group_list <<<"$groups"
for grp in "${group_list[@]}"; do
  reset_group
  h_log "stack $grp"
  case $grp in
    plain-mem) group_plain_mem unix; stack=plain-mem transport=unix ;;
    plain-mem-tcp) group_plain_mem tcp; stack=plain-mem transport=tcp ;;
    plain-file) group_plain_file unix; stack=plain-file transport=unix ;;
    plain-file-tcp) group_plain_file tcp; stack=plain-file transport=tcp ;;
    linear2) group_linear2; stack=linear2 transport=unix ;;
    striped) group_striped; stack=striped transport=unix ;;
    depth) group_depth; stack=depth transport=unix ;;
    snapshot) group_snapshot; stack=snapshot transport=unix ;;
    snapshot-n) group_snapshot snapshot-n N; stack=snapshot-n transport=unix ;;
    cold-mem) group_cold mem; stack=cold-mem transport=unix ;;
    cold-file) group_cold file; stack=cold-file transport=unix ;;
    thin) group_thin; stack=thin transport=unix ;;
    tls) group_tls; stack=tls transport=unix ;;
    rbd) group_rbd; stack=rbd transport=unix ;;
    nbd-hop) group_nbd_hop; stack=nbd-hop transport=unix ;;
    log-writes-file) group_log_writes file; stack=log-writes-file transport=unix ;;
    log-writes-mem) group_log_writes mem; stack=log-writes-mem transport=unix ;;
    log-replay) group_log_replay; stack=log-replay transport=unix ;;
    *) h_die "unknown group $grp (see --help)" ;;
  esac
  note_unavailable "$stack" "$transport"
  stop_group
  write_resources "$stack" "$transport"
  ((keep_data)) || rm -rf "${data:?}/$grp" "$data/${grp%-tcp}"
done
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"

h_log "report"
if [[ -f $out/log-writes.tsv || -f $out/log-replay.txt ]]; then
  python3 "$here/harness/lwreport.py" --out "$out" >"$out/log-writes.md" && h_log "log-writes summary: $out/log-writes.md"
fi
if [[ -n $(awk -F'\t' 'NR > 1 && $1 !~ /^log-(writes|replay)/' "$results") ]]; then
  python3 "$here/harness/report.py" --out "$out" --charts "$charts" --mode "$mode"
  if [[ ,$groups, == *,rbd,* || ,$groups, == *,nbd-hop,* ]]; then
    python3 "$here/harness/remote_report.py" "$results" >>"$out/summary.md"
  fi
else
  h_log "only log-writes groups ran: no summary.md"
fi
if [[ -f $out/summary.md ]]; then h_log "summary: $out/summary.md, charts: $charts"; fi
