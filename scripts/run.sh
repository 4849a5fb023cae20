#!/usr/bin/env bash
# The main job: restores everything, then runs a 3-node Raft cluster on 127.0.0.1 (examples/Raft.Worker) that
# elects a leader, replicates commands and prints progress. Extra arguments go to the worker (e.g. --count 0
# to run until Ctrl+C).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/restore.sh >/dev/null
args=("$@")
[[ ${#args[@]} -eq 0 ]] && args=(--count 5000)
exec dotnet run --project examples/Raft.Worker -c Release -- "${args[@]}"
