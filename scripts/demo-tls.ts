// The TLS part of the demo (docs/tls.md): the app's TLS key comes from the secret its nodes share, so nodes A and B
// of the replication part derive the same key, and the genesis member's agent has published it in the registry.
// Anyone then checks a member with `verify-app` (the served certificate's key is the published one, a quote binds
// it, the quote's app and release are the policy's current ones), and watches certificate transparency with
// `watch-certs`: a certificate for the app's domain with any other key — one a CA issued to whoever controls the
// domain's DNS — is URGENT.
// No TDX and no CA here: the member is a STAND-IN HTTPS server (test/helpers/tls-stand-in.ts) serving the key A
// derives and a real TDX quote with that key patched in, so the quote check is substituted while this part runs
// (verify-app prints SUBSTITUTE); the CT log is a local stand-in speaking RFC 6962 (test/helpers/ct-stand-in.ts).
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

import hre from "hardhat";
import type { NetworkConnection } from "hardhat/types/network";

import { composeHashOfFile } from "../lib/composeHash.js";
import { deriveTlsKey } from "../lib/tls/index.js";
import { substituteQuoteVerifier } from "../tasks/shared/quote-verifier.js";
import { ReplicationRegistry__factory } from "../types/ethers-contracts/index.js";
import { certificateDer, startCtStandIn } from "../test/helpers/ct-stand-in.js";
import { FIXTURE_TIME, TDX_FIXTURE_DIR, standInVerifier } from "../test/helpers/tee-stand-in.js";
import { startStandInMember } from "../test/helpers/tls-stand-in.js";
import type { ReplicatedApp } from "./demo-replication.js";

const COLLATERAL = path.relative(process.cwd(), fileURLToPath(new URL("tdx_quote_collateral.json", TDX_FIXTURE_DIR)));
const DOMAIN = "app.example";

function step(title: string): void {
  console.log(`\n━━ ${title}`);
}

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Runs a task as the command line would, printing the command first; false when it failed. */
async function runTask(name: string, args: Record<string, string | number | boolean>): Promise<boolean> {
  const options = Object.entries(args).map(([key, value]) =>
    value === true ? `--${kebab(key)}` : `--${kebab(key)} ${value}`,
  );
  console.log(`$ npx hardhat ${name} ${options.join(" ")}`);
  const result = (await hre.tasks.getTask(name).run(args)) as { success?: boolean } | undefined;
  return result?.success !== false;
}

/**
 * @param app the app's TimelockedAppAuth.
 * @param compose the compose file of the app's current release, which the stand-in member boots.
 * @param replicated the registry and the secret nodes A and B hold (scripts/demo-replication.ts).
 */
export async function demoTls(
  connection: NetworkConnection,
  app: string,
  compose: string,
  replicated: ReplicatedApp,
): Promise<void> {
  const started: Array<() => Promise<void>> = [];
  const restore = substituteQuoteVerifier(
    standInVerifier,
    "TEE stand-in (no TDX here: a real quote with the member's TLS key patched in, accepted as if Intel DCAP passed)",
  );
  try {
    console.log(
      "\n━━━ TLS: the app's key exists only in its TEEs; anyone checks the live app and certificate transparency",
    );

    step("T1. Nodes A and B derive the app's TLS key from the secret they share; the genesis member published it");
    const [keyOfA, keyOfB] = [deriveTlsKey(replicated.secrets.A), deriveTlsKey(replicated.secrets.B)];
    const registry = ReplicationRegistry__factory.connect(replicated.registry, connection.ethers.provider);
    const [published] = await registry.tlsKey();
    const history = await registry.queryFilter(registry.filters.TlsKeySet());
    console.log(
      `A derives ${keyOfA.spkiSha256}; B derives ${keyOfB.spkiSha256}: the same TLS key: ` +
        `${keyOfA.spkiSha256 === keyOfB.spkiSha256 ? "yes" : "NO"}\n` +
        `ReplicationRegistry ${replicated.registry} tlsKey(): ${published} ` +
        `(${history.length} TlsKeySet event(s), signed by the genesis member A's in-TEE key)`,
    );
    if (keyOfA.spkiSha256 !== keyOfB.spkiSha256) throw new Error("A and B derive different TLS keys");
    if (published !== keyOfA.spkiSha256) throw new Error(`the registry publishes ${published}, not A's key`);

    step(
      "T2. A member serves HTTPS with that key and, at /attestation, a quote binding it (a STAND-IN: no TDX here); " +
        "anyone checks it against the chain",
    );
    const member = await startStandInMember({
      secret: replicated.secrets.A,
      app,
      composeHash: (await composeHashOfFile(compose)).bytesHash,
      appCompose: await readFile(compose, "utf8"),
      domains: [DOMAIN],
    });
    started.push(() => member.close());
    console.log(`member A serves https://${DOMAIN} at ${member.url}`);
    const verified = await runTask("verify-app", {
      url: member.url,
      app,
      registry: replicated.registry,
      collateral: COLLATERAL,
      at: FIXTURE_TIME,
      attestationPath: "/attestation",
      timeout: 5000,
    });
    if (!verified) throw new Error("verify-app did not pass the member");

    step(
      `T3. Someone who controls ${DOMAIN}'s DNS gets a CA to issue a certificate for it with another key; ` +
        "it appears in certificate transparency (a local STAND-IN log; the certificates here are self-signed), and watch-certs flags it",
    );
    const log = await startCtStandIn();
    started.push(() => log.close());
    log.addCertificate(await certificateDer(keyOfA, [DOMAIN]));
    log.addCertificate(await certificateDer(deriveTlsKey(new Uint8Array(32).fill(0x66)), [DOMAIN]));
    if (
      !(await runTask("watch-certs", {
        domain: DOMAIN,
        registry: replicated.registry,
        log: log.url,
        logKey: log.publicKey,
        fromIndex: 0,
        once: true,
      }))
    ) {
      throw new Error("watch-certs failed");
    }
    console.log(
      `What to do: an URGENT certificate's key is outside the app's TEEs, so whoever holds it can read ${DOMAIN}'s ` +
        "traffic: revoke it with its CA, find who changed the DNS, and tell users to check with verify-app.",
    );
  } finally {
    for (const stop of started.reverse()) await stop().catch(() => undefined);
    restore();
  }
}
