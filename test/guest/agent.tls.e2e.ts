/**
 * The TLS loop in the shipped bundle, as a separate process: `--tls-domain` turns it on beside the replicator, and it
 * takes the app's secret from where the replicator stores it (`--secret-path`). A stand-in quote does not pass Intel
 * DCAP, so this agent's replicator never gets the secret itself (see replicator.e2e.ts); the test puts it where the
 * replicator writes it, as a node that joined before a restart holds it. The node then serves `/attestation`, and an
 * app that loads key.pem and fullchain.pem from `--tls-dir` presents a certificate whose key is the derived one.
 */
import { mkdir, readFile, stat } from "node:fs/promises";
import { createServer } from "node:https";
import type { AddressInfo } from "node:net";
import path from "node:path";

import { expect } from "chai";
import { Wallet } from "ethers";

import { TLS_FILES } from "../../guest/src/tls.js";
import { writeFileAtomic } from "../../guest/src/store.js";
import {
  certificateFacts,
  deriveTlsKey,
  fetchServed,
  parseTlsAttestation,
  quoteBindsTlsKey,
} from "../../lib/tls/index.js";
import { DstackGuestApiStandIn } from "../helpers/dstack-guest-api.js";
import {
  AgentChain,
  AgentProcess,
  cleanUp,
  EXAMPLE_V1,
  FakeDocker,
  releaseFromFile,
  tempDir,
} from "../helpers/guestAgent.js";
import { deployKms } from "../helpers/replication.js";

const SECRET = new Uint8Array(32).fill(0x5a);

describe("guest agent: the TLS loop in the agent process (bundle, dstack SDK)", function () {
  this.timeout(30_000);
  after(cleanUp);

  it("waits for the replicated secret, then writes the derived key and a certificate for it and serves the quote binding it at /attestation", async function () {
    const v1 = await releaseFromFile("v1", EXAMPLE_V1);
    const chain = await AgentChain.create({ hash: v1.hash, uri: v1.fileUri });
    const cvm = await DstackGuestApiStandIn.start({
      appId: chain.address,
      instanceId: Wallet.createRandom().address,
      composeHash: v1.hash,
    });
    const app = createServer();
    try {
      const { ethers } = chain.connection;
      const kms = await deployKms(ethers);
      const registry = await ethers.deployContract("ReplicationRegistry", [chain.address, await kms.getAddress()]);
      await chain.mine(3);
      const stateDir = await tempDir("tls-state");
      const out = await tempDir("tls-out");
      const tlsDir = path.join(stateDir, "tls");
      const agent = await AgentProcess.start({
        rpcUrls: chain.urls,
        appAuth: chain.address,
        stateDir,
        docker: await FakeDocker.create(),
        dstackSocket: cvm.endpoint,
        flags: {
          registry: await registry.getAddress(),
          "registration-out": path.join(out, "registration.json"),
          "onboarding-out": path.join(out, "onboardings"),
          // Nothing answers: the replicator's pass fails at the collateral, the TLS loop does not need it.
          "pccs-url": "http://127.0.0.1:9",
          "tls-domain": "app.localhost",
          "tls-interval": "200ms",
          "log-level": "info",
        },
      });
      const attestationUrl = () => `http://127.0.0.1:${agent.port}/attestation`;

      // No secret yet: the loop waits, and nothing is served.
      await agent.waitForLog("the TLS loop's first pass", (line) => line.event === "listening");
      const tlsStatus = async () =>
        ((await agent.get("/status")).body["loops"] as Record<string, Record<string, unknown>>)["tls"]!;
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await tlsStatus()).to.deep.include({ spkiSha256: null, state: "waiting for the replicated secret" });
      expect((await fetch(attestationUrl())).status).to.equal(404);

      // The replicator's file appears (as it writes it: atomically, 0600, under --secret-path's default).
      await mkdir(path.join(stateDir, "replication"), { recursive: true, mode: 0o700 });
      await writeFileAtomic(path.join(stateDir, "replication", "secret"), SECRET, { mode: 0o600 });
      const expected = deriveTlsKey(SECRET).spkiSha256;
      const attested = await agent.waitForLog("the quote of the TLS key", (line) => line.event === "tls-attested");
      expect(attested["spkiSha256"]).to.equal(expected);
      await agent.waitForLog("the certificate", (line) => line.event === "tls-certificate");

      // /attestation: the derived key, in a quote whose report_data binds it, with the measured app-compose.json.
      const response = await fetch(attestationUrl());
      expect(response.status).to.equal(200);
      const served = parseTlsAttestation(await response.text());
      expect(served.spkiSha256).to.equal(expected);
      expect(quoteBindsTlsKey(served.quote, expected)).to.equal(true);
      expect(served.appCompose).to.equal(cvm.cvm.appCompose);

      // The files the app mounts: the key (0600) is the derived one, the certificate is for it.
      expect((await stat(path.join(tlsDir, TLS_FILES.key))).mode & 0o777).to.equal(0o600);
      expect(await readFile(path.join(tlsDir, TLS_FILES.key), "utf8")).to.equal(deriveTlsKey(SECRET).privateKeyPem);
      const fullchain = await readFile(path.join(tlsDir, TLS_FILES.fullchain), "utf8");
      const attestationFile = await readFile(path.join(tlsDir, TLS_FILES.attestation), "utf8");

      // The app's own TLS server, loading them, presents a certificate whose key the quote binds.
      app.setSecureContext({ key: await readFile(path.join(tlsDir, TLS_FILES.key)), cert: fullchain });
      app.on("request", (_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(attestationFile));
      await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
      const live = await fetchServed(`https://127.0.0.1:${(app.address() as AddressInfo).port}/`);
      const facts = certificateFacts(live.certificate);
      expect(facts.spkiSha256).to.equal(expected);
      expect(facts.dnsNames).to.include("app.localhost");
      expect(parseTlsAttestation(live.attestation.body).spkiSha256).to.equal(expected);

      // /status and /healthz report the loop.
      const status = await tlsStatus();
      expect(status).to.deep.include({ spkiSha256: expected, state: "serving", domains: ["app.localhost"] });
      expect(status["certificate"]).to.deep.include({ kind: "self-signed" });
      const health = await agent.get("/healthz");
      expect((health.body["loops"] as Record<string, string>)["tls"]).to.equal("ok");

      expect((await agent.stop("SIGTERM")).code).to.equal(0);
    } finally {
      app.close();
      await cvm.close();
      await chain.close();
    }
  });
});
