import type { HardhatEthers, HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/types";
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import type { NetworkConnection } from "hardhat/types/network";

import { connectAppAuth, encodeCall, type ContractCall } from "../../lib/appAuth.js";
import { UserError } from "../../lib/errors.js";
import { parseAddress, requireOption } from "../../lib/validate.js";
import { RpcEndpointError } from "./plugin-errors.js";
import { endpointOf, wrongChainMessage } from "./rpc.js";
import type { TimelockedAppAuth } from "../../types/ethers-contracts/index.js";

/** A connection to the network chosen with `--network`, and the account that will send (if any). */
export interface NetworkSession {
  connection: NetworkConnection;
  ethers: HardhatEthers;
  chainId: bigint;
  /** `network "localhost" (chain 31337)`, for messages. */
  where: string;
  networkName: string;
  signer: HardhatEthersSigner | undefined;
}

/** A checked connection to one app's TimelockedAppAuth, and the account that will send (if any). */
export interface AppSession extends NetworkSession {
  address: string;
  /** Connected to {@link signer} when there is one, else read-only. */
  appAuth: TimelockedAppAuth;
}

/** The options every app task takes, as the CLI passes them. */
export interface AppOptions {
  app?: string | undefined;
  from?: string | undefined;
}

export interface ParsedAppOptions {
  address: string;
  from: string | undefined;
}

/** Validates `--app` and `--from` without touching the network, so bad input fails before anything else. */
export function parseAppOptions(options: AppOptions): ParsedAppOptions {
  return {
    address: parseAddress("app", requireOption("app", options.app, "the address of the app's TimelockedAppAuth")),
    from: options.from === undefined ? undefined : parseAddress("from", options.from),
  };
}

/**
 * Connects to the network chosen with `--network`, checks that its endpoint serves the configured chain, and picks
 * the signer when the task sends.
 *
 * A task that sends uses `hre.network.getOrCreate()`: the connection the rest of the process shares, so tests that
 * run tasks in-process and the tasks themselves see the same chain. A read-only task on an HTTP network connects
 * without accounts: Hardhat resolves a network's `accounts` (its `configVariable`s: env, or the keystore and its
 * password prompt) on the first request of a connection, whatever the request, so a read-only task on a connection
 * with accounts would demand `DEPLOYER_PRIVATE_KEY`.
 * @param withSigner whether the task sends a transaction; then the signer is `--from`, or the first account.
 */
export async function openNetwork(
  hre: HardhatRuntimeEnvironment,
  from: string | undefined,
  withSigner: boolean,
): Promise<NetworkSession> {
  const connection = withSigner ? await hre.network.getOrCreate() : await readOnlyConnection(hre);
  const { ethers } = connection;
  const { chainId } = await ethers.provider.getNetwork();
  const where = `network "${connection.networkName}" (chain ${chainId})`;
  const expected = connection.networkConfig.chainId;
  if (expected !== undefined && BigInt(expected) !== chainId) {
    const endpoint = await endpointOf(connection.networkName, connection.networkConfig);
    if (endpoint !== undefined) throw new RpcEndpointError(wrongChainMessage(endpoint, expected, chainId));
  }

  let signer: HardhatEthersSigner | undefined;
  if (withSigner) {
    const signers = await ethers.getSigners();
    if (signers.length === 0) {
      throw new UserError(`${where} has no account to send from: configure accounts for it in hardhat.config.ts`);
    }
    signer = from === undefined ? signers[0] : signers.find((s) => s.address.toLowerCase() === from.toLowerCase());
    if (signer === undefined) {
      throw new UserError(
        `--from ${from} is not an account of ${where}; its accounts are ${signers.map((s) => s.address).join(", ")}`,
      );
    }
  }
  return { connection, ethers, chainId, where, networkName: connection.networkName, signer };
}

/** One account-less connection per runtime environment and network (Hardhat's in-process chain: the shared one). */
const readOnlyConnections = new WeakMap<HardhatRuntimeEnvironment, Map<string, Promise<NetworkConnection>>>();

async function readOnlyConnection(hre: HardhatRuntimeEnvironment): Promise<NetworkConnection> {
  // Hardhat connects to the network named "default" when no --network is given.
  const name = hre.globalOptions.network ?? "default";
  if (hre.config.networks[name]?.type !== "http") return await hre.network.getOrCreate();
  let connections = readOnlyConnections.get(hre);
  if (connections === undefined) readOnlyConnections.set(hre, (connections = new Map()));
  let connection = connections.get(name);
  if (connection === undefined) {
    connection = hre.network.create({ network: name, override: { accounts: [] } });
    connections.set(name, connection);
    connection.catch(() => connections.delete(name));
  }
  return await connection;
}

/**
 * Connects to the app after checking it is a TimelockedAppAuth (see {@link openNetwork} for the connection).
 * @param withSigner whether the task sends a transaction; then the signer is `--from`, or the first account.
 */
export async function openApp(
  hre: HardhatRuntimeEnvironment,
  { address, from }: ParsedAppOptions,
  withSigner: boolean,
): Promise<AppSession> {
  const network = await openNetwork(hre, from, withSigner);
  const appAuth = await connectAppAuth(address, network.signer ?? network.ethers.provider, network.where);
  return { ...network, address, appAuth };
}

/** The session's signer; only for tasks opened with `withSigner`. */
export function signerOf(session: NetworkSession): HardhatEthersSigner {
  if (session.signer === undefined) throw new Error("this task was opened without a signer");
  return session.signer;
}

/** A call already encoded for its target: what a multisig owner submits. */
export interface EncodedCall {
  to: string;
  data: string;
}

/**
 * Refuses before sending when the signer is not the owner. When the owner is a contract (a multisig), says what to
 * submit through it instead: `call` on the AppAuth, or an {@link EncodedCall} to another contract that checks the
 * AppAuth's owner (the ReplicationRegistry's `setGenesis` and `evict`).
 */
export async function requireOwner(session: AppSession, call: ContractCall | EncodedCall, what: string): Promise<void> {
  const signer = signerOf(session);
  const owner = await session.appAuth.owner();
  if (owner.toLowerCase() === signer.address.toLowerCase()) return;
  const target = "method" in call ? { to: session.address, data: encodeCall(call) } : call;
  const ownerIsContract = (await session.ethers.provider.getCode(owner)) !== "0x";
  const hint = ownerIsContract
    ? `the owner is a contract (a multisig?): submit a call to ${target.to} with data ${target.data} through it`
    : "send from the owner's account (--from <owner>, or the owner's key in the network's accounts)";
  throw new UserError(`only the owner can ${what}: the signer is ${signer.address} but the owner is ${owner}; ${hint}`);
}

/** Prints which contract, network and account a task is about to use. */
export function printSessionHeader(session: AppSession): void {
  console.log(`TimelockedAppAuth ${session.address} on ${session.where}`);
  if (session.signer !== undefined) console.log(`Sending from ${session.signer.address}`);
}
