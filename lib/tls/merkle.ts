/**
 * RFC 6962 Merkle tree checks for certificate transparency: leaf and node hashes (§2.1), and the verification of an
 * inclusion proof and a consistency proof as RFC 9162 §2.1.3.2 and §2.1.4.2 state them (the same trees and proofs as
 * RFC 6962; 9162 spells out the verifier). No maintained npm package implements these verifiers for RFC 6962 logs,
 * so they are written here from the RFC's steps, over node:crypto's SHA-256, and tested against a tree built from
 * the RFC's recursive definitions (test/helpers/ct-stand-in.ts). Tree sizes stay below 2^53, so halving is done
 * with arithmetic, not with JavaScript's 32-bit shifts.
 */
import { createHash } from "node:crypto";

export const HASH_BYTES = 32;

/** MTH of one leaf: SHA-256(0x00 || leaf). */
export function leafHash(leaf: Uint8Array): Buffer {
  return createHash("sha256")
    .update(Buffer.from([0]))
    .update(leaf)
    .digest();
}

/** An inner node: SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return createHash("sha256")
    .update(Buffer.from([1]))
    .update(left)
    .update(right)
    .digest();
}

const odd = (n: number) => n % 2 === 1;
const half = (n: number) => Math.floor(n / 2);

/** Why the proof that leaf `index` (hash `leaf`) is in the tree of `treeSize` with `root` fails; undefined when it holds. */
export function inclusionProofProblem(
  index: number,
  treeSize: number,
  leaf: Uint8Array,
  path: readonly Uint8Array[],
  root: Uint8Array,
): string | undefined {
  if (!(index >= 0 && index < treeSize)) return `leaf ${index} is outside a tree of ${treeSize}`;
  let fn = index;
  let sn = treeSize - 1;
  let r: Uint8Array = leaf;
  for (const p of path) {
    if (sn === 0) return "the audit path is longer than the tree is deep";
    if (odd(fn) || fn === sn) {
      r = nodeHash(p, r);
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) return "the audit path is shorter than the tree is deep";
  if (!Buffer.from(r).equals(Buffer.from(root))) return "the audit path does not lead to the tree head's root";
  return undefined;
}

/**
 * Why the proof that the tree of `first` leaves (root `firstRoot`) is a prefix of the tree of `second` leaves (root
 * `secondRoot`) fails; undefined when it holds, i.e. the log only appended.
 */
export function consistencyProofProblem(
  first: number,
  second: number,
  firstRoot: Uint8Array,
  secondRoot: Uint8Array,
  proof: readonly Uint8Array[],
): string | undefined {
  if (first > second) return `the tree shrank from ${first} to ${second} entries`;
  if (first === second) {
    if (proof.length !== 0) return "a proof between two trees of the same size must be empty";
    return Buffer.from(firstRoot).equals(Buffer.from(secondRoot))
      ? undefined
      : `two different roots for the same tree size ${first}`;
  }
  if (first === 0) return proof.length === 0 ? undefined : "a proof from the empty tree must be empty";
  const nodes = [...proof];
  // A first tree that is a complete subtree is its own first node.
  if (Number.isInteger(Math.log2(first))) nodes.unshift(firstRoot);
  if (nodes.length === 0) return "the consistency proof is empty";
  let fn = first - 1;
  let sn = second - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr: Uint8Array = nodes[0]!;
  let sr: Uint8Array = nodes[0]!;
  for (const c of nodes.slice(1)) {
    if (sn === 0) return "the consistency proof is longer than the trees are deep";
    if (odd(fn) || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0) return "the consistency proof is shorter than the trees are deep";
  if (!Buffer.from(fr).equals(Buffer.from(firstRoot))) {
    return `the proof does not rebuild the verified root of ${first} entries`;
  }
  if (!Buffer.from(sr).equals(Buffer.from(secondRoot))) {
    return `the proof does not lead to the new tree head's root of ${second} entries`;
  }
  return undefined;
}
