import { createRequire } from "node:module";

import hardhatToolboxMochaEthers from "@nomicfoundation/hardhat-toolbox-mocha-ethers";
import "dotenv/config";
import { configVariable, defineConfig } from "hardhat/config";

import { tasks } from "./tasks/index.js";
import devproofPlugin from "./tasks/shared/plugin.js";

// The compiler comes from the `solc` npm package pinned in package.json (and locked, with its integrity hash, in
// package-lock.json): no download at build time, and the same compiler for everyone who rebuilds the bytecode.
const require = createRequire(import.meta.url);
const SOLC_VERSION = "0.8.28";
const solcPath = require.resolve("solc/soljson.js");
/** The compiler settings of what is deployed (the `production` build profile). */
const PRODUCTION = { optimizer: { enabled: true, runs: 200 }, evmVersion: "cancun" };
/** Adds each contract's storage layout to the build output (Hardhat's own output selection is kept beside it). */
const STORAGE_LAYOUT = { "*": { "*": ["storageLayout"] } };

// How long a request to a remote RPC endpoint may take before the task says the endpoint did not answer. Hardhat's
// default (300 s) makes a silent endpoint look like a hang; the calls these tasks make are small, and a working
// endpoint answers them in seconds.
const RPC_TIMEOUT_MS = 30_000;

export default defineConfig({
  // devproofPlugin comes last: its hooks wrap the toolbox's (one line for a failing RPC endpoint, no silent
  // keystore prompt without a terminal; see tasks/shared/plugin.ts).
  plugins: [hardhatToolboxMochaEthers, devproofPlugin],
  tasks,
  // The examples' contracts build with the project's, against its contracts and libraries (examples/oracle/).
  paths: { sources: ["contracts", "examples/oracle/contracts"] },
  solidity: {
    // OpenZeppelin's TimelockController is built too: the gas benchmark (scripts/bench/) measures the stock-style
    // baseline behind it, the usual way to put a notice period in front of an instantly changeable contract. Its
    // ERC1967Proxy holds the upgradeable baseline, as dstack deploys its DstackApp.
    npmFilesToBuild: [
      "@openzeppelin/contracts/governance/TimelockController.sol",
      "@openzeppelin/contracts/proxy/ERC1967/ERC1967Proxy.sol",
    ],
    profiles: {
      default: {
        // The storage layout is in the default build's output: the guest agent reads TimelockedAppAuth's storage
        // through proofs, and test/lib/verified-layout.test.ts checks its slot definitions against this layout.
        compilers: [{ version: SOLC_VERSION, path: solcPath, settings: { outputSelection: STORAGE_LAYOUT } }],
        // Unoptimized, ReplicationRegistry's bytecode (its signature-chain verifier and its ABI coders) is over the
        // 24,576-byte limit of EIP-170 that the local chain enforces, while the production build is about 16 KB. So
        // the tests deploy it as production builds it; Solidity tests that import it compile it unoptimized, which
        // their runner accepts (the compiler warns about the size there). TimelockedAppAuth too: its packed words
        // (read and written as structs) make about 34 KB of unoptimized code.
        overrides: {
          "contracts/ReplicationRegistry.sol": {
            version: SOLC_VERSION,
            path: solcPath,
            settings: { ...PRODUCTION, outputSelection: STORAGE_LAYOUT },
          },
          "contracts/TimelockedAppAuth.sol": {
            version: SOLC_VERSION,
            path: solcPath,
            settings: { ...PRODUCTION, outputSelection: STORAGE_LAYOUT },
          },
        },
      },
      production: { version: SOLC_VERSION, path: solcPath, settings: PRODUCTION },
    },
  },
  test: {
    solidity: {
      // A fixed seed makes every fuzz and invariant failure replay exactly.
      fuzz: { runs: 1000, seed: "0x5eed" },
      // Each invariant_ function gets its own campaign of runs x depth handler calls: 128 x 100 keeps
      // `hardhat test solidity` around 40 s on a 2-core machine while most runs reach activations.
      invariant: { runs: 128, depth: 100 },
    },
  },
  networks: {
    default: {
      type: "edr-simulated",
      // Set, so that `--coverage` keeps it (it lifts an unset limit, and then its blocks report a gas limit below the
      // gas their instrumented deployments use: headers no real chain makes, which the verified reads refuse).
      blockGasLimit: 100_000_000,
    },
    node: {
      type: "edr-simulated",
      // `npx hardhat node`. The tests that start one under `hardhat test --coverage` deploy instrumented contracts,
      // which can exceed EIP-170's 24,576 bytes (the in-process coverage network lifts the limit the same way);
      // test/helpers/cli.ts sets this variable only then. The deterministic-build test checks the real sizes.
      allowUnlimitedContractSize: process.env.DEVPROOF_NODE_INSTRUMENTED_CONTRACTS === "1",
    },
    localhost: {
      type: "http",
      chainType: "l1",
      // A `npx hardhat node` on this machine; LOCAL_RPC_URL points it elsewhere (e.g. another port in tests).
      url: process.env.LOCAL_RPC_URL ?? "http://127.0.0.1:8545",
    },
    base: {
      type: "http",
      chainType: "op",
      chainId: 8453,
      url: configVariable("BASE_RPC_URL"),
      timeout: RPC_TIMEOUT_MS,
      // Resolved only by tasks that send: read-only tasks connect without accounts (tasks/shared/session.ts).
      accounts: [configVariable("DEPLOYER_PRIVATE_KEY")],
    },
    baseSepolia: {
      type: "http",
      chainType: "op",
      chainId: 84532,
      url: configVariable("BASE_SEPOLIA_RPC_URL"),
      timeout: RPC_TIMEOUT_MS,
      accounts: [configVariable("DEPLOYER_PRIVATE_KEY")],
    },
  },
  verify: {
    etherscan: { apiKey: configVariable("ETHERSCAN_API_KEY") },
  },
  chainDescriptors: {
    // Base's hardfork activations (the OP Stack's, from Base's node), so that a fork of Base (test/fork/) can execute
    // calls at blocks it fetched from the RPC. Jovian (1764691201) is newer than what Hardhat's EDR runs: forks after
    // it execute with Isthmus rules, which makes no difference to these contracts.
    8453: {
      name: "Base",
      chainType: "op",
      hardforkHistory: {
        bedrock: { blockNumber: 0 },
        regolith: { timestamp: 0 },
        canyon: { timestamp: 1_704_992_401 },
        ecotone: { timestamp: 1_710_374_401 },
        fjord: { timestamp: 1_720_627_201 },
        granite: { timestamp: 1_726_070_401 },
        holocene: { timestamp: 1_736_445_601 },
        isthmus: { timestamp: 1_746_806_401 },
      },
    },
  },
});
