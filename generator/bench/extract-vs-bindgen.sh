#!/usr/bin/env bash
# Whole-process wall time and peak memory of extracting one kernel's io_uring.h, side by side in one
# run with bindgen (Debian's package, the same libclang family) on the same header for x86_64.
# bindgen 0.60 (Debian 12) panics on libclang 19's spelling of unnamed records, so it runs on the
# machine's libclang 14 (its own era); our extractor gives identical snapshots on 14 and 19.
# Runs are interleaved (A B C A B C ...) so machine drift hits every command alike; medians reported.
# Two builds of the same command line: the ReadyToRun JIT build (what 'dotnet tool install' gives) and
# the NativeAOT build (no JIT at start-up, which is most of a one-header extract).
# Usage: generator/bench/extract-vs-bindgen.sh [KERNEL] [RUNS]    (./make.sh bench builds and fetches first)
set -euo pipefail
cd "$(dirname "$0")/../.."
kernel=${1:-7.2}
runs=${2:-15}
cli=artifacts/cli/io_uring-codegen
aot=artifacts/cli-aot/io_uring-codegen
cache=${IO_URING_CODEGEN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/io_uring-codegen}
version=$(python3 -c "import json,sys; k=[k for k in json.load(open('headers/kernels.lock.json'))['kernels'] if k['kernel']==sys.argv[1]][0]; print(k['version'].replace(':','_').replace('~','_'))" "$kernel")
tree="$cache/headers/$kernel/$version/include"
[ -f "$tree/linux/io_uring.h" ] || { echo "no cached headers for $kernel: run ./make.sh bench (or headers fetch --locked)" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

declare -A cmds=(
  [one]="$cli extract $kernel --target x86_64 -o $out/one.json"
  [four]="$cli extract $kernel -o $out/four.json"
  [aot1]="$aot extract $kernel --target x86_64 -o $out/aot1.json"
  [aot4]="$aot extract $kernel -o $out/aot4.json"
  [bindgen]="env LIBCLANG_PATH=/usr/lib/llvm-14/lib bindgen $tree/linux/io_uring.h -o $out/bindgen.rs -- -nostdinc -I$tree -I$tree/x86_64-linux-gnu -target x86_64-linux-gnu"
)
order=(one four aot1 aot4 bindgen)
for c in "${order[@]}"; do ${cmds[$c]} >/dev/null 2>&1 || { echo "warm-up of '$c' failed: ${cmds[$c]}" >&2; exit 1; }; done
for ((i = 0; i < runs; i++)); do
  for c in "${order[@]}"; do
    /usr/bin/time -f "%e %M" -a -o "$out/$c.times" ${cmds[$c]} >/dev/null 2>&1
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

echo "kernel $kernel ($version), $runs interleaved runs each, $(nproc) cores, $(uname -r), bindgen $(bindgen --version 2>/dev/null | awk '{ print $2 }')"
echo
echo "| command | wall (median, s) | peak RSS (median, MiB) | wall vs bindgen | goal |"
echo "|---|---|---|---|---|"
row() { awk -v n="$1" -v w="$2" -v m="$3" -v b="$4" -v g="$5" 'BEGIN { printf "| %s | %.3f | %.1f | %.2fx | %s |\n", n, w, m / 1024, w / b, g }'; }
row "extract, x86_64 only (NativeAOT)" "${wall[aot1]}" "${mem[aot1]}" "${wall[bindgen]}" "<= 0.3x, RSS <= bindgen"
row "extract, all four targets (NativeAOT)" "${wall[aot4]}" "${mem[aot4]}" "${wall[bindgen]}" "<= 1.0x"
row "extract, x86_64 only (JIT, ReadyToRun)" "${wall[one]}" "${mem[one]}" "${wall[bindgen]}" "<= 0.5x"
row "extract, all four targets (JIT, ReadyToRun)" "${wall[four]}" "${mem[four]}" "${wall[bindgen]}" "<= 1.0x"
row "bindgen, x86_64" "${wall[bindgen]}" "${mem[bindgen]}" "${wall[bindgen]}" "peer"
