#!/usr/bin/env bash
# Runs the deterministic cluster simulator (examples/Raft.Simulator) after restoring; arguments go to it.
# Default: 5 nodes, 1000 seeds, 20000 steps each, every fault on. Long soak: scripts/simulate.sh --seeds 100000
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/restore.sh >/dev/null
args=("$@")
[[ ${#args[@]} -eq 0 ]] && args=(--nodes 5 --seeds 1000 --steps 20000)
exec dotnet run --project examples/Raft.Simulator -c Release -- "${args[@]}"
