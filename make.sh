#!/usr/bin/env bash
# The project's entry points. On a fresh Debian machine with the .NET SDK:
#   ./make.sh generate   the main job: fetch the corpus's kernel headers, regenerate every ABI snapshot
#   ./make.sh test       build, fetch the locked headers, check snapshots are fresh, run every test
#   ./make.sh matrix     the conformance matrix: host + Debian's kernels under qemu vs the engine
#   ./make.sh matrix-shard KERNEL ARCH DIR [matrix options]
#                        one column of the matrix (one kernel as one architecture, no host), as each CI job runs it
#   ./make.sh matrix-merge SHARD.json... -o DIR
#                        shards of one batch joined into the matrix one run of all their columns writes
#   ./make.sh liburing   liburing's own test suite on the host's kernel and on the engine (about 6 min;
#                        writes docs/conformance/liburing.md and .json; extra arguments go to 'liburing')
#   ./make.sh pack       the NuGet packages and dotnet tools into artifacts/packages (a folder feed),
#                        and the NativeAOT command lines into artifacts/cli-aot and artifacts/conformance-aot
#   ./make.sh bench      extraction vs bindgen, diff (one header, every header) vs gcc+abidiff, NOP round trips vs liburing
#                        (prints the docs/benchmarks.md tables)
#   ./make.sh mutation   Stryker.NET over the engine, the trace replay and the engine's properties as
#                        the tests (hours since the engine and corpus grew; not part of test)
#   ./make.sh mutation-sample [LINES] [SEED]
#                        the same over a seeded sample of about LINES of the engine's code lines
#                        (default 150 and 1; about 30 min), printing the score and its 95 % interval
# Each installs the Debian packages it needs when run as root; otherwise it prints the apt-get line.
set -euo pipefail
cd "$(dirname "$0")"

# The default (Debug) configuration everywhere: dotnet format loads the projects in it, and needs the
# source generator built there to see the bindings' types.
CLI_DLL=generator/src/IoUring.Abi.Cli/bin/Debug/net10.0/io_uring-codegen.dll
CONFORMANCE_DLL=conformance/src/IoUring.Conformance.Cli/bin/Debug/net10.0/io_uring-conformance.dll

need_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -eq 0 ]; then
    echo "installing: ${missing[*]}" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  else
    echo "missing Debian packages; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
}

command -v dotnet >/dev/null || { echo "the .NET SDK (dotnet) is required: https://learn.microsoft.com/dotnet/core/install/linux-debian" >&2; exit 1; }

# libclang is the front end; dpkg-deb and apt-get fetch the headers. The cross compilers are the
# tests' independent oracle (gcc-multilib conflicts with them on Debian, so i386 uses the i686 cross gcc).
FRONT_END=(libclang1-19 apt dpkg)
ORACLE=(gcc gcc-i686-linux-gnu gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf abigail-tools)
# The conformance VMs: qemu (software emulation), the static C library the VM's init links against,
# and cpio, the tests' independent reader of the initramfs format.
VMS=(qemu-system-x86 gcc libc6-dev cpio)
# Linking a NativeAOT executable (the native VM agent, the native command lines): gcc and zlib.
NATIVE=(gcc zlib1g-dev)
# The matrix's 32-bit columns (matrix --compat32, Compat32Tests): programs built for i686 and run as
# 32-bit processes in the VMs, dynamically linked against the cross C library, which goes into the image.
COMPAT32=(gcc-i686-linux-gnu libc6-dev-i386-cross)
# The arm64 VMs: the emulator, and the cross gcc that builds their static init and links the agent
# compiled ahead of time for linux-arm64 (with the C library the image carries).
ARM64=(qemu-system-arm gcc-aarch64-linux-gnu libc6-dev-arm64-cross)

cli() { dotnet "$CLI_DLL" "$@"; }
conformance() { dotnet "$CONFORMANCE_DLL" "$@"; }

# What running the matrix needs: the command line, and the native agent the VMs (and the host's
# supervised child) run: no .NET runtime in the initramfs, no JIT in the guest (docs/benchmarks.md:
# 31 s instead of 48 s for four kernels). The test suite holds it to the JIT agent's traces (NativeAgentTests).
build_matrix() {
  need_packages "${FRONT_END[@]}" "${VMS[@]}" "${NATIVE[@]}" "${COMPAT32[@]}" "${ARM64[@]}"
  dotnet build conformance/src/IoUring.Conformance.Cli -nologo -v quiet -clp:ErrorsOnly
  dotnet publish conformance/src/IoUring.Conformance.Agent -c Release -r linux-x64 -p:NativeAgent=true -o artifacts/agent-aot -nologo -v quiet -clp:ErrorsOnly
  export IOURING_CONFORMANCE_AGENT="$PWD/artifacts/agent-aot"
}

case "${1:-}" in
  generate)
    need_packages "${FRONT_END[@]}"
    dotnet build generator/src/IoUring.Abi.Cli -nologo -v quiet -clp:ErrorsOnly
    cli headers fetch
    # Every kernel of the lock -> generated/abi/<kernel>.json, and every proposal of
    # headers/proposals/*.patch (over the kernel it names) -> generated/abi/proposals/<name>.json.
    cli generate
    ;;
  test)
    need_packages "${FRONT_END[@]}" "${ORACLE[@]}" "${VMS[@]}" "${NATIVE[@]}" "${COMPAT32[@]}" "${ARM64[@]}"
    dotnet build CodeGen.sln -nologo -v quiet -clp:ErrorsOnly
    # The build rewrote generated/cs (the bindings' emitted sources): they must equal what is committed.
    if [ -d .git ] && [ -n "$(git status --porcelain -- generated/)" ]; then
      git status --short -- generated/ >&2
      echo "generated/ is stale: build, then commit generated/cs (the generator's output changed)" >&2
      exit 1
    fi
    cli headers fetch --locked
    # The VM boot test boots every kernel of conformance/kernels.lock.json (CI=true fails it when one is missing).
    conformance kernels fetch --locked
    # liburing's tests on the engine need liburing built and the engine compiled ahead of time; done
    # here, before the test processes run side by side, so no test restores or publishes a project.
    conformance liburing fetch --locked
    dotnet publish engine/src/IoUring.Engine.Native -c Release -r linux-x64 -o engine/src/IoUring.Engine.Native/bin/Release/native-linux-x64 -nologo -v quiet
    cli generate --check
    dotnet format CodeGen.sln --verify-no-changes -v quiet || { echo "dotnet format found style issues: run 'dotnet format CodeGen.sln'" >&2; exit 1; }
    rm -rf TestResults
    set +e
    dotnet test CodeGen.sln --no-build -nologo 2>&1 | tee /tmp/io_uring-codegen-test.log
    rc=${PIPESTATUS[0]}
    set -e
    [ -f TestResults/oracle-report.txt ] && sort TestResults/oracle-report.txt
    # One plain closing line for whoever reads only the last line.
    awk '/Failed:.*Passed:/ { gsub(",", ""); for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) } }
         END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' /tmp/io_uring-codegen-test.log
    exit "$rc"
    ;;
  matrix)
    # The conformance matrix: the host's kernel and the four locked kernels under qemu, the same
    # programs on each and on the engine, hostile SQE bytes inside each VM. Extra arguments go to
    # 'matrix' (e.g. --seed 7 --cases 500 --hostile 1000 -o DIR); default: 200 new programs, 300
    # hostile cases, written to conformance-matrix/; without --arch, every architecture: x86_64 and
    # arm64 kernels, and 32-bit (i686) processes on the x86_64 kernels.
    build_matrix
    case " $* " in *" --arch "*) ;; *) set -- "$@" --arch x86_64 arm64 i686 ;; esac
    conformance kernels fetch --locked
    shift
    conformance matrix "$@"
    ;;
  liburing)
    # liburing's whole test suite, unmodified, on the host's kernel (each test supervised, one at a time)
    # and on the engine through its preload library; the committed report is docs/conformance/liburing.md.
    build_matrix
    shift
    case " $* " in *" -o "*|*" --output "*) ;; *) set -- "$@" -o docs/conformance ;; esac
    conformance liburing "$@"
    ;;
  matrix-shard)
    # One shard: a kernel as one architecture, on a machine of its own (.github/workflows/conformance-matrix.yml
    # runs one per job). Only that kernel's image is fetched, and the host's column is left out: a CI
    # machine's kernel is none of the corpus and differs from job to job. Every shard of one merge needs
    # the same --seed, --cases and --hostile (extra arguments go to 'matrix').
    [ $# -ge 4 ] || { echo "usage: ./make.sh matrix-shard KERNEL ARCH DIR [--seed S --cases N --hostile M]" >&2; exit 2; }
    kernel=$2 arch=$3 out=$4
    shift 4
    build_matrix
    conformance kernels fetch --locked --kernel "$kernel"
    conformance matrix "$kernel" --arch "$arch" --no-host -o "$out" "$@"
    ;;
  matrix-merge)
    # Shards (their matrix.json) into one matrix.json, .md and .svg; runs nothing on a kernel, so it
    # needs only the command line.
    dotnet build conformance/src/IoUring.Conformance.Cli -nologo -v quiet -clp:ErrorsOnly
    shift
    conformance matrix merge "$@"
    ;;
  pack)
    # A folder feed: 'dotnet tool install -g IoUring.Codegen.Tool --add-source artifacts/packages',
    # 'dotnet add package IoUring.Ring --source artifacts/packages'. The bindings package holds every
    # kernel of the corpus, so the build of the default kernel (which builds them all) comes first.
    need_packages "${FRONT_END[@]}" "${NATIVE[@]}"
    dotnet build generated/IoUring.Bindings -c Release -nologo -v quiet -clp:ErrorsOnly
    for p in generated/IoUring.Bindings engine/src/IoUring.Ring generator/src/IoUring.Bindings.Generator \
             generator/src/IoUring.Abi.Cli conformance/src/IoUring.Conformance.Cli; do
      dotnet pack "$p" -c Release -o artifacts/packages -nologo -v quiet -clp:ErrorsOnly
    done
    dotnet publish generator/src/IoUring.Abi.Cli -c Release -r linux-x64 -p:NativeCli=true -o artifacts/cli-aot -nologo -v quiet -clp:ErrorsOnly
    dotnet publish conformance/src/IoUring.Conformance.Cli -c Release -r linux-x64 -p:NativeCli=true -o artifacts/conformance-aot -nologo -v quiet -clp:ErrorsOnly
    # The native builds must say what the JIT builds say: a snapshot byte for byte as committed, and the
    # same generated programs (FsCheck runs without reflection there) as the tool's build.
    check=$(mktemp -d)
    artifacts/cli-aot/io_uring-codegen headers fetch --locked >/dev/null
    artifacts/cli-aot/io_uring-codegen extract 7.2 -o "$check/7.2.json" 2>/dev/null
    cmp "$check/7.2.json" generated/abi/7.2.json
    artifacts/conformance-aot/io_uring-conformance programs --seed 7 --cases 200 --hostile 100 -o "$check/native.json" 2>/dev/null
    dotnet conformance/src/IoUring.Conformance.Cli/bin/Release/net10.0/io_uring-conformance.dll programs --seed 7 --cases 200 --hostile 100 -o "$check/jit.json" 2>/dev/null
    cmp "$check/native.json" "$check/jit.json"
    rm -rf "$check"
    echo "native io_uring-codegen: extract 7.2 equals generated/abi/7.2.json; native io_uring-conformance: 200 programs + 100 hostile cases equal to the JIT build's"
    ls -l artifacts/packages/*.nupkg artifacts/cli-aot/io_uring-codegen artifacts/conformance-aot/io_uring-conformance
    ;;
  bench)
    # liburing-dev: the NOP bench builds its C peer (engine/bench/nop-liburing.c) against it.
    need_packages "${FRONT_END[@]}" "${NATIVE[@]}" bindgen time libclang1-14 abigail-tools liburing-dev
    # The benchmarked binary is the ReadyToRun publish: startup is most of a one-header extract.
    dotnet publish generator/src/IoUring.Abi.Cli -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true -o artifacts/cli -nologo -v quiet -clp:ErrorsOnly
    # ... and the NativeAOT build of the same sources, benchmarked beside it.
    dotnet publish generator/src/IoUring.Abi.Cli -c Release -r linux-x64 -p:NativeCli=true -o artifacts/cli-aot -nologo -v quiet -clp:ErrorsOnly
    artifacts/cli/io_uring-codegen headers fetch --locked
    bash generator/bench/extract-vs-bindgen.sh
    bash generator/bench/diff-vs-abidiff.sh
    # Every UAPI header of 6.12 and 7.2 (diff --all) vs a gcc + abidiff loop over the same headers.
    bash generator/bench/tree-diff-vs-abidiff.sh
    # NOP round trips: client ring on the live kernel and on the engine vs liburing, one process.
    dotnet build engine/bench/IoUring.Ring.Bench -c Release -nologo -v quiet -clp:ErrorsOnly
    dotnet run -c Release --no-build --project engine/bench/IoUring.Ring.Bench
    ;;
  mutation)
    # Every mutant of engine/src/IoUring.Engine is run against the replay of conformance/corpus and the
    # engine-only properties (the filter in engine/mutation/stryker-config.json); the HTML, JSON and
    # markdown reports land in engine/mutation/StrykerOutput/<time>/reports. docs/mutation.md is
    # written from them.
    need_packages "${FRONT_END[@]}" gcc
    dotnet tool restore >/dev/null
    dotnet build CodeGen.sln -nologo -v quiet -clp:ErrorsOnly
    cd engine/mutation
    dotnet dotnet-stryker --config-file stryker-config.json "${@:2}"
    ;;
  mutation-sample)
    # The whole run no longer fits an afternoon, so this one mutates only what lies wholly inside a
    # sample of code lines (engine/mutation/sample-lines.awk: seeded, the same lines on any machine).
    # A mutant that spans lines (a removed block) is never in the sample; the figure is for the rest.
    lines=${2:-150}
    seed=${3:-1}
    if ! [[ "$lines" =~ ^[1-9][0-9]*$ && "$seed" =~ ^[0-9]+$ ]]; then
      echo "mutation-sample: LINES must be a positive whole number and SEED a whole number (got '$lines' and '$seed'); e.g. ./make.sh mutation-sample 100 1208" >&2
      exit 2
    fi
    need_packages "${FRONT_END[@]}" gcc jq
    mapfile -t patterns < <(awk -v want="$lines" -v seed="$seed" -f engine/mutation/sample-lines.awk engine/src/IoUring.Engine/*.cs)
    # No pattern would let Stryker mutate the whole engine (days): refuse instead.
    if [ ${#patterns[@]} -eq 0 ]; then
      echo "mutation-sample: seed $seed took none of the engine's code lines; ask for more LINES or another SEED" >&2
      exit 1
    fi
    args=()
    for pattern in "${patterns[@]}"; do args+=(--mutate "$pattern"); done
    dotnet tool restore >/dev/null
    dotnet build CodeGen.sln -nologo -v quiet -clp:ErrorsOnly
    cd engine/mutation
    dotnet dotnet-stryker --config-file stryker-config.json "${args[@]}"
    report=$(ls -t StrykerOutput/*/reports/mutation-report.json | head -1)
    # Score as docs/mutation.md counts it, with a Wilson 95 % interval (the sample's mutants taken as
    # independent draws, which lines holding several mutants make a little optimistic).
    jq -r '[.files[].mutants[].status] | map(select(. == "Killed" or . == "Timeout" or . == "Survived" or . == "NoCoverage"))
           | "\(map(select(. == "Killed" or . == "Timeout")) | length) \(length) \(map(select(. == "Survived")) | length) \(map(select(. == "NoCoverage")) | length)"' "$report" |
      awk -v seed="$seed" -v report="$report" '{
        k = $1; n = $2; z = 1.96
        if (n == 0) { print "no mutant in the sample was judged"; exit 1 }
        p = k / n; d = 1 + z * z / n; c = (p + z * z / (2 * n)) / d; h = z * sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
        printf "mutation sample (seed %s): %d mutants judged, %d killed or timed out, %d survived, %d not covered: score %.1f %% (95 %% interval %.1f to %.1f %%)\nreport: engine/mutation/%s\n", seed, n, k, $3, $4, 100 * p, 100 * (c - h), 100 * (c + h), report
      }'
    ;;
  *)
    echo "usage: ./make.sh generate | test | matrix [matrix options] | matrix-shard KERNEL ARCH DIR [matrix options] | matrix-merge SHARD.json... -o DIR | pack | bench | mutation | mutation-sample [LINES] [SEED]" >&2
    exit 2
    ;;
esac
