#!/usr/bin/env bash
# Header-to-verdict: io_uring-codegen's diff of two io_uring.h files (extract both + classify) side by
# side in one run with the check-uapi style pipeline (gcc -g of both headers + abidiff), and the diff of
# two committed snapshots, each by the NativeAOT build and by the ReadyToRun JIT build of the command
# line. Whole processes, interleaved runs, medians.
# Usage: generator/bench/diff-vs-abidiff.sh [OLD] [NEW] [RUNS]     (./make.sh bench builds and fetches first)
set -euo pipefail
cd "$(dirname "$0")/../.."
old=${1:-6.12}
new=${2:-7.2}
runs=${3:-11}
cli=artifacts/cli/io_uring-codegen
aot=artifacts/cli-aot/io_uring-codegen
cache=${IO_URING_CODEGEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/io_uring-codegen}
tree() { ls -d "$cache/headers/$1"/*/include | head -1; }
told=$(tree "$old"); tnew=$(tree "$new")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cp "$told/linux/io_uring.h" "$out/old.h"; cp "$tnew/linux/io_uring.h" "$out/new.h"
printf '#include <linux/io_uring.h>\nint abi_anchor;\n' > "$out/tu.c"
cat > "$out/abidiff-pipeline.sh" <<EOS
gcc -g -c -fno-eliminate-unused-debug-types -nostdinc -I$told -I$told/x86_64-linux-gnu -o $out/old.o $out/tu.c
gcc -g -c -fno-eliminate-unused-debug-types -nostdinc -I$tnew -I$tnew/x86_64-linux-gnu -o $out/new.o $out/tu.c
abidiff --non-reachable-types $out/old.o $out/new.o > /dev/null || true
EOS

declare -A cmds=(
  [ours1]="$cli diff $out/old.h $out/new.h --target x86_64 --format json"
  [ours4]="$cli diff $out/old.h $out/new.h --format json"
  [snap]="$cli diff generated/abi/$old.json generated/abi/$new.json --format json"
  [aot1]="$aot diff $out/old.h $out/new.h --target x86_64 --format json"
  [aot4]="$aot diff $out/old.h $out/new.h --format json"
  [aotsnap]="$aot diff generated/abi/$old.json generated/abi/$new.json --format json"
  [abidiff]="bash $out/abidiff-pipeline.sh"
)
order=(ours1 ours4 snap aot1 aot4 aotsnap abidiff)
for c in "${order[@]}"; do ${cmds[$c]} >/dev/null 2>&1 || [ $? -lt 64 ] || { echo "warm-up of '$c' failed" >&2; exit 1; }; done
for ((i = 0; i < runs; i++)); do
  for c in "${order[@]}"; do
    /usr/bin/time -f "%e %M" -a -o "$out/$c.times" ${cmds[$c]} >/dev/null 2>&1 || true
  done
done
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A wall mem
for c in "${order[@]}"; do
  # time(1) adds a 'Command exited with non-zero status' line for diff's verdict exit codes.
  grep -E '^[0-9.]+ [0-9]+$' "$out/$c.times" > "$out/$c.figures"
  wall[$c]=$(awk '{ print $1 }' "$out/$c.figures" | median)
  mem[$c]=$(awk '{ print $2 }' "$out/$c.figures" | median)
done
echo "io_uring.h $old -> $new, $runs interleaved runs each, $(nproc) cores, abidiff $(abidiff --version | awk '{ print $2 }'), gcc $(gcc -dumpversion)"
echo
echo "| command | wall (median, s) | peak RSS (median, MiB) | wall vs gcc+abidiff | goal |"
echo "|---|---|---|---|---|"
row() { awk -v n="$1" -v w="$2" -v m="$3" -v b="$4" -v g="$5" 'BEGIN { printf "| %s | %.3f | %.1f | %.2fx | %s |\n", n, w, m / 1024, w / b, g }'; }
row "header-to-verdict, x86_64 (extract both + diff; NativeAOT)" "${wall[aot1]}" "${mem[aot1]}" "${wall[abidiff]}" "<= 1.0x"
row "header-to-verdict, all four targets (NativeAOT)" "${wall[aot4]}" "${mem[aot4]}" "${wall[abidiff]}" "(4 targets vs 1)"
row "diff of two committed snapshots (NativeAOT)" "${wall[aotsnap]}" "${mem[aotsnap]}" "${wall[abidiff]}" ""
row "header-to-verdict, x86_64 (JIT, ReadyToRun)" "${wall[ours1]}" "${mem[ours1]}" "${wall[abidiff]}" "<= 1.0x"
row "header-to-verdict, all four targets (JIT, ReadyToRun)" "${wall[ours4]}" "${mem[ours4]}" "${wall[abidiff]}" "(4 targets vs 1)"
row "diff of two committed snapshots (JIT, ReadyToRun)" "${wall[snap]}" "${mem[snap]}" "${wall[abidiff]}" ""
row "gcc -g x2 + abidiff (check-uapi style), x86_64" "${wall[abidiff]}" "${mem[abidiff]}" "${wall[abidiff]}" "peer"
