import { expect } from "chai";
import { encodeBase58 } from "ethers";

import { compareRuntimeBytecode, ipfsMultihashOf, splitRuntimeBytecode } from "../../lib/bytecode.js";

// solc's trailer: {"ipfs": <34 bytes>, "solc": 0x00081c} in CBOR, then its length (0x0033).
const IPFS = `1220${"ab".repeat(32)}`;
const TRAILER = `a264697066735822${IPFS}64736f6c634300081c0033`;
const CODE = "0x6080604052348015600e575f5ffd5b50";

describe("lib/bytecode", function () {
  it("hashes content the way IPFS (and solc, for the metadata) does", function () {
    expect(encodeBase58(ipfsMultihashOf("hello world\n"))).to.equal("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o");
    expect(encodeBase58(ipfsMultihashOf("hello world"))).to.equal("Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD");
  });

  it("splits runtime bytecode into code and solc's metadata trailer", function () {
    const { executable, trailer } = splitRuntimeBytecode(CODE + TRAILER);
    expect(executable).to.equal(CODE);
    expect(trailer).to.deep.equal({
      ipfs: `0x${IPFS}`,
      ipfsCid: encodeBase58(`0x${IPFS}`),
      solc: "0.8.28",
      byteLength: 53,
    });
  });

  it("finds no trailer in code that does not end in one", function () {
    expect(splitRuntimeBytecode(CODE).trailer).to.equal(undefined);
    expect(splitRuntimeBytecode("0x").trailer).to.equal(undefined);
  });

  it("tells a metadata difference from a code difference", function () {
    expect(compareRuntimeBytecode(CODE + TRAILER, CODE + TRAILER)).to.deep.include({ match: true });
    const otherMetadata = CODE + TRAILER.replace("abab", "cdcd");
    expect(compareRuntimeBytecode(CODE + TRAILER, otherMetadata)).to.deep.include({ match: false, reason: "metadata" });
    const otherCode = CODE.replace("6080", "6081") + TRAILER;
    expect(compareRuntimeBytecode(CODE + TRAILER, otherCode)).to.deep.include({ match: false, reason: "code" });
  });
});
