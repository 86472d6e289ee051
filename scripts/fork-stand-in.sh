#!/usr/bin/env bash
# Runs the forked-mainnet tests (test/fork/) against a STAND-IN of dstack's KMS, so the forking code path runs where
# no Base RPC is reachable (CI): starts a local Hardhat node on a free port with config/fork.json's chain id and
# type, deploys KmsStandIn to it (scripts/fork-stand-in.ts), forks it from the tests (FORK_STAND_IN_RPC_URL), and
# always stops the node. `npm run test:fork-stand-in`; part of `npm test`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

now_ms() { node -e 'console.log(Date.now())'; }
started=$(now_ms)
step_started=$started
step() { # prints how long the previous step took
  local t
  t=$(now_ms)
  echo "fork-stand-in: $1 ($((t - step_started)) ms)"
  step_started=$t
}

port=$(node -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
url="http://127.0.0.1:$port"
chain_id=$(node -p 'require("./config/fork.json").chainId')
chain_type=$(node -p 'require("./config/fork.json").chainType')
log=$(mktemp -t fork-stand-in-node.XXXXXX)

hardhat node --hostname 127.0.0.1 --port "$port" --chain-id "$chain_id" --chain-type "$chain_type" >"$log" 2>&1 &
node_pid=$!
stop_node() {
  kill "$node_pid" 2>/dev/null || true
  wait "$node_pid" 2>/dev/null || true
  rm -f "$log"
}
trap stop_node EXIT
trap 'exit 130' INT TERM

# Wait (at most 30 s) until the node answers eth_chainId.
if ! node -e '
  const [url] = process.argv.slice(1);
  const deadline = Date.now() + 30_000;
  const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] });
  (async () => {
    while (Date.now() < deadline) {
      try {
        const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
        if (res.ok) process.exit(0);
      } catch {}
      await new Promise((r) => setTimeout(r, 200));
    }
    process.exit(1);
  })();' "$url"; then
  echo "fork-stand-in: the node at $url did not start; its output:" >&2
  cat "$log" >&2
  exit 1
fi
step "STAND-IN node up at $url (chain $chain_id, $chain_type)"

# The production build of the contracts, as deploy-app builds and deploys it (npm test's deploy-app tests leave it
# built). `hardhat run` and `hardhat test` would also build the Solidity tests, in that profile: --no-compile.
hardhat build --build-profile production --no-tests --quiet
step "production build of the contracts"

LOCAL_RPC_URL="$url" hardhat run --build-profile production --no-compile --network localhost scripts/fork-stand-in.ts
step "KmsStandIn deployed"

FORK_STAND_IN_RPC_URL="$url" hardhat test mocha --build-profile production --no-compile test/fork/kms.fork.test.ts
step "fork tests run against the STAND-IN"

echo "fork-stand-in: done in $(($(now_ms) - started)) ms; node stopped"
