/**
 * A stand-in PCCS (Intel's Provisioning Certificate Caching Service, v4 API) that serves the stored collateral of the
 * TDX fixture, for tests of a separate agent process: dcap-qvl's `getCollateral` fetches the PCK CRL, the TCB info, the
 * QE identity and the root CA CRL from it exactly as from a real PCCS (issuer chains in URL-encoded headers, signed
 * bodies), so the bundled agent's whole verification path runs. The collateral is Intel's, signed, and only valid
 * around its issue date (see tee-stand-in.ts): a quote verified with it today fails on its dates, as it should.
 */
import { readFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import { TDX_FIXTURE_DIR } from "./tee-stand-in.js";

interface StoredCollateral {
  pck_crl_issuer_chain: string;
  root_ca_crl: string;
  pck_crl: string;
  tcb_info_issuer_chain: string;
  tcb_info: string;
  tcb_info_signature: string;
  qe_identity_issuer_chain: string;
  qe_identity: string;
  qe_identity_signature: string;
}

export class PccsStandIn {
  /** Paths requested, in order. */
  readonly requests: string[] = [];
  private server: Server | undefined;
  private port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const collateral = JSON.parse(
      await readFile(new URL("tdx_quote_collateral.json", TDX_FIXTURE_DIR), "utf8"),
    ) as StoredCollateral;
    const server = createServer((req, res) => {
      const url = req.url ?? "/";
      this.requests.push(url);
      const path = url.split("?")[0];
      const send = (headers: Record<string, string>, body: string | Buffer) => {
        res.writeHead(200, { ...headers, "content-length": Buffer.byteLength(body) });
        res.end(body);
      };
      if (path === "/sgx/certification/v4/pckcrl") {
        return send(
          { "SGX-PCK-CRL-Issuer-Chain": encodeURIComponent(collateral.pck_crl_issuer_chain) },
          Buffer.from(collateral.pck_crl, "hex"),
        );
      }
      if (path === "/tdx/certification/v4/tcb") {
        return send(
          {
            "content-type": "application/json",
            "SGX-TCB-Info-Issuer-Chain": encodeURIComponent(collateral.tcb_info_issuer_chain),
          },
          `{"tcbInfo":${collateral.tcb_info},"signature":"${collateral.tcb_info_signature}"}`,
        );
      }
      if (path === "/tdx/certification/v4/qe/identity") {
        return send(
          {
            "content-type": "application/json",
            "SGX-Enclave-Identity-Issuer-Chain": encodeURIComponent(collateral.qe_identity_issuer_chain),
          },
          `{"enclaveIdentity":${collateral.qe_identity},"signature":"${collateral.qe_identity_signature}"}`,
        );
      }
      if (path === "/sgx/certification/v4/rootcacrl") return send({}, collateral.root_ca_crl);
      res.writeHead(404);
      res.end("not found");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server === undefined) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
