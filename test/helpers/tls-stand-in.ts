/**
 * A stand-in for an app member serving TLS: an HTTPS server on 127.0.0.1 with a certificate for the app's key and an
 * `/attestation` document whose quote is the fixture quote with the TLS `report_data` and a dstack-shaped RTMR3
 * patched in (test/helpers/tee-stand-in.ts). Each part can be made to lie: another key served, a quote of another
 * key, another compose hash measured, another app-compose.json served, or the real fixture quote unchanged.
 */
import { createServer } from "node:https";
import type { Server } from "node:https";
import type { AddressInfo } from "node:net";

import { Wallet, hexlify } from "ethers";

import { replayRtmr } from "../../lib/replication/index.js";
import {
  deriveTlsKey,
  selfSignedCertificate,
  tlsAttestation,
  tlsReportData,
  type TlsKey,
} from "../../lib/tls/index.js";
import { loadTdxFixture, standInQuote, standInRuntimeEvents } from "./tee-stand-in.js";

export interface StandInMemberOptions {
  /** The replicated secret the member derives its TLS key from. */
  secret: Uint8Array;
  app: string;
  /** The compose hash measured into RTMR3. */
  composeHash: string;
  /** Serve a certificate for this key instead of the derived one (a member, or a host, with another key). */
  servedKey?: TlsKey;
  /** Quote this key instead of the served one. */
  quotedKey?: TlsKey;
  /** Serve the fixture quote as it is (its real report_data and RTMR3), with this event log. */
  realFixtureQuote?: boolean;
  /** The app-compose.json to serve (optional). */
  appCompose?: string;
  /** Replace the document (e.g. garbage). */
  document?: string;
  /** HTTP status of /attestation (default 200). */
  status?: number;
  domains?: string[];
}

export interface StandInMember {
  url: string;
  key: TlsKey;
  certificatePem: string;
  close(): Promise<void>;
}

export async function startStandInMember(options: StandInMemberOptions): Promise<StandInMember> {
  const derived = deriveTlsKey(options.secret);
  const served = options.servedKey ?? derived;
  const quoted = options.quotedKey ?? served;
  const certificatePem = await selfSignedCertificate(served, options.domains ?? ["app.example"]);
  const { quote: template } = await loadTdxFixture();
  const events = standInRuntimeEvents(options.app, options.composeHash, Wallet.createRandom().address);
  const quote =
    options.realFixtureQuote === true
      ? template
      : standInQuote(template, tlsReportData(quoted.spkiSha256), replayRtmr(events));
  const document =
    options.document ??
    JSON.stringify(
      tlsAttestation({
        spkiSha256: quoted.spkiSha256,
        quote: hexlify(quote),
        eventLog: JSON.stringify(events),
        appCompose: options.appCompose,
      }),
    );
  const server: Server = createServer({ key: served.privateKeyPem, cert: certificatePem }, (req, res) => {
    if (req.url === "/attestation") {
      res.writeHead(options.status ?? 200, { "content-type": "application/json" });
      res.end(document);
    } else {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("the app\n");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    key: served,
    certificatePem,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
