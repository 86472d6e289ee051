#!/usr/bin/env bash
# `npm test`: every check CI runs, in three lanes that keep both cores busy.
#   1. From the start: the mocha tests that run the contracts in the test process, with coverage, which must reach
#      every line of the two product contracts (scripts/check-coverage.ts). Coverage builds instrumented contracts
#      into artifacts/, so this lane runs in a scratch copy of the checkout; its report is copied back to coverage/.
#   Beside it, in the checkout: the type check, the linter and the Solidity tests. Once they pass:
#   2. the deterministic-build check, then the mocha tests of CHECKOUT_TESTS below, without coverage, then the fork
#      tests against a stand-in, which find the contracts' production build those tests leave (in this order, the
#      checkout builds the default profile once and the production profile once);
#   3. the docs' commands (test/docs/), which run in a scratch copy of their own.
# Each lane stops at its first failing step and its output is printed whole; every step says how long it took, and
# the last line names each part that failed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

# Mocha files that run in the checkout, without coverage: the tests that drive the product in child processes (the
# demo, the CLI, the guest agent's process, the status page in Chromium), whose contracts run where coverage is not
# counted, and deploy-app's in-process tests, which stamp the record with the checkout's git commit. None of them is
# needed for the coverage check (which fails if that changes). The two deploy-app files come last: they build the
# production profile, which the fork tests then find already built.
CHECKOUT_TESTS=(
  test/scripts/demo.test.ts
  test/web/status-page.test.ts
  test/guest/agent.e2e.ts
  test/guest/agent.lying.e2e.ts
  test/guest/agent.tls.e2e.ts
  test/guest/replicator.e2e.ts
  test/guest/packaging.test.ts
  test/tasks/cli-options.test.ts
  test/tasks/base-network.test.ts
  test/tasks/deploy-app-cli.test.ts
  test/tasks/deploy-app-task.test.ts
)
# Run by their own npm scripts (under coverage they skip).
OWN_SCRIPT_TESTS=(test/docs/commands.test.ts test/build/deterministic-build.test.ts)

for file in "${CHECKOUT_TESTS[@]}" "${OWN_SCRIPT_TESTS[@]}"; do
  [ -f "$file" ] || { echo "test: scripts/test.sh lists $file, which does not exist" >&2; exit 1; }
done
# The coverage run's files: every file `hardhat test mocha` would run (any .ts or .js under test/) but those above.
mapfile -t COVERAGE_TESTS < <(
  find test -type f -regex '.*\.[cm]?[jt]s' | LC_ALL=C sort |
    grep -vxF -f <(printf '%s\n' "${CHECKOUT_TESTS[@]}" "${OWN_SCRIPT_TESTS[@]}")
)

work=$(mktemp -d -t devproof-test.XXXXXX)
lane_pids=()
stop_lanes() {
  # Each lane is a process group of its own (set -m below): stop those still running, with their children.
  for pid in "${lane_pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap stop_lanes EXIT
trap 'exit 130' INT TERM

# step NAME COMMAND…: runs one part, then says whether it passed and how long it took.
step() {
  local name=$1 started=$SECONDS status=0
  shift
  "$@" || status=$?
  if [ "$status" -eq 0 ]; then
    echo "test: $name passed in $((SECONDS - started)) s"
  else
    echo "test: $name FAILED (exit $status) after $((SECONDS - started)) s"
  fi
  return "$status"
}

coverage_lane() {
  local copy="$work/checkout"
  mkdir "$copy"
  # The checkout's tracked and new files, without its build output; the installed dependencies linked in.
  git ls-files -z --cached --others --exclude-standard |
    tar --null --ignore-failed-read --files-from=- -cf - 2>/dev/null | tar -xf - -C "$copy"
  ln -s "$PWD/node_modules" "$copy/node_modules"
  (cd "$copy" &&
    step "mocha with coverage (${#COVERAGE_TESTS[@]} files)" hardhat test mocha --coverage "${COVERAGE_TESTS[@]}") &&
    (cd "$copy" && step "the coverage check" node scripts/check-coverage.ts) &&
    rm -rf coverage && cp -R "$copy/coverage" coverage
}

checkout_lane() {
  step "the deterministic build" npm run --silent test:build &&
    step "mocha without coverage (${#CHECKOUT_TESTS[@]} files)" hardhat test mocha "${CHECKOUT_TESTS[@]}" &&
    step "the fork tests against the stand-in" npm run test:fork-stand-in
}

# The docs' test builds in a scratch copy of its own; the checkout was compiled by the type check, and compiling it
# again here would race the checkout lane's build for the same compile cache file.
docs_lane() {
  step "the docs' commands" hardhat test mocha --no-compile test/docs/commands.test.ts
}

COVERAGE_LANE="mocha with coverage (in a scratch copy)"
CHECKOUT_LANE="deterministic build, mocha without coverage, fork tests"
DOCS_LANE="the docs' commands"
declare -A lane_pid
set -m
# start_lane NAME FUNCTION: runs FUNCTION in the background, its output kept in a file until finish_lane prints it.
start_lane() {
  "$2" >"$work/$1.log" 2>&1 &
  lane_pid[$1]=$!
  lane_pids+=("$!")
}
failed=()
# finish_lane NAME: waits for the lane, prints its output whole and notes whether it failed.
finish_lane() {
  local status=0
  wait "${lane_pid[$1]}" || status=$?
  echo
  echo "── $1 ──"
  cat "$work/$1.log"
  if [ "$status" -ne 0 ]; then
    local failed_step
    failed_step=$(grep '^test: .* FAILED' "$work/$1.log" | tail -n 1 | sed 's/^test: //') || true
    failed+=("$1${failed_step:+ ($failed_step)}")
  fi
}

start_lane "$COVERAGE_LANE" coverage_lane

if ! { step "typecheck" npm run --silent typecheck && step "lint" npm run --silent lint &&
  step "the Solidity tests" hardhat test solidity; }; then
  echo "test: failed: the type check, the linter or the Solidity tests (above); the coverage run was stopped" >&2
  exit 1
fi

start_lane "$CHECKOUT_LANE" checkout_lane
start_lane "$DOCS_LANE" docs_lane
for lane in "$COVERAGE_LANE" "$CHECKOUT_LANE" "$DOCS_LANE"; do finish_lane "$lane"; done

echo
if [ "${#failed[@]}" -ne 0 ]; then
  printf 'test: failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "test: every part passed"
