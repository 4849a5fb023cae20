#!/usr/bin/env bash
# Re-resolves paket.lock until it stops changing (the first resolve against a cold cache can miss
# transitive dependencies), then puts the feed variable back so no registry address is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
RAFT_NUGET_FEED="${RAFT_NUGET_FEED:-$(dotnet nuget list source --format short | awk '$1=="E"{print $2; exit}')}"
export RAFT_NUGET_FEED
dotnet tool restore >/dev/null
previous=""
for attempt in 1 2 3 4; do
  dotnet paket update
  sed -i "s#${RAFT_NUGET_FEED}#%RAFT_NUGET_FEED%#g" paket.lock
  current="$(sha256sum paket.lock)"
  [[ "$current" == "$previous" ]] && break
  previous="$current"
done
! grep -q '://' paket.lock
