/**
 * The OS-pin tasks: pin at once, widen through a proposal, narrow at once but never to "any OS", unpin through a
 * proposal; and os-measurements, which computes the values to pin from dstack's own simulator attestation (a real
 * TDX quote and its event log) or from a CVM's `Info`.
 */
import { createHash } from "node:crypto";

import { Quote } from "@phala/dcap-qvl";
import { expect } from "chai";

import type { OsMeasurements } from "../../lib/osPin.js";
import type { ProposeResult } from "../../tasks/shared/changes.js";
import { loadDstackSimulator } from "../helpers/dstack-attestation.js";
import { deployApp, networkHelpers, runTask, runTaskOk, writeTempFile } from "./helpers.js";

const IMAGE_A = `0x${"0a".repeat(32)}`;
const IMAGE_B = `0x${"0b".repeat(32)}`;
const MR_SYSTEM = `0x${"5e".repeat(32)}`;

describe("OS-pin tasks", function () {
  it("pins at once, adds a value after the notice, removes one at once, and unpins only after the notice", async function () {
    const { app, appAuth, stranger } = await networkHelpers.loadFixture(deployApp);
    const pinned = await runTaskOk("pin-os", { app, field: "os-image", value: IMAGE_A });
    expect(pinned.stdout).to.include("takes effect at once");
    expect(await appAuth.getOsMeasurements(1)).to.deep.equal([IMAGE_A]);

    const proposed = await runTaskOk<ProposeResult>("propose-os", { app, field: "os-image", value: IMAGE_B });
    expect(proposed.stdout).to.include(`npx hardhat activate-os --app ${app} --field os-image --value ${IMAGE_B}`);
    expect((await runTask("activate-os", { app, field: "os-image", value: IMAGE_B })).errorMessage).to.match(
      /is not ready yet: ready at \S+Z \(in 7d 0h 0m\)$/,
    );
    await networkHelpers.time.increaseTo(proposed.value.readyAt);
    await runTaskOk("activate-os", { app, field: "os-image", value: IMAGE_B, from: stranger.address });
    expect(await appAuth.getOsMeasurements(1)).to.have.members([IMAGE_A, IMAGE_B]);

    await runTaskOk("remove-os", { app, field: "os-image", value: IMAGE_A });
    expect((await runTask("remove-os", { app, field: "os-image", value: IMAGE_B })).errorMessage).to.equal(
      `${IMAGE_B} is the last pinned OS image hash: removing it would allow any OS image hash, which widens what ` +
        `may boot, so it waits the notice: npx hardhat propose-unpin-os --app ${app} --field os-image --network default`,
    );

    const unpin = await runTaskOk<ProposeResult>("propose-unpin-os", { app, field: "os-image" });
    await networkHelpers.time.increaseTo(unpin.value.readyAt);
    await runTaskOk("activate-unpin-os", { app, field: "os-image" });
    expect(await appAuth.osPinned(1)).to.equal(false);
    expect(await appAuth.getOsMeasurements(1)).to.deep.equal([]);
  });

  it("cancels an addition and an unpinning", async function () {
    const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
    await runTaskOk("pin-os", { app, field: "mr-system", value: MR_SYSTEM });
    await runTaskOk("propose-os", { app, field: "mr-system", value: IMAGE_B });
    await runTaskOk("propose-unpin-os", { app, field: "mr-system" });
    await runTaskOk("cancel-os", { app, field: "mr-system", value: IMAGE_B });
    await runTaskOk("cancel-unpin-os", { app, field: "mr-system" });
    expect(await appAuth.getProposals()).to.deep.equal([]);
    expect(await appAuth.osPinned(0)).to.equal(true);
  });

  it("says which task applies when the field is pinned or not, and changes nothing", async function () {
    const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
    expect((await runTask("propose-os", { app, field: "os-image", value: IMAGE_B })).errorMessage).to.equal(
      "the OS image hash is not pinned, so every value is allowed already; to pin it (at once): " +
        `npx hardhat pin-os --app ${app} --field os-image --value ${IMAGE_B} --network default`,
    );
    expect((await runTask("propose-unpin-os", { app, field: "os-image" })).errorMessage).to.equal(
      "the OS image hash is not pinned: every value is allowed already",
    );
    await runTaskOk("pin-os", { app, field: "os-image", value: IMAGE_A });
    expect((await runTask("pin-os", { app, field: "os-image", value: IMAGE_B })).errorMessage).to.equal(
      "the OS image hash is already pinned: another value widens what may boot, so it waits the notice: " +
        `npx hardhat propose-os --app ${app} --field os-image --value ${IMAGE_B} --network default`,
    );
    expect((await runTask("propose-os", { app, field: "os-image", value: IMAGE_A })).errorMessage).to.equal(
      `OS image hash ${IMAGE_A} is already allowed by the app's OS pin`,
    );
    expect((await runTask("remove-os", { app, field: "os-image", value: IMAGE_B })).errorMessage).to.equal(
      `OS image hash ${IMAGE_B} is not among the app's pinned values`,
    );
    expect(await appAuth.getOsMeasurements(1)).to.deep.equal([IMAGE_A]);
    expect(await appAuth.getProposals()).to.deep.equal([]);
  });

  it("refuses a missing or unknown field and a missing, malformed or zero value", async function () {
    const { app, appAuth } = await networkHelpers.loadFixture(deployApp);
    expect((await runTask("pin-os", { app, value: IMAGE_A })).errorMessage).to.equal(
      "--field is required: which OS measurement: mr-system or os-image",
    );
    expect((await runTask("pin-os", { app, field: "kernel", value: IMAGE_A })).errorMessage).to.equal(
      '--field "kernel" is not valid: expected mr-system or os-image',
    );
    expect((await runTask("pin-os", { app, field: "os-image" })).errorMessage).to.equal(
      "--value is required: the OS image hash (bytes32); os-measurements computes it",
    );
    expect((await runTask("pin-os", { app, field: "os-image", value: "0x1234" })).errorMessage).to.match(
      /^--value "0x1234" is not valid: expected 0x followed by 64 hex digits/,
    );
    expect((await runTask("pin-os", { app, field: "os-image", value: `0x${"00".repeat(32)}` })).errorMessage).to.equal(
      `--value "0x${"00".repeat(32)}" is not valid: expected a non-zero 32-byte value`,
    );
    expect(await appAuth.osPinned(1)).to.equal(false);
  });
});

/** The VM config inside the simulator's config (a JSON string in JSON). */
function vmConfig(config: string): { os_image_hash: string } {
  return JSON.parse((JSON.parse(config) as { vm_config: string }).vm_config) as { os_image_hash: string };
}

describe("os-measurements", function () {
  /** dstack's simulator boot, and what it must give, computed here from the quote's registers and the VM config. */
  async function simulator() {
    const { attestation } = await loadDstackSimulator();
    const td = Quote.parse(attestation.quote).report.asTd10()!;
    const sha = createHash("sha256");
    for (const part of [td.mrTd, td.rtMr0, td.rtMr1, td.rtMr2, new Uint8Array(32)]) sha.update(part);
    const expected: OsMeasurements = {
      mrSystem: `0x${sha.digest("hex")}`,
      // The image the host named in the VM config (here 8 vCPUs, 16 GiB): what the KMS is given.
      osImageHash: `0x${vmConfig(attestation.config).os_image_hash}`,
    };
    const hex = (bytes: ArrayLike<number>) => Buffer.from(Uint8Array.from(bytes)).toString("hex");
    const info = {
      os_image_hash: expected.osImageHash!.slice(2),
      tcb_info: JSON.stringify({
        mrtd: hex(td.mrTd),
        rtmr0: hex(td.rtMr0),
        rtmr1: hex(td.rtMr1),
        rtmr2: hex(td.rtMr2),
        rtmr3: hex(td.rtMr3),
        event_log: attestation.eventLog,
      }),
    };
    return { attestation, expected, info };
  }

  it("computes what the KMS passes (mrSystem without the key provider) from a quote and its event log", async function () {
    const { attestation, expected } = await simulator();
    const quote = await writeTempFile("quote.hex", Buffer.from(attestation.quote).toString("hex"));
    const eventLog = await writeTempFile("event-log.json", JSON.stringify(attestation.eventLog));
    const run = await runTaskOk<OsMeasurements>("os-measurements", { quote, eventLog });
    expect(run.value).to.deep.equal(expected);
    expect(run.stdout).to.include(`npx hardhat pin-os --app <app> --field mr-system --value ${expected.mrSystem}`);
    expect(run.stdout).to.include(`--field os-image --value ${expected.osImageHash}`);
    const raw = await writeTempFile("quote.bin", attestation.quote);
    expect((await runTaskOk<OsMeasurements>("os-measurements", { quote: raw, eventLog })).value).to.deep.equal(
      expected,
    );
  });

  it("computes the same from a running CVM's Info", async function () {
    const { expected, info } = await simulator();
    const file = await writeTempFile("info.json", JSON.stringify(info));
    expect((await runTaskOk<OsMeasurements>("os-measurements", { info: file })).value).to.deep.equal(expected);
  });

  it("refuses an event log that does not replay to the quote, a file that is not a quote, and a mismatched Info", async function () {
    const { attestation, info } = await simulator();
    const quote = await writeTempFile("quote.bin", attestation.quote);
    const shortLog = await writeTempFile("log.json", JSON.stringify(attestation.eventLog.slice(0, -1)));
    expect((await runTask("os-measurements", { quote, eventLog: shortLog })).errorMessage).to.match(
      /^the event log replays RTMR3 to 0x[0-9a-f]{96}, the quote has 0x[0-9a-f]{96}$/,
    );
    const notQuote = await writeTempFile("not-a-quote.bin", "hello");
    const log = await writeTempFile("log.json", JSON.stringify(attestation.eventLog));
    expect((await runTask("os-measurements", { quote: notQuote, eventLog: log })).errorMessage).to.match(
      /^not a quote: /,
    );
    const tcb = JSON.parse(info.tcb_info) as Record<string, unknown>;
    const lying = { ...info, tcb_info: JSON.stringify({ ...tcb, event_log: attestation.eventLog.slice(0, -1) }) };
    expect(
      (await runTask("os-measurements", { info: await writeTempFile("info.json", JSON.stringify(lying)) }))
        .errorMessage,
    ).to.match(/^the Info's event log replays RTMR3 to 0x[0-9a-f]{96}, but its tcb_info.rtmr3 is 0x[0-9a-f]{96}$/);
    const otherImage = { ...info, os_image_hash: "ab".repeat(32) };
    expect(
      (await runTask("os-measurements", { info: await writeTempFile("info.json", JSON.stringify(otherImage)) }))
        .errorMessage,
    ).to.match(/^the Info reports os_image_hash 0x(ab){32} but its event log measured 0x[0-9a-f]{64}$/);
  });

  it("refuses no source, two sources, --quote without --event-log, and a file that is not JSON", async function () {
    const { attestation } = await simulator();
    const quote = await writeTempFile("quote.bin", attestation.quote);
    const info = await writeTempFile("info.json", "{}");
    expect((await runTask("os-measurements", {})).errorMessage).to.equal(
      "--quote or --info is required: a quote with its event log (--quote and --event-log), or a running CVM's Info (--info)",
    );
    expect((await runTask("os-measurements", { quote, info })).errorMessage).to.equal(
      "--quote and --info cannot be used together: give exactly one",
    );
    expect((await runTask("os-measurements", { quote })).errorMessage).to.equal(
      "--quote needs --event-log: the log that replays to the quote's RTMR3",
    );
    const notJson = await writeTempFile("info.txt", "not json");
    expect((await runTask("os-measurements", { info: notJson })).errorMessage).to.match(/^--info: not JSON \(/);
  });
});
