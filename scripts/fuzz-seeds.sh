#!/usr/bin/env bash
# Regenerates the seed corpus of every fuzz target (tests/Raft.Fuzz/corpus/TARGET/seed-*): small valid inputs written
# by the library's own writers, each checked by the harness as it is written. Hand-made edge cases (edge-*) and
# regression inputs (regressions/) are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build tests/Raft.Fuzz -c Release --nologo -v q --disable-build-servers | { grep -E "error|Warn" || true; }
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
dotnet tests/Raft.Fuzz/bin/Release/net10.0/Raft.Fuzz.dll --seeds "$out"
for dir in "$out"/*/; do
  target="$(basename "$dir")"
  mkdir -p "tests/Raft.Fuzz/corpus/$target"
  rm -f "tests/Raft.Fuzz/corpus/$target"/seed-*
  for f in "$dir"*; do cp "$f" "tests/Raft.Fuzz/corpus/$target/seed-$(basename "$f")"; done
done
