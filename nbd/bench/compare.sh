#!/usr/bin/env bash
# Side-by-side NBD server benchmark on this machine: Cairn (MemoryStore, NbdServeMain) vs nbdkit memory,
# nbdkit file and qemu-nbd (same 1 GiB file), over a Unix socket and TCP 127.0.0.1, with the same clients:
#   nbdcopy 1 GiB -> null:, fio nbd 4k randread/randwrite qd32, fio nbd 1M read/write qd8.
# Servers alternate (A B C D A B C D ...) for ROUNDS rounds; the table shows the median of the rounds.
#
# usage: nbd/bench/compare.sh [ROUNDS] [RUNTIME_SECONDS]     (run from the repo root after
#        ./mvnw -B -q -o -pl nbd -am install -DskipTests)
# needs: nbdkit libnbd-bin qemu-utils fio python3
set -euo pipefail
ROUNDS=${1:-3}
RUNTIME=${2:-4}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
JAVA=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
CP="$ROOT/nbd/target/classes:$ROOT/block/target/classes"
WORK=$(mktemp -d /tmp/nbd-bench.XXXXXX)
RESULTS="$WORK/results.csv"
SIZE=1G
PORT=10877
PID=""
cleanup() { stop_server; rm -rf "$WORK"; }
trap cleanup EXIT

for t in nbdkit nbdcopy fio qemu-nbd python3; do
  command -v "$t" >/dev/null || { echo "compare.sh: $t missing (apt-get install -y nbdkit libnbd-bin fio qemu-utils python3)" >&2; exit 1; }
done
[[ -d "$ROOT/nbd/target/classes" ]] || { echo "compare.sh: build first: ./mvnw -B -q -o -pl nbd -am install -DskipTests" >&2; exit 1; }

echo "# making a 1 GiB random file" >&2
head -c 1073741824 /dev/urandom > "$WORK/data.img"
cp "$WORK/data.img" "$WORK/file.img"

stop_server() {
  if [[ -n "$PID" ]]; then
    kill "$PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$PID" 2>/dev/null || true
    PID=""
  fi
  rm -f "$WORK/s.sock" "$WORK/pid"
}

wait_for() {  # URI
  for _ in $(seq 200); do nbdinfo --size "$1" >/dev/null 2>&1 && return 0; sleep 0.05; done
  echo "server did not come up for $1" >&2; return 1
}

# start_server NAME TRANSPORT -> sets PID and URI
start_server() {
  local name=$1 transport=$2 listen
  if [[ $transport == unix ]]; then URI="nbd+unix:///?socket=$WORK/s.sock"; else URI="nbd://127.0.0.1:$PORT/"; fi
  case $name in
    cairn-memory)
      if [[ $transport == unix ]]; then listen=(--unix "$WORK/s.sock"); else listen=(--tcp "127.0.0.1:$PORT"); fi
      "$JAVA" -cp "$CP" dev.cairn.nbd.server.NbdServeMain "${listen[@]}" --memory $SIZE > "$WORK/cairn.log" 2>&1 &
      PID=$! ;;
    nbdkit-memory|nbdkit-file)
      if [[ $transport == unix ]]; then listen=(-U "$WORK/s.sock"); else listen=(-i 127.0.0.1 -p $PORT); fi
      local plugin=(memory $SIZE); [[ $name == nbdkit-file ]] && plugin=(file "$WORK/file.img")
      nbdkit -f "${listen[@]}" "${plugin[@]}" > "$WORK/nbdkit.log" 2>&1 &
      PID=$! ;;
    qemu-nbd-file)
      if [[ $transport == unix ]]; then listen=(-k "$WORK/s.sock"); else listen=(-b 127.0.0.1 -p $PORT); fi
      qemu-nbd -t -e 16 -f raw --cache=writeback --aio=threads "${listen[@]}" "$WORK/file.img" > "$WORK/qemu.log" 2>&1 &
      PID=$! ;;
  esac
  wait_for "$URI"
}

fio_job() {  # NAME RW BS DEPTH -> prints IOPS or MiB/s
  local out
  out=$(fio --name="$1" --ioengine=nbd --uri="$URI" --rw="$2" --bs="$3" --iodepth="$4" --size=$SIZE \
        --time_based --runtime="$RUNTIME" --ramp_time=1 --output-format=json 2>/dev/null)
  python3 -c '
import json,sys
s=sys.stdin.read(); j=json.loads(s[s.index("{"):])["jobs"][0]; rw=sys.argv[1]; bs=sys.argv[2]
side=j["read"] if "read" in rw else j["write"]
print(round(side["iops"]) if bs=="4k" else round(side["bw_bytes"]/1048576))' "$2" "$3" <<<"$out"
}

SERVERS=(cairn-memory nbdkit-memory nbdkit-file qemu-nbd-file)
echo "server,transport,round,nbdcopy_s,randread4k_iops,randwrite4k_iops,read1m_mibs,write1m_mibs" > "$RESULTS"
for round in $(seq "$ROUNDS"); do
  for transport in unix tcp; do
    for s in "${SERVERS[@]}"; do
      echo "# round $round $transport $s" >&2
      start_server "$s" "$transport"
      # Fill with the same random data (memory servers start empty; nbdcopy would skip holes).
      [[ $s == *memory ]] && nbdcopy "$WORK/data.img" "$URI"
      t0=$(date +%s.%N); nbdcopy "$URI" null:; t1=$(date +%s.%N)
      copy=$(python3 -c "print(f'{$t1-$t0:.2f}')")
      rr=$(fio_job rr randread 4k 32); rw=$(fio_job rw randwrite 4k 32)
      sr=$(fio_job sr read 1M 8); sw=$(fio_job sw write 1M 8)
      echo "$s,$transport,$round,$copy,$rr,$rw,$sr,$sw" | tee -a "$RESULTS" >&2
      stop_server
    done
  done
done

python3 - "$RESULTS" <<'PY'
import csv,statistics,sys,collections
rows=list(csv.DictReader(open(sys.argv[1])))
cols=["nbdcopy_s","randread4k_iops","randwrite4k_iops","read1m_mibs","write1m_mibs"]
groups=collections.OrderedDict()
for r in rows: groups.setdefault((r["transport"],r["server"]),[]).append(r)
print("| transport | server | nbdcopy 1 GiB -> null: (s) | 4k randread qd32 (IOPS) | 4k randwrite qd32 (IOPS) | 1M read qd8 (MiB/s) | 1M write qd8 (MiB/s) |")
print("|---|---|---|---|---|---|---|")
for (t,s),rs in sorted(groups.items()):
    cells=[]
    for c in cols:
        v=[float(r[c]) for r in rs]; m=statistics.median(v)
        cells.append((f"{m:.2f}" if c=="nbdcopy_s" else f"{m:.0f}")+" ("+"/".join((f"{x:.2f}" if c=="nbdcopy_s" else f"{x:.0f}") for x in v)+")")
    print(f"| {t} | {s} | "+" | ".join(cells)+" |")
PY
