#!/usr/bin/env bash
# Fuzzes one target of the harness (tests/Raft.Fuzz) with afl-fuzz: builds the harness, instruments its copy of
# Raft.dll with sharpfuzz, and runs afl-fuzz on the target's corpus for SECONDS (default 300). Prints executions,
# crashes and hangs at the end, and where the crashing inputs are. One afl-fuzz at a time on a small machine.
#   scripts/fuzz.sh TARGET [SECONDS]        TARGET: frame handshake codec segment sharedlog receiving hardstate
# Environment: FUZZ_WORK (default artifacts/fuzz): where the instrumented build and findings go.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
target="${1:?usage: scripts/fuzz.sh TARGET [SECONDS]}"
seconds="${2:-300}"
corpus="tests/Raft.Fuzz/corpus/$target"
[[ -d "$corpus" ]] || { echo "no corpus for target '$target' ($corpus); targets: $(ls tests/Raft.Fuzz/corpus | tr '\n' ' ')" >&2; exit 2; }
if ! command -v afl-fuzz >/dev/null; then
  echo "afl-fuzz not found: install AFL++ with 'apt-get install -y afl++' (Debian/Ubuntu), then run this again" >&2
  exit 1
fi
work="${FUZZ_WORK:-$root/artifacts/fuzz}/$target"
rm -rf "$work"
mkdir -p "$work/in"

dotnet tool restore >/dev/null
dotnet build tests/Raft.Fuzz -c Release --nologo -v q --disable-build-servers | { grep -E "error|Warn" || true; }
cp -r tests/Raft.Fuzz/bin/Release/net10.0 "$work/bin"
# Only the library is instrumented: coverage of the parsers, not of the harness or the runtime.
dotnet sharpfuzz "$work/bin/Raft.dll" >/dev/null
# Seeds, edge cases and regressions, flat (afl-fuzz reads one directory).
find "$corpus" -type f | while read -r f; do cp "$f" "$work/in/$(echo "${f#"$corpus"/}" | tr '/' '_')"; done

# The runtime is not an AFL-compiled binary, crashes are .NET exceptions (not core dumps), and the GC heap is capped
# so an unbounded allocation fails as an OutOfMemoryException (a crash) instead of swapping the machine.
export AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1
export DOTNET_GCHeapHardLimit=0x40000000 DOTNET_TieredPGO=0 DOTNET_CLI_TELEMETRY_OPTOUT=1
echo "fuzzing '$target' for ${seconds}s (load before: $(cut -d' ' -f1-3 /proc/loadavg))"
afl-fuzz -i "$work/in" -o "$work/out" -t 10000 -m none -V "$seconds" -- dotnet "$work/bin/Raft.Fuzz.dll" "$target" >"$work/afl.log" 2>&1 || {
  echo "afl-fuzz failed; its log ($work/afl.log) ends:" >&2; tail -20 "$work/afl.log" >&2; exit 1; }

stats="$work/out/default/fuzzer_stats"
stat() { awk -F' *: *' -v k="$1" '$1==k {print $2}' "$stats"; }
crashes="$(stat saved_crashes)"; hangs="$(stat saved_hangs)"
echo "target=$target seconds=$(stat run_time) execs=$(stat execs_done) execs_per_sec=$(stat execs_per_sec) corpus=$(stat corpus_count) crashes=${crashes:-0} hangs=${hangs:-0} (load after: $(cut -d' ' -f1-3 /proc/loadavg))"
if [[ "${crashes:-0}" != 0 || "${hangs:-0}" != 0 ]]; then
  echo "crashing inputs: $work/out/default/crashes/  hangs: $work/out/default/hangs/"
  echo "replay one: dotnet tests/Raft.Fuzz/bin/Release/net10.0/Raft.Fuzz.dll $target FILE"
fi
