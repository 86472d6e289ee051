/**
 * The oracle example's world on a local chain, for its tests and the demo: dstack's KMS (the stand-in, publishing the
 * stand-in KMS root through kmsInfo), the oracle app's TimelockedAppAuth with release v1, an OracleMarket that relies
 * on it, an HTTPS results source with a self-signed certificate, and the oracle's CVM (the guest API stand-in, whose
 * measured compose file is v1 with the source pointed at that server).
 */
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

import type { HardhatEthers } from "@nomicfoundation/hardhat-ethers/types";
import { keccak256 } from "ethers";

import { sha256Hex } from "../../lib/composeHash.js";
import { DstackGuestApiStandIn, ROGUE_KMS, STAND_IN_KMS } from "../../test/helpers/dstack-guest-api.js";
import type { StandInKms } from "../../test/helpers/kms-stand-in.js";
import { ORACLE_PURPOSE, Oracle, SOURCE_VARIABLE } from "./guest/oracle.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ORACLE_V1 = path.join(HERE, "app-compose.v1.json");
export const ORACLE_V2 = path.join(HERE, "app-compose.v2.json");
export const SEVEN_DAYS = 7 * 24 * 60 * 60;

export { ROGUE_KMS, STAND_IN_KMS };

/** An HTTPS results source: `GET /markets/<question>` answers what `outcomes` holds for it. */
export class ResultsSource {
  /** question (lowercase 0x-hex) → outcome; absent: not resolved yet. */
  readonly outcomes = new Map<string, boolean>();
  readonly requests: string[] = [];
  private constructor(
    private readonly server: Server,
    /** The certificate to trust (PEM, self-signed for localhost). */
    readonly ca: string,
  ) {}

  static async start(): Promise<ResultsSource> {
    const [cert, key] = await Promise.all([
      readFile(path.join(HERE, "test/fixtures/source.cert.pem"), "utf8"),
      readFile(path.join(HERE, "test/fixtures/source.key.pem"), "utf8"),
    ]);
    let source: ResultsSource | undefined;
    const server = createServer({ cert, key }, (req, res) => {
      source!.requests.push(req.url ?? "");
      const question = /^\/markets\/(0x[0-9a-fA-F]{64})$/.exec(req.url ?? "")?.[1]?.toLowerCase();
      if (question === undefined) return res.writeHead(404).end();
      const outcome = source!.outcomes.get(question);
      res.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({
          question,
          resolved: outcome !== undefined,
          outcome: outcome === true ? "yes" : "no",
        }),
      );
    });
    source = new ResultsSource(server, cert);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return source;
  }

  get url(): string {
    return `https://localhost:${(this.server.address() as AddressInfo).port}/markets`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** The compose file `file` with its source pointed at `sourceUrl` (what the test CVM measures). */
export async function composeWithSource(file: string, sourceUrl: string): Promise<string> {
  const text = await readFile(file, "utf8");
  const compose = JSON.parse(text) as { docker_compose_file: string };
  compose.docker_compose_file = compose.docker_compose_file.replace(
    new RegExp(`${SOURCE_VARIABLE}: \\S+`),
    `${SOURCE_VARIABLE}: ${sourceUrl}`,
  );
  return JSON.stringify(compose);
}

/** The oracle's CVM: the guest API stand-in for `appId` (keys from `kms`), and the oracle app started in it. */
export async function startOracleCvm(
  appId: string,
  source: ResultsSource,
  now: () => number,
  kms: StandInKms = STAND_IN_KMS,
): Promise<{ cvm: DstackGuestApiStandIn; oracle: Oracle; close: () => Promise<void> }> {
  const appCompose = await composeWithSource(ORACLE_V1, source.url);
  const cvm = await DstackGuestApiStandIn.start({
    appId,
    appName: "devproof-oracle",
    appCompose,
    composeHash: sha256Hex(new TextEncoder().encode(appCompose)),
    kms,
  });
  try {
    const oracle = await Oracle.start({ dstackEndpoint: cvm.endpoint, ca: source.ca, now });
    return { cvm, oracle, close: () => cvm.close() };
  } catch (error) {
    await cvm.close();
    throw error;
  }
}

/**
 * Deploys the KMS stand-in (publishing `STAND_IN_KMS`'s root), the oracle app's TimelockedAppAuth (release v1,
 * `notice`, any device) and an OracleMarket requiring `minNotice`.
 */
export async function deployOracleContracts(ethers: HardhatEthers, notice = SEVEN_DAYS, minNotice = SEVEN_DAYS) {
  const [owner, alice, bob, stranger] = await ethers.getSigners();
  const kms = await ethers.deployContract("KmsStandIn", [owner!.address]);
  await kms.setKmsInfo({
    k256Pubkey: STAND_IN_KMS.root.compressedPublicKey,
    caPubkey: STAND_IN_KMS.caPublicKey,
    quote: "0x",
    eventlog: "0x",
  });
  const v1 = sha256Hex(await readFile(ORACLE_V1));
  const app = await ethers.deployContract("TimelockedAppAuth", [
    owner!.address,
    notice,
    v1,
    "https://releases.example.org/devproof-oracle/v1/app-compose.json",
    [],
    true,
    true,
  ]);
  const appAddress = await app.getAddress();
  const codehash = keccak256(await ethers.provider.getCode(appAddress));
  const market = await ethers.deployContract("OracleMarket", [
    await kms.getAddress(),
    appAddress,
    codehash,
    minNotice,
    ORACLE_PURPOSE,
  ]);
  return { owner: owner!, alice: alice!, bob: bob!, stranger: stranger!, kms, app, appAddress, codehash, market };
}
