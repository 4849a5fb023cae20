#!/usr/bin/env bash
# Restores everything and runs every test in the solution (Expecto model tests, xunit host tests).
# The last line is "N passed, N failed" summed over all test projects.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/restore.sh || { echo "0 passed, 1 failed"; exit 1; }
log="$(mktemp)"
dotnet test Raft.sln -c Release --nologo "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
# xunit (VSTest) lines:  "Passed!  - Failed:     0, Passed:    12, ..."; Expecto: "EXPECTO-SUMMARY passed=N failed=M"
read -r passed failed < <(awk '
  /EXPECTO-SUMMARY/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == "passed") p += kv[2]; if (kv[1] == "failed") f += kv[2] } }
  /(Passed|Failed)! +- +Failed:/ { gsub(",", ""); for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1) } }
  END { print p + 0, f + 0 }' "$log")
rm -f "$log"
if [[ $status -ne 0 && $failed -eq 0 ]]; then failed=1; fi
echo "${passed} passed, ${failed} failed"
exit $status
