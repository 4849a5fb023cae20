#!/usr/bin/env bash
# Restores tools and packages on a machine that has only the .NET SDK.
# The package feed is taken from the machine's own NuGet configuration (a user's mirror is respected).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
if [[ -z "${RAFT_NUGET_FEED:-}" ]]; then
  RAFT_NUGET_FEED="$(dotnet nuget list source --format short | awk '$1=="E"{print $2; exit}')"
  export RAFT_NUGET_FEED
fi
if grep -q '://' paket.lock paket.dependencies 2>/dev/null; then
  echo "paket.lock or paket.dependencies contains a registry address; put %RAFT_NUGET_FEED% back" >&2
  exit 1
fi
dotnet tool restore >/dev/null
dotnet paket restore
