/**
 * Reading contract storage that no single endpoint can lie about: the header comes from a {@link HeaderSource} (a
 * quorum of endpoints, or a light client), and every value from an `eth_getProof` answer checked against that
 * header's state root. Any endpoint may serve the proof, since a proof either verifies or is refused: the endpoints
 * are tried in order and the first proof that verifies is used; every refused one is reported.
 *
 * This is the API the guest agent's loops (the reconciler now, the replicator next) and `watch --verify-rpc` share:
 *
 *   const reader = new VerifiedChainReader(headers, clients, { onLie });
 *   const { header } = await reader.confirmedHeader(3);
 *   const { slots } = await reader.readStorage(address, [slot1, slot2], header);
 */
import { keccak256 } from "ethers";

import type { VerifiedHeader } from "./header.js";
import { HeaderUnverifiedError, type EndpointReport, type HeaderEvidence, type HeaderSource } from "./headers.js";
import { ProofError, slotHex, verifyProofAnswer, type ProvenStorage } from "./proof.js";
import type { LogSource } from "../release.js";
import { rpcLogSource, type RpcClient } from "./rpc.js";

/** No endpoint gave a proof that verifies; the message names what each one did. */
export class ProofUnavailableError extends Error {
  override name = "ProofUnavailableError";

  constructor(
    message: string,
    readonly problems: Array<{ endpoint: string; problem: string; lie: boolean }>,
  ) {
    super(message);
  }
}

export interface VerifiedChainReaderOptions {
  /** Called for every proof that did not verify against the header (an endpoint that lied, or a broken one). */
  onRefusedProof?: (endpoint: string, problem: string) => void;
}

export class VerifiedChainReader {
  constructor(
    readonly headers: HeaderSource,
    private readonly clients: readonly RpcClient[],
    private readonly options: VerifiedChainReaderOptions = {},
  ) {
    if (clients.length === 0) throw new Error("a verified reader needs at least one endpoint to ask for proofs");
  }

  /** The verified header `confirmations` below the head, with who vouched for it. */
  confirmedHeader(confirmations: number): Promise<HeaderEvidence> {
    return this.headers.confirmedHeader(confirmations);
  }

  /** The verified header at `height`. */
  verifiedHeader(height: number): Promise<HeaderEvidence> {
    return this.headers.verifiedHeader(height);
  }

  /**
   * The account at `address` and the values of `slots` in its storage, proven against `at` (a verified header, or a
   * height whose header is verified first). Throws {@link ProofUnavailableError} when no endpoint's proof verifies.
   */
  async readStorage(address: string, slots: readonly bigint[], at: VerifiedHeader | number): Promise<ProvenStorage> {
    const header = typeof at === "number" ? (await this.verifiedHeader(at)).header : at;
    const unique = [...new Set(slots)];
    const problems: Array<{ endpoint: string; problem: string; lie: boolean }> = [];
    for (const client of this.clients) {
      let answer: unknown;
      try {
        answer = await client.request("eth_getProof", [
          address,
          unique.map(slotHex),
          `0x${header.number.toString(16)}`,
        ]);
      } catch (error) {
        problems.push({ endpoint: client.shown, problem: messageOf(error), lie: false });
        continue;
      }
      try {
        return await verifyProofAnswer(header.stateRoot, address, unique, answer);
      } catch (error) {
        const problem = `its proof for ${address} at block ${header.number} does not verify: ${messageOf(error)}`;
        problems.push({ endpoint: client.shown, problem, lie: error instanceof ProofError });
        this.options.onRefusedProof?.(client.shown, problem);
      }
    }
    throw new ProofUnavailableError(
      `no RPC endpoint gave a proof of ${address} at block ${header.number} that verifies against state root ` +
        `${header.stateRoot}: ${problems.map((p) => `${p.endpoint}: ${p.problem}`).join("; ")}`,
      problems,
    );
  }

  /**
   * One log source per endpoint, in order. Logs are not proven: a reader holds each answer to proven storage and asks
   * the next endpoint when it does not match (lib/verified/timelockedAppAuth.ts reads a compose URI so).
   */
  logSources(): LogSource[] {
    return this.clients.map(rpcLogSource);
  }

  /** The account at `address` (its code hash, storage root), proven against `at`. */
  async readAccount(address: string, at: VerifiedHeader | number): Promise<ProvenStorage["account"]> {
    return (await this.readStorage(address, [], at)).account;
  }

  /** The code at `address`, checked against its proven code hash. */
  async readCode(address: string, at: VerifiedHeader | number): Promise<string> {
    const header = typeof at === "number" ? (await this.verifiedHeader(at)).header : at;
    const account = await this.readAccount(address, header);
    const problems: string[] = [];
    for (const client of this.clients) {
      try {
        const code = await client.request("eth_getCode", [address, `0x${header.number.toString(16)}`]);
        if (typeof code === "string" && /^0x([0-9a-fA-F]{2})*$/.test(code) && keccak256(code) === account.codeHash)
          return code;
        problems.push(`${client.shown}: its code does not hash to the proven code hash`);
      } catch (error) {
        problems.push(`${client.shown}: ${messageOf(error)}`);
      }
    }
    throw new ProofUnavailableError(`no RPC endpoint gave the code of ${address}: ${problems.join("; ")}`, []);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Where a loop that acts only on verified reads stands, as it logs it and shows it on `/status`: `verified` (every
 * endpoint agreed), `outvoted` (a quorum agreed; the others are named), `too-few`, `disagree` or `proof-refused`
 * (nothing was decided).
 */
export interface Verification {
  state: "verified" | "outvoted" | "too-few" | "disagree" | "proof-refused";
  /** The state and who dissented how, without the numbers that change every block: a new key is a new log line. */
  key: string;
  since: string;
  message: string;
  reports: EndpointReport[];
  refusedProofs: Array<{ endpoint: string; problem: string }>;
}

/**
 * Why a verified read gave no view, from the error it threw: the endpoints disagree or too few answered (with what
 * each said), or no proof verified (with each endpoint's problem). Undefined for any other error.
 */
export function unverifiedStateOf(
  error: unknown,
): Pick<Verification, "state" | "reports" | "refusedProofs"> | undefined {
  if (error instanceof HeaderUnverifiedError) {
    return { state: error.kind === "disagree" ? "disagree" : "too-few", reports: error.reports, refusedProofs: [] };
  }
  if (error instanceof ProofUnavailableError) {
    return {
      state: "proof-refused",
      reports: [],
      refusedProofs: error.problems.map(({ endpoint, problem }) => ({ endpoint, problem })),
    };
  }
  return undefined;
}
