# shellcheck shell=bash
# Sourced by Cairn's launchers (bin/cairn, bin/test). Picks a JDK >= 25 without starting java:
#   1. $JAVA_HOME, if its `release` file says JAVA_VERSION major >= 25;
#   2. else the newest JDK under /usr/lib/jvm whose `release` file says >= 25;
#   3. else prints what to install and exits 1.
# Then exports JAVA_HOME and puts $JAVA_HOME/bin first in PATH.

CAIRN_MIN_JAVA=25
CAIRN_JVM_DIR=${CAIRN_JVM_DIR:-/usr/lib/jvm}

# Prints the JAVA_VERSION of the JDK in directory $1 (from its release file), or nothing.
cairn_jdk_version() {
  local release="$1/release" line
  [[ -f "$release" && -x "$1/bin/java" ]] || return 0
  line=$(grep -m1 '^JAVA_VERSION=' "$release" 2>/dev/null) || return 0
  line=${line#JAVA_VERSION=}
  line=${line//\"/}
  printf '%s\n' "$line"
}

# Prints the feature ("major") number of a Java version string: 25.0.3 -> 25, 1.8.0_292 -> 8.
cairn_java_major() {
  local v="$1" major
  [[ $v == 1.* ]] && v=${v#1.}
  major=${v%%[!0-9]*}
  printf '%s\n' "${major:-0}"
}

cairn_select_jdk() {
  local v major dir real best="" best_major=-1 best_version="" found=() seen=()

  if [[ -n "${JAVA_HOME:-}" ]]; then
    v=$(cairn_jdk_version "$JAVA_HOME")
    if [[ -n "$v" ]] && (( $(cairn_java_major "$v") >= CAIRN_MIN_JAVA )); then
      best=$JAVA_HOME
    fi
  fi

  if [[ -z "$best" && -d "$CAIRN_JVM_DIR" ]]; then
    for dir in "$CAIRN_JVM_DIR"/*/; do
      dir=${dir%/}
      # Debian's aliases (java-1.17.0-openjdk-amd64 -> java-17-openjdk-amd64): count each JDK once.
      real=$(cd -P "$dir" 2>/dev/null && pwd) || continue
      [[ " ${seen[*]} " == *" $real "* ]] && continue
      seen+=("$real")
      v=$(cairn_jdk_version "$dir")
      [[ -n "$v" ]] || continue
      found+=("$(basename "$dir") ($v)")
      major=$(cairn_java_major "$v")
      if (( major >= CAIRN_MIN_JAVA )); then
        # Newest: highest major, then the highest full version (sort -V) among equal majors.
        if (( major > best_major )) ||
           { (( major == best_major )) &&
             [[ $(printf '%s\n%s\n' "$best_version" "$v" | sort -V | tail -n1) == "$v" ]]; }; then
          best=$dir best_major=$major best_version=$v
        fi
      fi
    done
  fi

  if [[ -z "$best" ]]; then
    local has="nothing"
    (( ${#found[@]} > 0 )) && has=$(IFS=,; echo "${found[*]}" | sed 's/,/, /g')
    echo "cairn: no JDK >= $CAIRN_MIN_JAVA found (JAVA_HOME=${JAVA_HOME:-<unset>}, $CAIRN_JVM_DIR has: $has)." \
         "Install a JDK $CAIRN_MIN_JAVA (e.g. Temurin $CAIRN_MIN_JAVA) and set JAVA_HOME." >&2
    exit 1
  fi

  export JAVA_HOME=$best
  export PATH="$JAVA_HOME/bin:$PATH"
}

cairn_select_jdk
