import { expect } from "chai";
import { network } from "hardhat";

import { UserError } from "../../lib/errors.js";
import {
  checkDeployParameters,
  MAX_NOTICE_SECONDS,
  MIN_NOTICE_SECONDS,
  readDeployParameters,
  RECOMMENDED_NOTICE_SECONDS,
} from "../../lib/deployParameters.js";

const OWNER = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const HASH = `0x${"AB".repeat(32)}`;
const DEVICE = `0x${"a1".repeat(32)}`;

const check = (parameters: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  checkDeployParameters({ TimelockedAppAuth: parameters, ...extra }, "p.json");

function problemsOf(parameters: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  try {
    check(parameters, extra);
  } catch (error) {
    expect(error).to.be.instanceOf(UserError);
    return (error as Error).message;
  }
  throw new Error("expected the parameters to be refused");
}

describe("lib/deployParameters", function () {
  it("normalizes a complete file: bigint notice, lower-case hashes, checksummed owner", function () {
    const { parameters, warnings } = check({
      owner: OWNER.toLowerCase(),
      noticePeriod: "1209600n",
      initialComposeHash: HASH,
      initialComposeUri: "https://example.org/app-compose.json",
      initialDevices: [DEVICE.toUpperCase().replace("0X", "0x")],
      allowAnyDevice: false,
      requireTcbUpToDate: true,
    });
    expect(parameters).to.deep.equal({
      owner: OWNER,
      noticePeriod: 1_209_600n,
      initialComposeHash: HASH.toLowerCase(),
      initialComposeUri: "https://example.org/app-compose.json",
      initialDevices: [DEVICE],
      allowAnyDevice: false,
      requireTcbUpToDate: true,
    });
    expect(warnings).to.deep.equal([]);
  });

  it("fills the module's defaults and warns about the owner and the notice it did not find", function () {
    const { parameters, warnings } = check({});
    expect(parameters).to.deep.equal({
      noticePeriod: RECOMMENDED_NOTICE_SECONDS,
      initialComposeHash: `0x${"0".repeat(64)}`,
      initialComposeUri: "",
      initialDevices: [],
      allowAnyDevice: false,
      requireTcbUpToDate: true,
    });
    expect(warnings).to.deep.equal([
      "no owner set: the deploying account becomes the owner (a multisig is recommended)",
      "no noticePeriod set: using the recommended 7d 0h 0m",
    ]);
  });

  it("accepts the notice bounds exactly, warning below seven days", function () {
    expect(check({ owner: OWNER, noticePeriod: Number(MIN_NOTICE_SECONDS) }).warnings).to.deep.equal([
      "noticePeriod 1h 0m is below the 7-day Stage-1 bar (ERC-733 / L2BEAT): users get less time to read a change " +
        "and leave than Stage 1 asks for",
    ]);
    expect(check({ owner: OWNER, noticePeriod: Number(MAX_NOTICE_SECONDS) }).warnings).to.deep.equal([]);
    expect(problemsOf({ owner: OWNER, noticePeriod: Number(MIN_NOTICE_SECONDS) - 1 })).to.include(
      "outside the contract's bounds",
    );
    expect(problemsOf({ owner: OWNER, noticePeriod: Number(MAX_NOTICE_SECONDS) + 1 })).to.include(
      "outside the contract's bounds",
    );
    expect(problemsOf({ noticePeriod: "7d" })).to.include('noticePeriod "7d" is not a whole number of seconds');
    expect(problemsOf({ noticePeriod: 3600.5 })).to.include("is not a whole number of seconds");
  });

  it("warns about flags that widen the policy from the start", function () {
    expect(
      check({ owner: OWNER, noticePeriod: 604800, allowAnyDevice: true, requireTcbUpToDate: false }).warnings,
    ).to.deep.equal([
      "allowAnyDevice is true: any TDX machine may run the app from the start",
      'requireTcbUpToDate is false: CVMs whose TCB is not "UpToDate" get keys',
    ]);
  });

  for (const [title, parameters, problem] of [
    ["a zero owner", { owner: `0x${"0".repeat(40)}` }, "owner is the zero address"],
    [
      "an owner with a broken checksum",
      { owner: "0xF39Fd6e51aad88F6F4ce6aB8827279cffFb92266" },
      "fails its EIP-55 checksum",
    ],
    [
      "a URI without a hash",
      { initialComposeUri: "https://x" },
      "initialComposeUri is set but initialComposeHash is not",
    ],
    [
      // The contract stores the URI exactly as the file writes it (Ignition passes the file's value).
      "a URI with spaces around it",
      { initialComposeHash: HASH, initialComposeUri: " https://x " },
      'initialComposeUri " https://x " starts or ends with spaces',
    ],
    ["a device listed twice", { initialDevices: [DEVICE, DEVICE] }, `initialDevices: ${DEVICE} is listed twice`],
    ["devices that are not a list", { initialDevices: DEVICE }, "initialDevices must be an array of device ids"],
    ["a malformed device", { initialDevices: ["0x01"] }, 'initialDevices: "0x01" is not 0x followed by 64 hex digits'],
    ["a flag that is not a boolean", { allowAnyDevice: "false" }, 'allowAnyDevice must be true or false, not "false"'],
  ] as const) {
    it(`refuses ${title}`, function () {
      expect(problemsOf(parameters)).to.include(problem);
    });
  }

  it("refuses another module's parameters, and a file without the module", function () {
    expect(problemsOf({}, { Other: {} })).to.include('unknown module "Other"');
    expect(() => checkDeployParameters({ Other: {} }, "p.json")).to.throw(
      UserError,
      'parameters file p.json: expected an object with a "TimelockedAppAuth" key, the module id',
    );
  });

  it("says when the file does not exist, or is not JSON", async function () {
    const missing = await readDeployParameters("ignition/parameters/nowhere.json").catch((e: unknown) => e);
    expect((missing as Error).message).to.match(/^parameters file ignition\/parameters\/nowhere\.json does not exist/);
    const notJson = await readDeployParameters("README.md").catch((e: unknown) => e);
    expect((notJson as Error).message).to.match(/^parameters file README\.md is not valid JSON: /);
  });

  it("matches the contract's notice bounds", async function () {
    const { ethers } = await network.getOrCreate();
    const [owner] = await ethers.getSigners();
    const appAuth = await ethers.deployContract("TimelockedAppAuth", [
      owner!.address,
      RECOMMENDED_NOTICE_SECONDS,
      `0x${"0".repeat(64)}`,
      "",
      [],
      false,
      true,
    ]);
    expect(await appAuth.MIN_NOTICE_PERIOD()).to.equal(MIN_NOTICE_SECONDS);
    expect(await appAuth.MAX_NOTICE_PERIOD()).to.equal(MAX_NOTICE_SECONDS);
  });

  it("accepts the committed parameters files (the Base example fails only on its placeholder owner)", async function () {
    await readDeployParameters("ignition/parameters/localhost.json");
    const error = await readDeployParameters("ignition/parameters/base.example.json").catch((e: unknown) => e);
    expect((error as Error).message).to.equal(
      "parameters file ignition/parameters/base.example.json is not valid; nothing was sent:\n" +
        "  - owner is the zero address: nobody could ever propose or revoke anything",
    );
  });
});
