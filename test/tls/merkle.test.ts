import { expect } from "chai";

import { consistencyProofProblem, inclusionProofProblem, leafHash } from "../../lib/tls/index.js";
import { auditPath, consistencyProof, merkleRoot } from "../helpers/ct-stand-in.js";

// Trees of every size up to 33 (past 32, so that complete and incomplete subtrees of several depths occur), with
// proofs made from RFC 6962's recursive definitions and checked with RFC 9162's iterative verifiers.
const LEAVES = Array.from({ length: 33 }, (_, i) => Buffer.from(`leaf ${i}`));
const flipped = (hash: Buffer) => Buffer.from(hash.map((byte, i) => (i === 0 ? byte ^ 1 : byte)));

describe("RFC 6962 Merkle proofs", function () {
  it("matches RFC 6962's known root of the empty tree and a one-leaf tree", function () {
    expect(merkleRoot([]).toString("hex")).to.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(merkleRoot([Buffer.alloc(0)]).toString("hex")).to.equal(
      "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    );
  });

  it("verifies every audit path of every tree, and refuses a changed node, index or root", function () {
    for (let size = 1; size <= LEAVES.length; size += 1) {
      const tree = LEAVES.slice(0, size);
      const root = merkleRoot(tree);
      for (let index = 0; index < size; index += 1) {
        const path = auditPath(index, tree);
        const leaf = leafHash(tree[index]!);
        expect(inclusionProofProblem(index, size, leaf, path, root), `leaf ${index} of ${size}`).to.equal(undefined);
        expect(inclusionProofProblem(index, size, leaf, path, flipped(root))).to.match(/does not lead/);
        if (path.length > 0) {
          expect(inclusionProofProblem(index, size, leaf, [flipped(path[0]!), ...path.slice(1)], root)).to.be.a(
            "string",
          );
          expect(inclusionProofProblem(index, size, leaf, path.slice(1), root)).to.be.a("string");
        }
        if (size > 1) expect(inclusionProofProblem((index + 1) % size, size, leaf, path, root)).to.be.a("string");
      }
      expect(inclusionProofProblem(size, size, leafHash(LEAVES[0]!), [], root)).to.match(/outside a tree/);
    }
  });

  it("verifies every consistency proof between every pair of trees, and refuses a rewritten history", function () {
    for (let second = 1; second <= LEAVES.length; second += 1) {
      const secondRoot = merkleRoot(LEAVES.slice(0, second));
      for (let first = 1; first <= second; first += 1) {
        const firstRoot = merkleRoot(LEAVES.slice(0, first));
        const proof = consistencyProof(first, LEAVES.slice(0, second));
        const pair = `${first} → ${second}`;
        expect(consistencyProofProblem(first, second, firstRoot, secondRoot, proof), pair).to.equal(undefined);
        if (first === second) continue;
        // The first tree's root of another history (leaf 0 changed) cannot be extended to the second.
        const forkedRoot = merkleRoot([Buffer.from("forged"), ...LEAVES.slice(1, first)]);
        expect(consistencyProofProblem(first, second, forkedRoot, secondRoot, proof), pair).to.be.a("string");
        expect(consistencyProofProblem(first, second, firstRoot, flipped(secondRoot), proof), pair).to.be.a("string");
        for (let i = 0; i < proof.length; i += 1) {
          const tampered = proof.map((node, j) => (j === i ? flipped(node) : node));
          expect(consistencyProofProblem(first, second, firstRoot, secondRoot, tampered), `${pair} node ${i}`).to.be.a(
            "string",
          );
        }
        expect(consistencyProofProblem(first, second, firstRoot, secondRoot, proof.slice(1)), pair).to.be.a("string");
      }
    }
    const root = merkleRoot(LEAVES.slice(0, 4));
    expect(consistencyProofProblem(5, 4, root, root, [])).to.match(/shrank/);
    expect(consistencyProofProblem(4, 4, root, flipped(root), [])).to.match(/two different roots/);
  });
});
