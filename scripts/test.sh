#!/usr/bin/env bash
# `npm test`: every check CI runs. The mocha suite with coverage runs in one process; the docs' commands (test/docs/),
# which mostly wait on child processes in a scratch copy of the repository, and the deterministic-build check, which
# writes nothing, run beside it on the other core. The fork tests compile the production build into artifacts/, so
# they run after both. Each part's output is printed whole, and the first failure fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

npm run --silent typecheck
npm run --silent lint
hardhat test solidity

beside_log=$(mktemp -t devproof-test-beside.XXXXXX)
trap 'rm -f "$beside_log"' EXIT
(npm run --silent test:docs && npm run --silent test:build) >"$beside_log" 2>&1 &
beside=$!

coverage_status=0
npm run --silent coverage || coverage_status=$?
beside_status=0
wait "$beside" || beside_status=$?
echo
echo "── the docs' commands and the deterministic build (run beside the coverage run) ──"
cat "$beside_log"
if [ "$coverage_status" -ne 0 ] || [ "$beside_status" -ne 0 ]; then
  echo "test: failed (mocha with coverage: exit $coverage_status; docs and build: exit $beside_status)" >&2
  exit 1
fi

npm run test:fork-stand-in
