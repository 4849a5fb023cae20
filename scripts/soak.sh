#!/usr/bin/env bash
# Soaks the simulator on fresh seeds: `--everything` (every fault, membership changes, transfers, snapshots, reads
# checked for linearizability) on each cluster size, from a random first seed that is printed so every failure
# replays (the simulator prints the replay command of each violation).
#
#   scripts/soak.sh --seeds 2000                  2000 seeds on each of 3, 5 and 7 nodes
#   scripts/soak.sh --minutes 30 --nodes "5"      as many 5-node seeds as fit in 30 minutes
#   scripts/soak.sh --seeds 500 --first-seed 42 -- --reconfig 0.1   fixed range; simulator flags after --
#
# Exit code 1 when any seed violates an invariant; the last line is "soak: N seeds, V violations".
set -euo pipefail
cd "$(dirname "$0")/.."

seeds=""
minutes=""
nodes="3 5 7"
first=""
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seeds) seeds="$2"; shift 2 ;;
    --minutes) minutes="$2"; shift 2 ;;
    --nodes) nodes="$2"; shift 2 ;;
    --first-seed) first="$2"; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "soak.sh: unknown option '$1' (expected --seeds N, --minutes M, --nodes \"3 5 7\", --first-seed S, -- simulator flags)" >&2; exit 2 ;;
  esac
done
if [[ -z "$seeds" && -z "$minutes" ]]; then seeds=1000; fi
if [[ -n "$seeds" && -n "$minutes" ]]; then echo "soak.sh: give --seeds or --minutes, not both" >&2; exit 2; fi
# A random first seed below 2^48, far from the fixed ranges of the test suite (which stay below 10^6).
if [[ -z "$first" ]]; then first=$(( ($(od -An -N6 -tu8 /dev/urandom | tr -d ' ') % 281474976710656) + 1000000 )); fi

bash scripts/restore.sh >/dev/null
dotnet build examples/Raft.Simulator -c Release --nologo -v quiet >/dev/null
sim=(dotnet examples/Raft.Simulator/bin/Release/net10.0/Raft.Simulator.dll)

total=0
violations=0
run() { # nodes first count
  local out
  echo "soak: --everything --nodes $1 --first-seed $2 --seeds $3 ${extra[*]}"
  if out=$("${sim[@]}" --everything --nodes "$1" --first-seed "$2" --seeds "$3" "${extra[@]}"); then :; fi
  grep -v '^$' <<<"$out" | grep -v '^[0-9]* seeds,' || true
  local line; line=$(tail -1 <<<"$out")
  echo "  $line"
  [[ "$line" =~ ^([0-9]+)\ seeds,.*\ ([0-9]+)\ violations$ ]] || { echo "soak: the simulator printed no totals line" >&2; exit 2; }
  total=$(( total + BASH_REMATCH[1] ))
  violations=$(( violations + BASH_REMATCH[2] ))
}

echo "soak: first seed $first"
if [[ -n "$seeds" ]]; then
  for n in $nodes; do run "$n" "$first" "$seeds"; done
else
  deadline=$(( $(date +%s) + minutes * 60 ))
  next=$first
  while [[ $(date +%s) -lt $deadline ]]; do
    for n in $nodes; do
      [[ $(date +%s) -lt $deadline ]] || break
      run "$n" "$next" 200
    done
    next=$(( next + 200 ))
  done
fi
echo "soak: $total seeds, $violations violations"
[[ $violations -eq 0 ]]
