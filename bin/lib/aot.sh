# shellcheck shell=bash
# Sourced by bin/cairn. JDK 25's AOT cache (JEP 483/514/515) for the verbs' JVMs: classes already
# loaded and linked, and method profiles, from a training run, so a verb starts in less CPU time
# (docs/benchmarks.md, "CLI start-up"). serve does not use it (see bin/cairn).
#
# One cache per jar and JDK: cli/target/aot/cairn-JDKVERSION.aot, valid while it is newer than the jar
# (bin/cairn touches the jar after each build, so a rebuild makes it stale; the JVM also refuses a cache
# made from another jar or JDK). It is made on first use after a build, synchronously, by one training
# run (dev.cairn.cli.AotTraining: a daemon in a scratch state directory, the common verbs against it,
# NBD traffic through it), checked with -XX:AOTMode=on (a JVM that cannot map it fails), and then moved
# into place. Concurrent first uses wait on one lock. A failed run leaves cairn-JDKVERSION.failed (and
# its log) and is not retried until the jar changes; Cairn then simply starts without a cache.
# CAIRN_AOT=0 turns all of this off.

# cairn_aot_flags ROOT JAR: sets CAIRN_AOT_FLAGS (empty, or the flags that use the cache), making the
# cache first when it is missing or stale. Messages go to stderr.
cairn_aot_flags() {
  local root=$1 jar=$2 dir jdk cache failed log tmp scratch
  CAIRN_AOT_FLAGS=()
  [[ ${CAIRN_AOT:-1} == 0 ]] && return 0
  dir="$root/cli/target/aot"
  jdk=$(cairn_jdk_version "$JAVA_HOME")
  cache="$dir/cairn-$jdk.aot"
  failed="$dir/cairn-$jdk.failed"
  log="$dir/cairn-$jdk.log"
  if [[ ! $cache -nt $jar ]]; then
    [[ $failed -nt $jar ]] && return 0
    mkdir -p "$dir" || return 0
    exec {lock_fd}>"$dir/.lock"
    flock "$lock_fd"
    # Another bin/cairn may have made it while this one waited.
    if [[ ! $cache -nt $jar && ! $failed -nt $jar ]]; then
      echo "cairn: making the start-up cache (once per build; log: ${log#"$root"/}) ..." >&2
      tmp="$cache.tmp.$$"
      scratch=$(mktemp -d "${TMPDIR:-/tmp}/cairn-aot.XXXXXX")
      rm -f "$cache" "$failed" "$tmp"
      if "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED "${CAIRN_JVM_FLAGS[@]}" \
           -Xlog:aot=error,cds=error -XX:AOTCacheOutput="$tmp" \
           -cp "$jar" dev.cairn.cli.AotTraining "$scratch/state" >"$log" 2>&1 </dev/null &&
         [[ -s $tmp ]] &&
         "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED "${CAIRN_JVM_FLAGS[@]}" \
           -XX:AOTMode=on -XX:AOTCache="$tmp" -cp "$jar" dev.cairn.cli.CairnMain --version >>"$log" 2>&1 </dev/null; then
        mv -f "$tmp" "$cache"
      else
        rm -f "$tmp" "$tmp.config"
        touch "$failed"
        echo "cairn: could not make the start-up cache (see ${log#"$root"/}); starting without it" >&2
      fi
      rm -rf "$scratch"
    fi
    exec {lock_fd}>&-
  fi
  [[ -f $cache ]] && CAIRN_AOT_FLAGS=(-XX:AOTCache="$cache" -Xlog:aot=error,cds=error)
  return 0
}
