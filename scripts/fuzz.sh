#!/usr/bin/env bash
# Runs every Go fuzz target of the module for the given time each.
# Usage: scripts/fuzz.sh 3s
#
# A target fails when the fuzzer finds an input that fails (it writes it to
# testdata/fuzz/...). Go's fuzzing coordinator sometimes ends a very short
# run with "context deadline exceeded" while a worker is still minimizing a
# new coverage input; that is not a finding, so it is retried once and then
# reported as a warning.
set -uo pipefail
t=${1:-3s}
cd "$(dirname "$0")/.."
n=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
while IFS= read -r line; do
  file=${line%%:*}
  fn=$(sed -E 's/^.*func (Fuzz[A-Za-z0-9_]+).*/\1/' <<<"${line#*:}")
  pkg=./$(dirname "$file")
  for attempt in 1 2; do
    echo "fuzz $pkg $fn ($t)"
    if go test -run '^$' -fuzz "^${fn}\$" -fuzztime "$t" -fuzzminimizetime 1s "$pkg" >"$log" 2>&1; then
      break
    fi
    if grep -q "Failing input written" "$log" || ! grep -q "context deadline exceeded" "$log"; then
      cat "$log"
      exit 1
    fi
    if [ "$attempt" = 2 ]; then
      echo "warning: $pkg $fn: the fuzzing coordinator timed out twice without a finding"
    fi
  done
  n=$((n+1))
done < <(grep -rn --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' . | sort)
echo "fuzz targets run: $n"
