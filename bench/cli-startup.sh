#!/usr/bin/env bash
# Verb round trip of bin/cairn: the median wall and CPU time of N runs of one verb against a running
# daemon, with the start-up cache and without it (CAIRN_AOT=0), and of `nbdinfo --list` on the same
# daemon for scale. Uses hyperfine when it is installed (its median), else a loop over /usr/bin/time.
#
#   bench/cli-startup.sh [--runs N] [--verb 'ls']      (default: 21 runs of `ls`)
#
# Starts its own daemon on a scratch state directory (no TCP) and stops it by pid on exit.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=21 verb=ls
while (( $# > 0 )); do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --verb) verb=$2; shift 2 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "cli-startup.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
state=$(mktemp -d "${TMPDIR:-/tmp}/cairn-cli-startup.XXXXXX")
pid=""
cleanup() {
  if [[ -n $pid ]]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$state" "$state.log" "$state.time"
}
trap cleanup EXIT
export CAIRN_HOME=$state
"$root/bin/cairn" version >/dev/null 2>&1 || true   # builds the jar and the cache when needed
"$root/bin/cairn" serve --no-tcp >"$state.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [[ -S $state/control.sock ]] && break; sleep 0.1; done
[[ -S $state/control.sock ]] || { echo "cli-startup.sh: the daemon did not start:" >&2; cat "$state.log" >&2; exit 1; }

# median_of CMD...: median wall and CPU (user+sys) seconds over $runs runs.
median_of() {
  local i walls=() cpus=() t
  for (( i = 0; i < runs; i++ )); do
    /usr/bin/time -o "$state.time" -f '%e %U %S' "$@" >/dev/null 2>&1 || true
    t=$(tail -n1 "$state.time")
    walls+=("$(awk '{print $1}' <<<"$t")")
    cpus+=("$(awk '{printf "%.2f", $2 + $3}' <<<"$t")")
  done
  printf 'wall %s s, cpu %s s\n' \
    "$(printf '%s\n' "${walls[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")" \
    "$(printf '%s\n' "${cpus[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p")"
}

read -r -a words <<<"$verb"
echo "date=$(date -u +%FT%TZ) commit=$(git -C "$root" rev-parse --short HEAD) cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//') load=$(cut -d' ' -f1-3 /proc/loadavg) runs=$runs"
if command -v hyperfine >/dev/null; then
  hyperfine -N --warmup 2 --runs "$runs" \
    -n "cairn $verb (cache)" "$root/bin/cairn ${words[*]}" \
    -n "cairn $verb (CAIRN_AOT=0)" "env CAIRN_AOT=0 $root/bin/cairn ${words[*]}" \
    -n "nbdinfo --list" "nbdinfo --list nbd+unix:///?socket=$state/nbd.sock"
else
  echo "cairn $verb (cache):        $(median_of "$root/bin/cairn" "${words[@]}")"
  echo "cairn $verb (CAIRN_AOT=0):  $(CAIRN_AOT=0 median_of "$root/bin/cairn" "${words[@]}")"
  command -v nbdinfo >/dev/null &&
    echo "nbdinfo --list:           $(median_of nbdinfo --list "nbd+unix:///?socket=$state/nbd.sock")"
fi
