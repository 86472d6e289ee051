import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

import { expect } from "chai";

import {
  assessComposeUri,
  checkPublishedCompose,
  composeFileProblems,
  howBytesDiffer,
} from "../../lib/composeCheck.js";
import { sha256Hex } from "../../lib/composeHash.js";

const encode = (text: string) => new TextEncoder().encode(text);

describe("lib/composeCheck", function () {
  it("composeFileProblems: none for a runnable app-compose.json, one line per problem otherwise", function () {
    const valid = JSON.stringify({ runner: "docker-compose", docker_compose_file: "services: {}" });
    expect(composeFileProblems(encode(valid))).to.deep.equal([]);
    expect(composeFileProblems(encode(JSON.stringify({ runner: "bash", bash_script: "echo" })))).to.deep.equal([]);
    expect(composeFileProblems(encode(valid.slice(0, -5)))[0]).to.match(/^not JSON: /);
    expect(composeFileProblems(encode(`\uFEFF${valid}`))).to.deep.equal([
      "it starts with a byte-order mark, which strict JSON parsers refuse",
    ]);
  });

  it("assessComposeUri: warns about hosts only this machine or its network can reach, not about public ones", function () {
    const local = [
      "http://localhost:8000/a.json",
      "http://app.localhost/a.json",
      "http://127.0.0.1/a.json",
      "http://10.1.2.3/a.json",
      "http://172.16.0.1/a.json",
      "http://172.31.255.1/a.json",
      "http://192.168.1.10/a.json",
      "http://169.254.1.1/a.json",
      "http://[::1]/a.json",
      "http://[fd00::1]/a.json",
      "http://printer.local/a.json",
    ];
    for (const uri of local) {
      expect(assessComposeUri("uri", uri).warnings, uri).to.have.length(1);
    }
    for (const uri of ["https://example.org/a.json", "http://172.32.0.1/a.json", "https://11.0.0.1/a.json"]) {
      expect(assessComposeUri("uri", uri), uri).to.deep.include({ fetchable: true, warnings: [] });
    }
    expect(assessComposeUri("uri", "ar://abc").fetchable).to.equal(false);
  });

  it("checkPublishedCompose: a URI that does not answer in time cannot be checked; it is not a mismatch", async function () {
    const held: ServerResponse[] = [];
    const server = createServer((_req, res) => void held.push(res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/app-compose.json`;
    const found = await checkPublishedCompose(uri, sha256Hex(encode("{}")), { timeoutMs: 50, maxBytes: 1000 });
    expect(found).to.deep.equal({ found: "unreachable", reason: `could not fetch ${uri}: no answer within 50 ms` });
    for (const res of held) res.end();
    server.closeAllConnections();
    server.close();
  });

  it("howBytesDiffer: names the usual upload accidents, and nothing else", function () {
    const file = '{\n  "a": 1\n}\n';
    expect(howBytesDiffer(encode(file), encode(file.replace(/\n/g, "\r\n")))).to.equal(
      "only in line endings (CRLF and LF)",
    );
    expect(howBytesDiffer(encode(file), encode(file.trimEnd()))).to.equal(
      "only in whitespace at the end (a final newline?)",
    );
    expect(howBytesDiffer(encode(file), encode(`\uFEFF${file}`))).to.equal("only in a byte-order mark");
    expect(howBytesDiffer(encode(file), encode(file.replace("1", "2")))).to.equal(undefined);
  });
});
