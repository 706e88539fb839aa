# shellcheck shell=bash
# Shared by bench/compare.sh and bench/soak.sh: starting and stopping NBD servers (Cairn and its peers),
# per-process accounting from /proc, and the client workloads. Sourced, not run.
#
# Every process a script starts is recorded in $H_PIDS ("pid<TAB>what"); h_cleanup (run it from an EXIT
# trap) ends exactly those, by id, first with TERM, then with KILL after 10 s.

H_ROOT=${H_ROOT:-$(cd -P "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
H_CLK_TCK=$(getconf CLK_TCK)
# The JVM flags bin/cairn starts Cairn with: the harness measures what users run.
# shellcheck source=../../bin/lib/jvm.sh
source "$H_ROOT/bin/lib/jvm.sh"

h_log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
h_die() { h_log "error: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------- tools

# Checks that the client and server programs are there; installs the Debian packages that are missing
# (only when root and apt-get exist). $@: extra commands needed.
h_need_tools() {
  local missing=() cmd pkg
  declare -A pkg_of=([nbdkit]=nbdkit [nbdcopy]=libnbd-bin [nbdinfo]=libnbd-bin [qemu-nbd]=qemu-utils
    [qemu-img]=qemu-utils [qemu-io]=qemu-utils [nbd-server]=nbd-server [fio]=fio [jq]=jq [gnuplot]=gnuplot-nox)
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null 2>&1 && continue
    pkg=${pkg_of[$cmd]:-$cmd}
    [[ " ${missing[*]} " == *" $pkg "* ]] || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    h_log "installing ${missing[*]} (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2 ||
      h_die "apt-get install ${missing[*]} failed"
  else
    h_die "missing: ${missing[*]} (install with: apt-get install -y ${missing[*]})"
  fi
}

# ---------------------------------------------------------------------------------------------- processes

# Records a process this script started. $1 pid, $2 a word its command line must contain (checked at
# cleanup, so a recycled pid is never signalled).
h_track() { printf '%s\t%s\n' "$1" "$2" >>"$H_PIDS"; }

h_alive() { [[ -n ${1:-} && -d /proc/$1 ]] && [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]; }

# Ends one tracked process: TERM, wait up to 10 s, then KILL. $1 pid.
h_stop_pid() {
  local pid=$1 i
  h_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    h_alive "$pid" || return 0
    sleep 0.1
  done
  h_log "pid $pid ignored TERM for 10 s; sending KILL"
  kill -KILL "$pid" 2>/dev/null || true
}

# A run directory for a harness script: creates $1, sets H_RUN and H_PIDS, and ends every tracked process
# (and removes the images made there, 1 GiB each) on exit. Prints nothing; sets RUN_DIR to the absolute path.
h_init_run() {
  mkdir -p "$1"
  RUN_DIR=$(cd "$1" && pwd)
  H_RUN=$RUN_DIR
  H_PIDS=$RUN_DIR/pids.tsv
  : >"$H_PIDS"
  trap 'h_cleanup; rm -f "$RUN_DIR"/*.img' EXIT
  trap 'exit 130' INT TERM
}

h_cleanup() {
  [[ -n ${H_PIDS:-} && -f $H_PIDS ]] || return 0
  local pid what
  while IFS=$'\t' read -r pid what; do
    if h_alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$what"; then
      h_stop_pid "$pid"
    fi
  done <"$H_PIDS"
  if [[ -n ${H_SAMPLER:-} ]] && h_alive "$H_SAMPLER"; then
    kill "$H_SAMPLER" 2>/dev/null || true
  fi
}

# utime+stime+cutime+cstime of a process in clock ticks (children count once reaped: nbd-server forks
# one child per connection).
h_cpu_ticks() {
  # Fields after the command name (which may contain spaces): the 14th..17th of the line overall.
  local rest
  rest=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  # shellcheck disable=SC2086
  set -- $rest
  echo $(( ${12} + ${13} + ${14} + ${15} ))
}

# Peak resident set (VmHWM) in KiB.
h_hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# Resident set of a process and all its descendants, in KiB.
h_tree_rss_kb() {
  local pid=$1 total=0 kids c
  total=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  kids=$(cat /proc/"$pid"/task/*/children 2>/dev/null || true)
  for c in $kids; do
    total=$((total + $(h_tree_rss_kb "$c")))
  done
  echo "${total:-0}"
}

# Background sampler (every 0.5 s) of the tree RSS of every pid listed in $H_WATCH; keeps the maximum
# per pid in $H_RSSDIR/<pid>. Needed for nbd-server, whose per-connection children VmHWM cannot show.
h_start_sampler() {
  mkdir -p "$H_RSSDIR"
  : >"$H_WATCH"
  (
    trap 'exit 0' TERM
    while :; do
      while read -r p; do
        [[ -d /proc/$p ]] || continue
        now=$(h_tree_rss_kb "$p")
        old=$(cat "$H_RSSDIR/$p" 2>/dev/null || echo 0)
        ((now > old)) && echo "$now" >"$H_RSSDIR/$p"
      done <"$H_WATCH"
      sleep 0.5
    done
  ) &
  H_SAMPLER=$!
}

h_watch() { echo "$1" >>"$H_WATCH"; }

# Peak RSS in KiB: the larger of VmHWM and the sampled tree maximum. Read it before the process ends.
h_peak_rss_kb() {
  local hwm sampled
  hwm=$(h_hwm_kb "$1")
  sampled=$(cat "$H_RSSDIR/$1" 2>/dev/null || echo 0)
  echo $((hwm > sampled ? hwm : sampled))
}

# ---------------------------------------------------------------------------------------------- servers
#
# Each h_start_* takes: NAME (used for files under $H_RUN), TRANSPORT (unix|tcp), then what to serve.
# On success it sets H_URI and H_PID; on failure it returns non-zero and sets H_WHY.

H_PORT=${H_PORT:-$((20000 + RANDOM % 20000))}

# Waits up to 5 s for a daemon's pid file $1 (written a moment after its parent returns); prints the pid.
h_read_pidfile() {
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s $1 ]] && break
    sleep 0.1
  done
  cat "$1" 2>/dev/null || true
}

# Waits until $1 (URI) answers a handshake, while pid $2 lives; up to $3 seconds (default 60).
h_wait_ready() {
  local uri=$1 pid=$2 limit=$(( ${3:-60} * 10 )) i
  for ((i = 0; i < limit; i++)); do
    if ! h_alive "$pid"; then
      H_WHY="server exited during start"
      return 1
    fi
    if nbdinfo --size "$uri" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  H_WHY="no answer within $((limit / 10)) s"
  return 1
}

# Sets H_URI for export $3 (may be empty) of a server called $1 on transport $2, with a fresh socket/port.
h_endpoint() {
  local name=$1 transport=$2 export=${3:-}
  if [[ $transport == unix ]]; then
    H_SOCK=$H_RUN/$name.sock
    rm -f "$H_SOCK"
    # With H_TLS_PKI (the tls group) libnbd's TLS form: no tls-certificates parameter, as fio's nbd engine
    # refuses local files in URIs; over a Unix socket libnbd checks no server certificate anyway.
    H_URI="nbd${H_TLS_PKI:+s}+unix:///$export?socket=$H_SOCK"
  else
    # Not in a subshell: the counter must move on for the next server.
    H_PORT=$((H_PORT + 1))
    H_TCP_PORT=$H_PORT
    H_URI="nbd://127.0.0.1:$H_TCP_PORT/$export"
  fi
}

# h_check_rw URI SIZE: writes a pattern at three places of a freshly started server's device and reads
# each back (qemu-io), so that a server which puts data in the wrong place is not measured. The places
# avoid the first quarter (the snapshot rows measure first writes there) and cross the quarter boundaries
# of a 4-file concatenation or striping. Returns 1 with H_WHY set when a pattern does not read back.
h_check_rw() {
  local uri=$1 size=$2 off out len=65536 target=(-f raw "$1") export
  if [[ $uri == nbds+unix://* ]]; then
    # qemu takes no nbds URI: its TLS object and options (H_TLS_PKI holds ca-cert.pem; the certificate is
    # for localhost)
    export=${uri#nbds+unix:///}
    export=${export%%\?*}
    target=(--object "tls-creds-x509,id=tls0,dir=$H_TLS_PKI,endpoint=client" --image-opts
      "driver=nbd,server.type=unix,server.path=${uri##*socket=}${export:+,export=$export},tls-creds=tls0,tls-hostname=localhost")
  fi
  for off in $((size / 8 * 3)) $((size / 8 * 5)) $((size - len)); do
    if ! out=$(qemu-io -c "write -P 0xc5 $off $len" -c "read -P 0xc5 $off $len" "${target[@]}" 2>&1) ||
        grep -q 'failed\|error' <<<"$out"; then
      H_WHY="failed the read-after-write check at offset $off: $(grep -m1 'failed\|error' <<<"$out" || echo "qemu-io failed")"
      return 1
    fi
  done
}

# Cairn: h_start_cairn NAME TRANSPORT STACKFILE [EXPORT]. Extra JVM flags: $H_JAVA_OPTS (array-safe string).
h_start_cairn() {
  local name=$1 transport=$2 stack=$3 export=${4:-} listen=() jfr=()
  h_endpoint "$name" "$transport" "$export"
  if [[ $transport == unix ]]; then listen=(--unix "$H_SOCK"); else listen=(--tcp "127.0.0.1:$H_TCP_PORT"); fi
  if [[ -n ${H_JFR_DIR:-} ]]; then
    mkdir -p "$H_JFR_DIR"
    jfr=("-XX:StartFlightRecording=filename=$H_JFR_DIR/$name.jfr,settings=profile,dumponexit=true")
  fi
  cairn_jvm_flags "${H_JAVA_OPTS:-}"
  # shellcheck disable=SC2086 # H_JAVA_OPTS is a list of flags
  "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED "${CAIRN_JVM_FLAGS[@]}" ${H_JAVA_OPTS:-} "${jfr[@]}" \
    -cp "$H_JAR" dev.cairn.bench.harness.StackServeMain --stack "$stack" "${listen[@]}" \
    ${H_CAIRN_ARGS:-} >"$H_RUN/$name.out" 2>"$H_RUN/$name.log" &
  H_PID=$!
  h_track "$H_PID" StackServeMain
  local i
  for ((i = 0; i < 600; i++)); do
    grep -q '^ready' "$H_RUN/$name.out" 2>/dev/null && break
    if ! h_alive "$H_PID"; then
      wait "$H_PID" 2>/dev/null && rc=0 || rc=$?
      H_WHY=$(grep -m1 'StackServeMain: cannot build' "$H_RUN/$name.log" | sed 's/^StackServeMain: //' || true)
      [[ -n $H_WHY ]] || H_WHY="exited with $rc (see $H_RUN/$name.log)"
      return 1
    fi
    sleep 0.1
  done
  h_wait_ready "$H_URI" "$H_PID"
}

# h_cairn_aot_cache CACHE STACKFILE: makes the JDK AOT cache (classes linked, method profiles) that Cairn's
# server starts with in the cold rows, as bin/cairn makes one for cairn.jar (bin/lib/aot.sh): a training
# run of StackServeMain over STACKFILE with the warm-up's I/O (fill, 70/30 4k, 1M reads and writes, a
# whole-device read, 4k random writes), then TERM; the JVM writes the cache as it exits (assembling it
# takes a few seconds, so the wait is longer than h_stop_pid's). Returns 1 when no cache was made.
h_cairn_aot_cache() {
  local cache=$1 stack=$2 pid i
  [[ -s $cache ]] && return 0
  H_JAVA_OPTS="${H_JAVA_OPTS:-} -XX:AOTCacheOutput=$cache -Xlog:aot=error,cds=error" \
    h_start_cairn aot-training unix "$stack" || return 1
  pid=$H_PID
  nbdcopy "$H_SRC" "$H_URI" 2>>"$H_RUN/aot-training.err" || true
  h_workload "$H_URI" mix4k-q32 "$size_bytes" 2 "$H_RUN/aot-training.json" >/dev/null || true
  h_workload "$H_URI" sr1m-q8 "$size_bytes" 1 "$H_RUN/aot-training.json" >/dev/null || true
  h_workload "$H_URI" sw1m-q8 "$size_bytes" 1 "$H_RUN/aot-training.json" >/dev/null || true
  h_workload "$H_URI" copy-read "$size_bytes" 0 "$H_RUN/aot-training.json" >/dev/null || true
  h_workload "$H_URI" rw4k-q32 "$size_bytes" 2 "$H_RUN/aot-training.json" >/dev/null || true
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 1200; i++)); do
    h_alive "$pid" || break
    sleep 0.1
  done
  h_stop_pid "$pid"
  [[ -s $cache ]] || { h_log "  no AOT cache was made (see $H_RUN/aot-training.log)"; return 1; }
}

# nbdkit: h_start_nbdkit NAME TRANSPORT [nbdkit filters/plugin/args...]
h_start_nbdkit() {
  local name=$1 transport=$2 listen=()
  shift 2
  h_endpoint "$name" "$transport" ""
  if [[ $transport == unix ]]; then listen=(-U "$H_SOCK"); else listen=(-i 127.0.0.1 -p "$H_TCP_PORT"); fi
  rm -f "$H_RUN/$name.pid"
  if ! nbdkit "${listen[@]}" -P "$H_RUN/$name.pid" "$@" >"$H_RUN/$name.log" 2>&1; then
    H_WHY="nbdkit failed: $(tail -n1 "$H_RUN/$name.log")"
    return 1
  fi
  H_PID=$(h_read_pidfile "$H_RUN/$name.pid")
  h_track "$H_PID" nbdkit
  h_wait_ready "$H_URI" "$H_PID"
}

# qemu-nbd: h_start_qemu NAME TRANSPORT [qemu-nbd image args...]  (-e 8: multi-conn like the others)
h_start_qemu() {
  local name=$1 transport=$2 listen=()
  shift 2
  h_endpoint "$name" "$transport" ""
  if [[ $transport == unix ]]; then listen=(-k "$H_SOCK"); else listen=(-b 127.0.0.1 -p "$H_TCP_PORT"); fi
  rm -f "$H_RUN/$name.pid"
  if ! qemu-nbd --fork -t -e 8 --cache=writeback --aio=threads --pid-file="$H_RUN/$name.pid" "${listen[@]}" \
      "$@" >"$H_RUN/$name.log" 2>&1; then
    H_WHY="qemu-nbd failed: $(tail -n1 "$H_RUN/$name.log")"
    return 1
  fi
  H_PID=$(h_read_pidfile "$H_RUN/$name.pid")
  h_track "$H_PID" qemu-nbd
  h_wait_ready "$H_URI" "$H_PID"
}

# nbd-server: h_start_nbdserver NAME TRANSPORT FILE [multifile] (export "disk"; flush, fua and trim on).
# With multifile the export is the concatenation of FILE.0, FILE.1, ... (nbd-server's multifile option).
h_start_nbdserver() {
  local name=$1 transport=$2 file=$3 multifile=${4:-} conf
  h_endpoint "$name" "$transport" disk
  conf=$H_RUN/$name.conf
  {
    echo "[generic]"
    echo "user = root"
    echo "group = root"
    if [[ $transport == unix ]]; then
      echo "unixsock = $H_SOCK"
    else
      echo "listenaddr = 127.0.0.1"
      echo "port = $H_TCP_PORT"
    fi
    echo "[disk]"
    echo "exportname = $file"
    [[ $multifile == multifile ]] && echo "multifile = true"
    echo "flush = true"
    echo "fua = true"
    echo "trim = true"
  } >"$conf"
  rm -f "$H_RUN/$name.pid"
  if ! nbd-server -C "$conf" -p "$H_RUN/$name.pid" >"$H_RUN/$name.log" 2>&1; then
    H_WHY="nbd-server failed: $(tail -n1 "$H_RUN/$name.log")"
    return 1
  fi
  H_PID=$(h_read_pidfile "$H_RUN/$name.pid")
  h_track "$H_PID" nbd-server
  h_wait_ready "$H_URI" "$H_PID"
}

# ---------------------------------------------------------------------------------------------- workloads
#
# h_workload URI WORKLOAD SIZE RUNTIME JSONOUT -> prints "VALUE UNIT BYTES REQUESTS" (VALUE is a throughput:
# higher is better; REQUESTS is fio's I/O count, 0 for nbdcopy).
#
#   copy-read   nbdcopy URI null:           GiB/s      copy-write  nbdcopy $H_SRC URI   GiB/s
#   rr4k-q1/q32 fio randread 4k             IOPS       rw4k-q1/q32 fio randwrite 4k     IOPS
#   mix4k-q1/q32 fio randrw 70/30 4k        IOPS       sr1m-q8 / sw1m-q8 fio 1M seq     MiB/s
#   first4k-q32 / rewrite4k-q32: fio randwrite 4k over the first SIZE bytes, every block exactly once (not
#               time based): the snapshot rows' first write (copy-out) and rewrite.
#   rw4k-q1-fsync32 / rw4k-q32-fsync32: fio randwrite 4k with --fsync=32, which the nbd engine sends as
#               NBD_CMD_FLUSH (the log-writes rows). fio before 3.37 (Debian 12 has 3.33) sends more FLUSHes than
#               asked at iodepth > 1 (fio PR #1754): at q1 it is exactly one per 32 writes.

h_fio() {
  local uri=$1 out=$2
  shift 2
  fio --name=w --ioengine=nbd --uri="$uri" --output-format=json --output="$out" --randrepeat=0 "$@" >/dev/null 2>"$out.err"
}

h_workload() {
  local uri=$1 w=${2#cold-} size=$3 runtime=$4 out=$5 t0 t1 common
  common=(--size="$size" --time_based --runtime="$runtime")
  case $w in
    copy-read | copy-write)
      t0=$(date +%s.%N)
      if [[ $w == copy-read ]]; then
        nbdcopy "$uri" null: 2>"$out.err" || return 1
      else
        nbdcopy "$H_SRC" "$uri" 2>"$out.err" || return 1
      fi
      t1=$(date +%s.%N)
      awk -v s="$size" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f GiB/s %.0f 0\n", s / 1073741824 / (b - a), s}'
      return 0
      ;;
    rr4k-q1) h_fio "$uri" "$out" --rw=randread --bs=4k --iodepth=1 --norandommap "${common[@]}" ;;
    rr4k-q32) h_fio "$uri" "$out" --rw=randread --bs=4k --iodepth=32 --norandommap "${common[@]}" ;;
    rw4k-q1) h_fio "$uri" "$out" --rw=randwrite --bs=4k --iodepth=1 --norandommap "${common[@]}" ;;
    rw4k-q32) h_fio "$uri" "$out" --rw=randwrite --bs=4k --iodepth=32 --norandommap "${common[@]}" ;;
    mix4k-q1) h_fio "$uri" "$out" --rw=randrw --rwmixread=70 --bs=4k --iodepth=1 --norandommap "${common[@]}" ;;
    mix4k-q32) h_fio "$uri" "$out" --rw=randrw --rwmixread=70 --bs=4k --iodepth=32 --norandommap "${common[@]}" ;;
    sr1m-q8) h_fio "$uri" "$out" --rw=read --bs=1M --iodepth=8 "${common[@]}" ;;
    sw1m-q8) h_fio "$uri" "$out" --rw=write --bs=1M --iodepth=8 "${common[@]}" ;;
    rw4k-q1-fsync32) h_fio "$uri" "$out" --rw=randwrite --bs=4k --iodepth=1 --fsync=32 --norandommap "${common[@]}" ;;
    rw4k-q32-fsync32) h_fio "$uri" "$out" --rw=randwrite --bs=4k --iodepth=32 --fsync=32 --norandommap "${common[@]}" ;;
    first4k-q32 | rewrite4k-q32) h_fio "$uri" "$out" --rw=randwrite --bs=4k --iodepth=32 --size="$size" ;;
    *) h_die "unknown workload $w" ;;
  esac || return 1
  local unit=IOPS field='(.read.iops + .write.iops)'
  if [[ $w == s[rw]1m-* ]]; then
    unit=MiB/s field='((.read.bw_bytes + .write.bw_bytes) / 1048576)'
  fi
  jq -r "[.jobs[0] | $field, (.read.io_bytes + .write.io_bytes), (.error // 0), (.read.total_ios + .write.total_ios)] | \"\(.[0]) $unit \(.[1]) \(.[2]) \(.[3])\"" "$out" |
    awk '{ if ($4 != 0) exit 1; printf "%.2f %s %.0f %.0f\n", $1, $2, $3, $5 }'
}
