#!/usr/bin/env bash
# Whole-tree ABI diff: 'io_uring-codegen diff OLD NEW --all' (every UAPI header, four targets, and
# x86_64 alone) against the check-uapi style loop over the same headers: for each header both trees
# have, compile a translation unit that includes it with gcc -g for each tree, then abidiff the two
# objects; a header that does not compile alone is skipped, as check-uapi.sh does. Both sides use
# every core (xargs -P for the loop). Whole processes, interleaved runs, medians.
# Usage: generator/bench/tree-diff-vs-abidiff.sh [OLD] [NEW] [RUNS] [CLI]
#   (./make.sh bench builds and fetches first; CLI defaults to the ReadyToRun publish it makes)
set -euo pipefail
cd "$(dirname "$0")/../.."
old=${1:-6.12}
new=${2:-7.2}
runs=${3:-3}
cli=${4:-artifacts/cli/io_uring-codegen}
cache=${IO_URING_CODEGEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/io_uring-codegen}
version() { grep -A2 "\"kernel\": \"$1\"" headers/kernels.lock.json | sed -n 's/.*"version": "\([^"]*\)".*/\1/p' | tr ':~' '__'; }
told="$cache/headers/$old/$(version "$old")/include"
tnew="$cache/headers/$new/$(version "$new")/include"
[ -f "$told/../uapi-tree.sha256" ] && [ -f "$tnew/../uapi-tree.sha256" ] || { echo "the whole UAPI trees are not cached: run 'headers fetch --locked'" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# The headers both trees have, by #include name (asm/ through x86_64's folder, the loop's one target).
list() { (cd "$1" && find . -name '*.h' ! -path './*-linux-*' | sed 's|^\./||'; cd x86_64-linux-gnu && find . -name '*.h' | sed 's|^\./||') | sort -u; }
comm -12 <(list "$told") <(list "$tnew") > "$out/headers"

cat > "$out/one.sh" <<EOS
#!/usr/bin/env bash
# One header: gcc -g for each tree (skipped when either does not compile alone), then abidiff.
h=\$1; n=\$(echo "\$h" | tr / _)
printf '#include <%s>\nint abi_anchor;\n' "\$h" > $out/\$n.c
gcc -g -c -O0 -fno-eliminate-unused-debug-types -nostdinc -I$told -I$told/x86_64-linux-gnu -o $out/\$n.old.o $out/\$n.c 2>/dev/null || { echo "skip \$h"; exit 0; }
gcc -g -c -O0 -fno-eliminate-unused-debug-types -nostdinc -I$tnew -I$tnew/x86_64-linux-gnu -o $out/\$n.new.o $out/\$n.c 2>/dev/null || { echo "skip \$h"; exit 0; }
abidiff --non-reachable-types $out/\$n.old.o $out/\$n.new.o > /dev/null 2>&1; rc=\$?
if [ \$rc -eq 0 ]; then echo "same \$h"; elif [ \$((rc & 1)) -ne 0 ]; then echo "error \$h"; else echo "changed \$h"; fi
EOS
chmod +x "$out/one.sh"
echo "xargs -P $(nproc) -n 1 $out/one.sh < $out/headers" > "$out/loop.sh"

declare -A cmds=(
  [all4]="$cli diff $old $new --all --format json"
  [all1]="$cli diff $old $new --all --target x86_64 --format json"
  [abidiff]="bash $out/loop.sh"
)
order=(all4 all1 abidiff)
bash "$out/loop.sh" > "$out/loop.result"
for c in all4 all1; do ${cmds[$c]} >/dev/null 2>&1 || [ $? -lt 64 ] || { echo "warm-up of '$c' failed" >&2; exit 1; }; done
for ((i = 0; i < runs; i++)); do
  for c in "${order[@]}"; do
    /usr/bin/time -f "%e %U %M" -a -o "$out/$c.times" ${cmds[$c]} >/dev/null 2>&1 || true
  done
done
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A wall user mem
for c in "${order[@]}"; do
  # time(1) adds a 'Command exited with non-zero status' line for diff's verdict exit codes.
  grep -E '^[0-9.]+ [0-9.]+ [0-9]+$' "$out/$c.times" > "$out/$c.figures"
  wall[$c]=$(awk '{ print $1 }' "$out/$c.figures" | median)
  user[$c]=$(awk '{ print $2 }' "$out/$c.figures" | median)
  mem[$c]=$(awk '{ print $3 }' "$out/$c.figures" | median)
done
echo "every UAPI header $old -> $new: $(wc -l < "$out/headers") headers in both trees (x86_64 names); the loop: $(grep -c '^skip' "$out/loop.result") skipped (do not compile alone), $(grep -c '^changed' "$out/loop.result") changed by abidiff, $(grep -c '^error' "$out/loop.result") abidiff errors; $runs interleaved runs each, $(nproc) cores, abidiff $(abidiff --version | awk '{ print $2 }'), gcc $(gcc -dumpversion)"
echo
echo "| command | wall (median, s) | user CPU (median, s) | peak RSS (median, MiB) | wall vs gcc+abidiff loop |"
echo "|---|---|---|---|---|"
row() { awk -v n="$1" -v w="$2" -v u="$3" -v m="$4" -v b="$5" 'BEGIN { printf "| %s | %.1f | %.1f | %.1f | %.2fx |\n", n, w, u, m / 1024, w / b }'; }
row "diff --all, four targets" "${wall[all4]}" "${user[all4]}" "${mem[all4]}" "${wall[abidiff]}"
row "diff --all --target x86_64" "${wall[all1]}" "${user[all1]}" "${mem[all1]}" "${wall[abidiff]}"
row "gcc -g x2 + abidiff per header, x86_64 (xargs -P $(nproc))" "${wall[abidiff]}" "${user[abidiff]}" "${mem[abidiff]}" "${wall[abidiff]}"
