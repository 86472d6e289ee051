/**
 * The oracle's guest app: it runs in the CVM, answers "what is the outcome of market N?" by fetching it over HTTPS
 * from the one source its measured compose file names, signs the answer with a key derived through dstack's `GetKey`,
 * and publishes the signed result with the key's signature chain (`GET /result`), for anyone to submit to the market.
 *
 * - The source is read from the compose file the CVM measured (`Info` → `tcb_info.app_compose`, its
 *   `docker_compose_file`, service `oracle`, variable `ORACLE_SOURCE_URL`): changing the source is changing the
 *   compose hash, a widening change that waits the app's notice. It must be https.
 * - The key: `GetKey(ORACLE_KEY_PATH, ORACLE_PURPOSE)`; the market accepts only that purpose.
 * - The signature: EIP-712 over `Result(marketId, question, outcome, observedAt)` in the market's domain (its address
 *   and chain id), so a result is bound to one market and one time.
 */
import { request as httpsRequest } from "node:https";
import { createServer, type Server } from "node:http";

import { DstackClient } from "@phala/dstack-sdk";
import { SigningKey, Wallet, hexlify } from "ethers";
import { parse as parseYaml } from "yaml";
import { z } from "zod";

import { recoverKeyChain } from "../../../lib/dstack/index.js";

/** The `GetKey` path and purpose of the oracle's signing key. */
export const ORACLE_KEY_PATH = "oracle/results";
export const ORACLE_PURPOSE = "devproof-oracle-result";
/** The compose service and variable that name the source. */
export const ORACLE_SERVICE = "oracle";
export const SOURCE_VARIABLE = "ORACLE_SOURCE_URL";

/** The market's EIP-712 domain name and version, and the type the oracle signs (OracleMarket.sol). */
export const RESULT_DOMAIN = { name: "DevProofOracleMarket", version: "1" } as const;
export const RESULT_TYPES = {
  Result: [
    { name: "marketId", type: "uint256" },
    { name: "question", type: "bytes32" },
    { name: "outcome", type: "bool" },
    { name: "observedAt", type: "uint64" },
  ],
};

/** Which market a result is for. */
export interface ResultRequest {
  chainId: bigint;
  market: string;
  marketId: bigint;
  /** 0x + 64 hex digits: the market's question, the source's key for it. */
  question: string;
}

/** What the oracle publishes: the result, its signature, and the chain of the key that made it. */
export interface SignedResult {
  appId: string;
  market: string;
  chainId: string;
  marketId: string;
  question: string;
  outcome: boolean;
  observedAt: number;
  signature: string;
  /** As `OracleMarket.settle` takes it (DstackSignatureChain.KeyChain). */
  chain: {
    purpose: string;
    derivedPublicKey: string;
    appPublicKey: string;
    appSignature: string;
    kmsSignature: string;
  };
}

export interface OracleOptions {
  /** The guest API's socket or URL (default: the SDK's, /var/run/dstack.sock). */
  dstackEndpoint?: string;
  /** Extra CA certificates (PEM) to trust for the source, e.g. a test's self-signed one; default: Node's. */
  ca?: string;
  /** Seconds since the epoch (default: the wall clock). */
  now?: () => number;
  /** How long a fetch from the source may take. */
  timeoutMs?: number;
}

/** The source URL that an `app-compose.json` names; throws unless it names one https URL. */
export function sourceOfCompose(appCompose: string): URL {
  const compose = JSON.parse(appCompose) as { docker_compose_file?: unknown };
  if (typeof compose.docker_compose_file !== "string") throw new Error("the compose file has no docker_compose_file");
  const services = z
    .object({ services: z.record(z.object({ environment: z.record(z.string()).optional() }).passthrough()) })
    .parse(parseYaml(compose.docker_compose_file)).services;
  const value = services[ORACLE_SERVICE]?.environment?.[SOURCE_VARIABLE];
  if (value === undefined) {
    throw new Error(`the compose file's service ${ORACLE_SERVICE} sets no ${SOURCE_VARIABLE}: there is no source`);
  }
  const url = new URL(value);
  if (url.protocol !== "https:") throw new Error(`the source ${value} is not https`);
  return url;
}

const SourceAnswer = z.object({ question: z.string(), resolved: z.boolean(), outcome: z.enum(["yes", "no"]) });

/** GET `<source>/<question>` over HTTPS; the answer must be a resolved yes or no for that question. */
export function fetchOutcome(source: URL, question: string, options: OracleOptions = {}): Promise<boolean> {
  const url = new URL(`${source.pathname.replace(/\/$/, "")}/${question}`, source);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      { method: "GET", ca: options.ca, timeout: options.timeoutMs ?? 10_000, headers: { accept: "application/json" } },
      (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
        res.on("end", () => {
          try {
            if (res.statusCode !== 200) throw new Error(`the source answered HTTP ${res.statusCode} for ${url.href}`);
            const answer = SourceAnswer.parse(JSON.parse(body));
            if (answer.question.toLowerCase() !== question.toLowerCase()) {
              throw new Error(`the source answered question ${answer.question}, not ${question}`);
            }
            if (!answer.resolved) throw new Error(`the source has not resolved ${question} yet`);
            resolve(answer.outcome === "yes");
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        });
      },
    );
    req.on("timeout", () =>
      req.destroy(new Error(`the source did not answer within ${options.timeoutMs ?? 10_000} ms`)),
    );
    req.on("error", reject);
    req.end();
  });
}

/** The oracle of one CVM: its app id, source and signing key, read once at start. */
export class Oracle {
  private constructor(
    readonly appId: string,
    readonly source: URL,
    private readonly wallet: Wallet,
    readonly chain: Omit<SignedResult["chain"], never>,
    private readonly options: OracleOptions,
  ) {}

  /** Reads the CVM's app id and measured compose file, and derives the signing key. */
  static async start(options: OracleOptions = {}): Promise<Oracle> {
    const client = new DstackClient(options.dstackEndpoint);
    const info = await client.info();
    const appId = `0x${info.app_id.replace(/^0x/, "")}`;
    const source = sourceOfCompose(info.tcb_info.app_compose);
    const key = await client.getKey(ORACLE_KEY_PATH, ORACLE_PURPOSE);
    const signingKey = new SigningKey(hexlify(key.key.slice(0, 32)));
    const [appSignature, kmsSignature] = key.signature_chain.map((s) => hexlify(s)) as [string, string];
    const recovered = recoverKeyChain({
      appId,
      purpose: ORACLE_PURPOSE,
      derivedPublicKey: signingKey.compressedPublicKey,
      signatureChain: [appSignature, kmsSignature],
    });
    return new Oracle(
      appId,
      source,
      new Wallet(signingKey),
      {
        purpose: ORACLE_PURPOSE,
        derivedPublicKey: recovered.derivedPublicKey,
        appPublicKey: recovered.appPublicKey,
        appSignature,
        kmsSignature,
      },
      options,
    );
  }

  /** The address results are signed with. */
  get signer(): string {
    return this.wallet.address;
  }

  /** Fetches the outcome of `request.question` from the source and signs it for that market. */
  async resolve(request: ResultRequest): Promise<SignedResult> {
    if (!/^0x[0-9a-fA-F]{64}$/.test(request.question)) throw new Error("the question must be 0x + 64 hex digits");
    const outcome = await fetchOutcome(this.source, request.question, this.options);
    const observedAt = Math.floor(this.options.now?.() ?? Date.now() / 1000);
    const signature = await this.wallet.signTypedData(
      { ...RESULT_DOMAIN, chainId: request.chainId, verifyingContract: request.market },
      RESULT_TYPES,
      { marketId: request.marketId, question: request.question, outcome, observedAt },
    );
    return {
      appId: this.appId,
      market: request.market,
      chainId: request.chainId.toString(),
      marketId: request.marketId.toString(),
      question: request.question,
      outcome,
      observedAt,
      signature,
      chain: this.chain,
    };
  }

  /**
   * Publishes signed results over HTTP: `GET /result?chainId=…&market=…&marketId=…&question=…` answers a
   * {@link SignedResult} as JSON, or `{"error": …}` with 400 (bad request) or 502 (the source failed).
   */
  serve(port: number, host = "127.0.0.1"): Promise<Server> {
    const server = createServer((req, res) => {
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
      };
      const url = new URL(req.url ?? "/", "http://oracle");
      if (req.method !== "GET" || url.pathname !== "/result") return reply(404, { error: "GET /result" });
      let request: ResultRequest;
      try {
        const param = (name: string) => {
          const value = url.searchParams.get(name);
          if (value === null) throw new Error(`missing ${name}`);
          return value;
        };
        request = {
          chainId: BigInt(param("chainId")),
          market: param("market"),
          marketId: BigInt(param("marketId")),
          question: param("question"),
        };
      } catch (error) {
        return reply(400, { error: error instanceof Error ? error.message : String(error) });
      }
      this.resolve(request).then(
        (signed) => reply(200, signed),
        (error: unknown) => reply(502, { error: error instanceof Error ? error.message : String(error) }),
      );
    });
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve(server));
    });
  }
}
