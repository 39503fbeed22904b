#!/usr/bin/env bash
# Runs the whole test suite and prints a summary: per-package results, the
# number of tests passed, failed and skipped, and why tests skipped.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
log=bin/test.log
go test -count=1 -timeout 20m -v "$@" ./... >"$log" 2>&1
status=$?
grep -E '^(FAIL|ok|\?|panic:)' "$log" | grep -v '^?' || true
echo
echo "== test summary =="
pass=$(grep -cE '^\s*--- PASS' "$log")
failn=$(grep -cE '^\s*--- FAIL' "$log")
skip=$(grep -cE '^\s*--- SKIP' "$log")
pkgok=$(grep -cE '^ok\s' "$log")
pkgfail=$(grep -cE '^FAIL\s' "$log")
echo "packages: $pkgok ok, $pkgfail failed; tests: $pass passed, $failn failed, $skip skipped"
if [ "$skip" -gt 0 ]; then
  echo "skipped:"
  grep -A1 -E '^\s*--- SKIP' "$log" | grep -vE '^(--|\s*--- SKIP)' | sed 's/^\s*/  /' | sort | uniq -c | head -20
fi
if [ "$status" -ne 0 ]; then
  echo "failures:"
  grep -E '^\s*--- FAIL|^FAIL|panic:' "$log" | head -40
  echo "(full log: $log)"
fi
exit $status
