# shellcheck shell=bash
# Sourced by bin/cairn. One rule for "the jar is stale": a file under any module's src/main, a pom or
# .mvn/ that is newer than the jar. Only Maven's build folders are skipped: ./target and ./<module>/target.
# Source packages may be named anything (a package folder called "target" is still source), so the
# skip is anchored at the repository root, never a bare "*/target" pattern.

# cairn_stale_source ROOT JAR: prints the first source file newer than JAR (or nothing).
cairn_stale_source() {
  local root=$1 jar=$2
  (cd "$root" && find . -path ./.git -prune -o \
     -regextype posix-extended -regex '\./([^/]+/)?target' -prune -o \
     \( -path '*/src/main/*' -o -name pom.xml -o -path './.mvn/*' \) \
     -type f -newer "$jar" -print -quit)
}
