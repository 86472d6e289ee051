/**
 * A light client as the header source: headers come from an EIP-1193 provider that verifies them itself from the
 * chain's consensus (e.g. `@a16z/helios`' `createHeliosProvider(…)`: its Ethereum mode follows the beacon chain's
 * sync committee from a checkpoint; its OP Stack mode follows the blocks the network's sequencer signs). The reader
 * still proves every value against the header's state root, with proofs from any RPC URL.
 *
 * The agent's image does not ship a light client yet (guest/README.md, "What the agent trusts", says why); this
 * adapter is what one plugs into. It believes nothing the provider says beyond what the provider verified: each
 * header is re-hashed from its fields, and a provider that is not synced (or answers anything else) verifies nothing.
 */
import { headerFromRpcBlock } from "./header.js";
import { HeaderUnverifiedError, type HeaderEvidence, type HeaderSource } from "./headers.js";
import { quantityToNumber } from "./rpc.js";

/** The part of an EIP-1193 provider the adapter uses. */
export interface LightClientProvider {
  request(args: { method: string; params: unknown[] }): Promise<unknown>;
}

export class LightClientHeaderSource implements HeaderSource {
  readonly description: string;

  /** `name` says which light client and network, e.g. "helios (base)". */
  constructor(
    private readonly provider: LightClientProvider,
    name: string,
  ) {
    this.description = `light client ${name}`;
  }

  async confirmedHeader(confirmations: number): Promise<HeaderEvidence> {
    const head = await this.ask("its head", async () =>
      quantityToNumber(await this.provider.request({ method: "eth_blockNumber", params: [] }), "head"),
    );
    return { ...(await this.verifiedHeader(Math.max(0, head - confirmations))), head };
  }

  async verifiedHeader(height: number): Promise<HeaderEvidence> {
    const header = await this.ask(`block ${height}`, async () => {
      const block = await this.provider.request({
        method: "eth_getBlockByNumber",
        params: [`0x${height.toString(16)}`, false],
      });
      if (block === null) throw new Error(`it has no block ${height} (outside the blocks it verified)`);
      const verified = headerFromRpcBlock(block);
      if (verified.number !== height) throw new Error(`it answered block ${verified.number} for ${height}`);
      return verified;
    });
    return {
      header,
      head: height,
      how: `the ${this.description} verified this header`,
      reports: [{ endpoint: this.description, hash: header.hash }],
    };
  }

  private async ask<T>(what: string, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      const message = error instanceof Error ? error.message.split("\n")[0]! : String(error);
      throw new HeaderUnverifiedError(`the ${this.description} gave no verified ${what}: ${message}`, "unavailable", [
        { endpoint: this.description, problem: message },
      ]);
    }
  }
}
