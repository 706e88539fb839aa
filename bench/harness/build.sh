#!/usr/bin/env bash
# Builds the jar the harness runs Cairn from (bench/target/benchmarks.jar: every module shaded, with
# dev.cairn.bench.harness.StackServeMain), in a private copy of the sources so that other people's
# half-written files in the shared working tree cannot break (or leak into) a measurement.
#
#   bench/harness/build.sh [--src head|worktree] [--cache DIR]    prints the jar's path on stdout
#
#   head      (default) the committed HEAD, plus the working tree's bench/src/main/java/dev/cairn/bench/harness
#             (so the harness's own server can be changed without committing first)
#   worktree  the working tree as it is (every module), for trying a change before it is committed
#
# The copy is kept under the cache dir by commit, and rebuilt only when HEAD or the harness sources change.
set -euo pipefail

here=$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd -P "$here/../.." && pwd)
src=head
cache=${CAIRN_BENCH_CACHE:-/tmp/cairn-bench-build}
while (($#)); do
  case $1 in
    --src) src=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    *) echo "build.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done

# shellcheck source=../../bin/lib/jdk.sh
source "$root/bin/lib/jdk.sh"
export MAVEN_OPTS="--sun-misc-unsafe-memory-access=allow ${MAVEN_OPTS:-}"

harness_java=bench/src/main/java/dev/cairn/bench/harness
sha=$(git -C "$root" rev-parse HEAD)
case $src in
  head)
    stamp=$sha-$(cat "$root/$harness_java"/*.java | sha1sum | cut -c1-12)
    dir=$cache/$stamp
    ;;
  worktree)
    stamp=worktree
    dir=$cache/worktree
    ;;
  *) echo "build.sh: --src: $src (expected: head or worktree)" >&2; exit 2 ;;
esac

jar=$dir/bench/target/benchmarks.jar
if [[ $src == head && -f $jar ]]; then
  echo "$jar"
  exit 0
fi

mkdir -p "$cache"
# One build at a time (compare.sh and soak.sh may start together); the winner's jar serves the other.
exec 9>"$cache/.lock"
flock 9
if [[ $src == head && -f $jar ]]; then
  echo "$jar"
  exit 0
fi
rm -rf "$dir.tmp"
mkdir -p "$dir.tmp"
if [[ $src == head ]]; then
  git -C "$root" archive "$sha" | tar -x -C "$dir.tmp"
  mkdir -p "$dir.tmp/$harness_java"
  cp "$root/$harness_java"/*.java "$dir.tmp/$harness_java/"
else
  # Every tracked and untracked (not ignored) file, as it is now.
  (cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 -I{} cp --parents {} "$dir.tmp/" 2>/dev/null || true)
fi
log=$cache/build-$stamp.log
echo "build.sh: building $src ($sha) in $dir (log: $log)" >&2
if ! (cd "$dir.tmp" && ./mvnw -B -q -o -pl bench -am package -DskipTests -Dmaven.test.skip=true) >"$log" 2>&1 </dev/null; then
  # A dependency not yet in the local repository: try once more online.
  if ! (cd "$dir.tmp" && ./mvnw -B -q -pl bench -am package -DskipTests -Dmaven.test.skip=true) >>"$log" 2>&1 </dev/null; then
    echo "build.sh: build failed; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    exit 1
  fi
fi
rm -rf "$dir"
mv "$dir.tmp" "$dir"
# Keep the four newest builds (each is a full source tree with target/ folders).
ls -1dt "$cache"/*/ 2>/dev/null | tail -n +5 | while read -r old; do rm -rf "$old"; done
rm -f $(ls -1t "$cache"/build-*.log 2>/dev/null | tail -n +9)
echo "$jar"
