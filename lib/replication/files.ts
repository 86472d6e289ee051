/**
 * The files a node or a member hands to the host that submits for it (TEE nodes hold no gas money): a signed
 * registration with its key chain (`register-node --file`), a signed attestation refresh (`refresh-node --file`) and
 * a signed onboarding (`onboard-node --onboarding`). JSON; byte strings are `0x`-hex, the chain id is a decimal
 * string, and an event log is the exact JSON text whose UTF-8 bytes were signed. Each file names the chain and
 * registry its signature is for (the EIP-712 domain), so a tool can refuse it on the wrong network before anything
 * is sent. Version 2 goes with the registry's EIP-712 version 2.
 */
import { getAddress, getBytes, hexlify, isAddress, isHexString } from "ethers";

import { UserError } from "../errors.js";
import { decodeEventLogBytes, encodeEventLogBytes } from "./eip712.js";
import type { AppBootInfo, AttestationRefresh, Onboarding, Registration } from "./eip712.js";
import type { NodeKeyChain } from "./key-chain.js";

export const REGISTRATION_FILE_TYPE = "dstack-devproof/node-registration";
export const REFRESH_FILE_TYPE = "dstack-devproof/node-attestation-refresh";
export const ONBOARDING_FILE_TYPE = "dstack-devproof/node-onboarding";
export const REPLICATION_FILE_VERSION = 2;

/** A node's registration with its signature and its key chain, and the chain and registry the signature is for. */
export interface SignedNodeRegistration {
  chainId: bigint;
  registry: string;
  registration: Registration;
  /** dstack's chain for the node's key, which the registry verifies (not part of what the node signs). */
  keyChain: NodeKeyChain;
  signature: string;
}

/** A node's attestation refresh with its signature, and the chain and registry the signature is for. */
export interface SignedRefresh {
  chainId: bigint;
  registry: string;
  refresh: AttestationRefresh;
  signature: string;
}

/** A member's onboarding of a node with its signature, and the chain and registry the signature is for. */
export interface SignedOnboarding {
  chainId: bigint;
  registry: string;
  /** The member whose key signed (the registry checks it is a member). */
  member: string;
  onboarding: Onboarding;
  signature: string;
}

/** The registration file of a signed registration (pretty JSON, ending with a newline). */
export function encodeRegistrationFile(signed: SignedNodeRegistration): string {
  const r = signed.registration;
  return `${JSON.stringify(
    {
      type: REGISTRATION_FILE_TYPE,
      version: REPLICATION_FILE_VERSION,
      chainId: signed.chainId.toString(),
      registry: getAddress(signed.registry),
      node: getAddress(r.node),
      encryptionPublicKey: hexlify(r.encryptionPublicKey),
      bootInfo: { ...r.bootInfo, advisoryIds: [...r.bootInfo.advisoryIds] },
      quote: hexlify(r.quote),
      eventLog: decodeEventLogBytes(r.eventLog),
      keyChain: {
        derivedPublicKey: hexlify(signed.keyChain.derivedPublicKey),
        appPublicKey: hexlify(signed.keyChain.appPublicKey),
        appSignature: hexlify(signed.keyChain.appSignature),
        kmsSignature: hexlify(signed.keyChain.kmsSignature),
      },
      signature: hexlify(signed.signature),
    },
    null,
    2,
  )}\n`;
}

/** The refresh file of a signed attestation refresh (pretty JSON, ending with a newline). */
export function encodeRefreshFile(signed: SignedRefresh): string {
  const r = signed.refresh;
  return `${JSON.stringify(
    {
      type: REFRESH_FILE_TYPE,
      version: REPLICATION_FILE_VERSION,
      chainId: signed.chainId.toString(),
      registry: getAddress(signed.registry),
      node: getAddress(r.node),
      nonce: r.nonce.toString(),
      quote: hexlify(r.quote),
      eventLog: decodeEventLogBytes(r.eventLog),
      tcbStatus: r.tcbStatus,
      advisoryIds: [...r.advisoryIds],
      signature: hexlify(signed.signature),
    },
    null,
    2,
  )}\n`;
}

/** The onboarding file of a signed onboarding (pretty JSON, ending with a newline). */
export function encodeOnboardingFile(signed: SignedOnboarding): string {
  return `${JSON.stringify(
    {
      type: ONBOARDING_FILE_TYPE,
      version: REPLICATION_FILE_VERSION,
      chainId: signed.chainId.toString(),
      registry: getAddress(signed.registry),
      node: getAddress(signed.onboarding.node),
      quoteHash: signed.onboarding.quoteHash,
      ciphertext: hexlify(signed.onboarding.ciphertext),
      member: getAddress(signed.member),
      signature: hexlify(signed.signature),
    },
    null,
    2,
  )}\n`;
}

/** Parses a registration file; `source` names it in errors (a {@link UserError} naming the field at fault). */
export function parseRegistrationFile(text: string, source: string): SignedNodeRegistration {
  const file = new FileReader(source, text, REGISTRATION_FILE_TYPE);
  const boot = file.object("bootInfo");
  const chain = file.object("keyChain");
  const bootInfo: AppBootInfo = {
    appId: boot.address("appId"),
    composeHash: boot.hex("composeHash", 32),
    instanceId: boot.address("instanceId"),
    deviceId: boot.hex("deviceId", 32),
    mrAggregated: boot.hex("mrAggregated", 32),
    mrSystem: boot.hex("mrSystem", 32),
    osImageHash: boot.hex("osImageHash", 32),
    tcbStatus: boot.string("tcbStatus"),
    advisoryIds: boot.strings("advisoryIds"),
  };
  return {
    chainId: file.chainId(),
    registry: file.address("registry"),
    registration: {
      node: file.address("node"),
      encryptionPublicKey: file.hex("encryptionPublicKey"),
      bootInfo,
      quote: file.hex("quote"),
      eventLog: hexlify(encodeEventLogBytes(file.string("eventLog"))),
    },
    keyChain: {
      derivedPublicKey: chain.hex("derivedPublicKey", 33),
      appPublicKey: chain.hex("appPublicKey", 33),
      appSignature: chain.hex("appSignature", 65),
      kmsSignature: chain.hex("kmsSignature", 65),
    },
    signature: file.hex("signature", 65),
  };
}

/** Parses a refresh file; `source` names it in errors. */
export function parseRefreshFile(text: string, source: string): SignedRefresh {
  const file = new FileReader(source, text, REFRESH_FILE_TYPE);
  const nonce = file.string("nonce");
  if (!/^(0|[1-9]\d*)$/.test(nonce) || BigInt(nonce) >= 2n ** 64n) {
    throw new UserError(`${source}: field "nonce" must be a refresh count as a decimal string`);
  }
  return {
    chainId: file.chainId(),
    registry: file.address("registry"),
    refresh: {
      node: file.address("node"),
      nonce: BigInt(nonce),
      quote: file.hex("quote"),
      eventLog: hexlify(encodeEventLogBytes(file.string("eventLog"))),
      tcbStatus: file.string("tcbStatus"),
      advisoryIds: file.strings("advisoryIds"),
    },
    signature: file.hex("signature", 65),
  };
}

/** Parses an onboarding file; `source` names it in errors. */
export function parseOnboardingFile(text: string, source: string): SignedOnboarding {
  const file = new FileReader(source, text, ONBOARDING_FILE_TYPE);
  return {
    chainId: file.chainId(),
    registry: file.address("registry"),
    member: file.address("member"),
    onboarding: {
      node: file.address("node"),
      quoteHash: file.hex("quoteHash", 32),
      ciphertext: file.hex("ciphertext"),
    },
    signature: file.hex("signature", 65),
  };
}

/** Reads typed fields of one JSON object, naming the file and the field's path in every error. */
class FieldReader {
  constructor(
    protected readonly source: string,
    private readonly value: Record<string, unknown>,
    private readonly path: string,
  ) {}

  protected fail(name: string, expected: string): never {
    throw new UserError(`${this.source}: field "${this.path}${name}" must be ${expected}`);
  }

  private field(name: string): unknown {
    return this.value[name];
  }

  string(name: string): string {
    const value = this.field(name);
    if (typeof value !== "string") this.fail(name, "a string");
    return value;
  }

  strings(name: string): string[] {
    const value = this.field(name);
    if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
      this.fail(name, "an array of strings");
    }
    return [...(value as string[])];
  }

  /** `0x`-hex; exactly `length` bytes when given, else at least one byte. */
  hex(name: string, length?: number): string {
    const value = this.field(name);
    const expected = length === undefined ? "0x-prefixed hex of at least one byte" : `0x + ${length * 2} hex digits`;
    if (typeof value !== "string" || !isHexString(value, true)) this.fail(name, expected);
    const bytes = getBytes(value);
    if (length === undefined ? bytes.length === 0 : bytes.length !== length) this.fail(name, expected);
    return value.toLowerCase();
  }

  address(name: string): string {
    const value = this.field(name);
    if (typeof value !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(value) || !isAddress(value)) {
      this.fail(name, "an address (0x + 40 hex digits, with a valid checksum if mixed-case)");
    }
    return getAddress(value);
  }

  object(name: string): FieldReader {
    const value = this.field(name);
    if (value === null || typeof value !== "object" || Array.isArray(value)) this.fail(name, "an object");
    return new FieldReader(this.source, value as Record<string, unknown>, `${this.path}${name}.`);
  }
}

/** The top level of a replication file: its type and version are checked first. */
class FileReader extends FieldReader {
  constructor(source: string, text: string, type: string) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new UserError(`${source}: not JSON (${error instanceof Error ? error.message : String(error)})`);
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new UserError(`${source}: not a JSON object`);
    }
    super(source, value as Record<string, unknown>, "");
    const record = value as Record<string, unknown>;
    if (record["type"] !== type) {
      throw new UserError(`${source}: not a ${type} file (its "type" is ${JSON.stringify(record["type"])})`);
    }
    if (record["version"] !== REPLICATION_FILE_VERSION) {
      throw new UserError(
        `${source}: version ${JSON.stringify(record["version"])} is not supported (expected ${REPLICATION_FILE_VERSION})`,
      );
    }
  }

  chainId(): bigint {
    const value = this.string("chainId");
    if (!/^[1-9]\d*$/.test(value)) this.fail("chainId", "a chain id as a decimal string");
    return BigInt(value);
  }
}
