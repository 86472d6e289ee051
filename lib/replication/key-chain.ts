/**
 * The node key's signature chain in the replication protocol: a node derives its Ethereum key with dstack's
 * `GetKey(path, NODE_KEY_PURPOSE)`, which returns the key and `[sig0, kmsSig]` (lib/dstack/signature-chain.ts), and
 * registers the chain as the registry's `KeyChain` struct: the derived and app public keys (33 bytes, compressed) and
 * the two signatures. The registry verifies it on-chain against the KMS root it was bound to; members, `set-genesis`,
 * `verify-node` and joining nodes verify it again here, against `kmsInfo().k256Pubkey`, for the registry's app.
 */
import { getAddress, getBytes, hexlify } from "ethers";
import type { BytesLike } from "ethers";

import { DstackEvidenceError } from "../dstack/errors.js";
import { compressPublicKey, recoverKeyChain, verifyKeyChain } from "../dstack/signature-chain.js";
import type { RecoveredKeyChain } from "../dstack/signature-chain.js";
import { ReplicationVerificationError } from "./errors.js";

/**
 * The `GetKey` purpose of a node's Ethereum key, which `sig0` signs (the registry's `NODE_KEY_PURPOSE`). dstack
 * derives a key from the path alone, so the purpose changes the chain, never the key.
 */
export const NODE_KEY_PURPOSE = "dstack-devproof/replication/node-key";

/** The `GetKey` purpose of a node's encryption key (its chain is not registered: see docs/replication.md). */
export const ENCRYPTION_KEY_PURPOSE = "dstack-devproof/replication/encryption-key";

/** The registry's `KeyChain` struct, as 0x-hex. */
export interface NodeKeyChain {
  /** The node's public key, 33 bytes compressed. */
  derivedPublicKey: string;
  /** The app key, 33 bytes compressed: the key `appSignature` recovers to. */
  appPublicKey: string;
  /** `sig0`, 65 bytes. */
  appSignature: string;
  /** `kmsSig`, 65 bytes. */
  kmsSignature: string;
}

/**
 * The registry's `KeyChain` for a key `GetKey` derived for `appId` with {@link NODE_KEY_PURPOSE}: `signatureChain` is
 * `[sig0, kmsSig]` as `GetKey` returned it; the app key is recovered from `sig0` (the contract needs it, since
 * `ecrecover` gives only addresses). Throws {@link DstackEvidenceError} when the chain is malformed.
 */
export function nodeKeyChainFromGetKey(
  appId: string,
  derivedPublicKey: BytesLike,
  signatureChain: readonly BytesLike[],
): NodeKeyChain {
  const recovered = recoverKeyChain({ appId, purpose: NODE_KEY_PURPOSE, derivedPublicKey, signatureChain });
  const [sig0, kmsSig] = signatureChain as [BytesLike, BytesLike];
  return {
    derivedPublicKey: recovered.derivedPublicKey,
    appPublicKey: recovered.appPublicKey,
    appSignature: hexlify(getBytes(sig0)),
    kmsSignature: hexlify(getBytes(kmsSig)),
  };
}

/**
 * Checks that `chain` proves `node`'s key was issued by the KMS whose root is `kmsRoot` (`kmsInfo().k256Pubkey`, either
 * form) to the app `appId`, for {@link NODE_KEY_PURPOSE}, as the registry checks it on-chain, and that the app key it
 * names is the one `sig0` recovers to. Throws {@link ReplicationVerificationError} `key-chain-invalid`.
 */
export function verifyNodeKeyChain(
  node: string,
  appId: string,
  chain: NodeKeyChain,
  kmsRoot: BytesLike,
): RecoveredKeyChain {
  let recovered: RecoveredKeyChain;
  try {
    recovered = verifyKeyChain(
      {
        appId,
        purpose: NODE_KEY_PURPOSE,
        derivedPublicKey: chain.derivedPublicKey,
        signatureChain: [chain.appSignature, chain.kmsSignature],
      },
      kmsRoot,
    );
    if (hexlify(compressPublicKey(chain.appPublicKey, "the chain's app public key")) !== recovered.appPublicKey) {
      throw new DstackEvidenceError(
        "signature-malformed",
        `the chain names app key ${hexlify(getBytes(chain.appPublicKey))}, but sig0 was made by ${recovered.appPublicKey}`,
      );
    }
  } catch (error) {
    if (!(error instanceof DstackEvidenceError)) throw error;
    throw new ReplicationVerificationError("key-chain-invalid", error.message, { cause: error });
  }
  if (getAddress(recovered.derivedAddress) !== getAddress(node)) {
    throw new ReplicationVerificationError(
      "key-chain-invalid",
      `the chain is for the key of ${recovered.derivedAddress}, not for node ${getAddress(node)}`,
    );
  }
  return recovered;
}
