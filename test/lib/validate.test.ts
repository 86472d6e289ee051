import { expect } from "chai";

import { ConflictingOptionsError, InvalidOptionError, MissingOptionError } from "../../lib/errors.js";
import {
  checkBlockNumber,
  checkInteger,
  checkUnixTime,
  exactlyOneOf,
  parseAddress,
  parseBytes32,
  parseDuration,
  parseMilliseconds,
  requireOption,
} from "../../lib/validate.js";

const CHECKSUMMED = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

describe("lib/validate", function () {
  describe("parseBytes32", function () {
    it("accepts 0x + 64 hex digits and lower-cases them", function () {
      expect(parseBytes32("hash", ` 0x${"AB".repeat(32)} `)).to.equal(`0x${"ab".repeat(32)}`);
    });

    for (const [value, detail] of [
      ["0x1234", "got 4 hex digits"],
      [`0x${"a".repeat(66)}`, "got 66 hex digits"],
      ["a".repeat(64), "got 64 hex digits and no 0x prefix"],
      [`0x${"g".repeat(64)}`, "got characters that are not hex digits"],
    ] as const) {
      it(`refuses ${value.slice(0, 12)}…: ${detail}`, function () {
        expect(() => parseBytes32("hash", value))
          .to.throw(InvalidOptionError)
          .with.property(
            "message",
            `--hash ${JSON.stringify(value)} is not valid: expected 0x followed by 64 hex digits (32 bytes); ${detail}`,
          );
      });
    }
  });

  describe("parseAddress", function () {
    it("accepts lower-case and checksummed addresses and returns them checksummed", function () {
      expect(parseAddress("app", CHECKSUMMED.toLowerCase())).to.equal(CHECKSUMMED);
      expect(parseAddress("app", CHECKSUMMED)).to.equal(CHECKSUMMED);
    });

    it("refuses an address whose checksum fails (a likely typo)", function () {
      const typo = CHECKSUMMED.replace("f39F", "f38F");
      expect(() => parseAddress("app", typo)).to.throw(
        `--app "${typo}" is not valid: expected an address whose EIP-55 checksum holds; this one fails it: check for a typo`,
      );
    });

    it("refuses what is not an address", function () {
      expect(() => parseAddress("from", "alice")).to.throw(
        '--from "alice" is not valid: expected an address: 0x followed by 40 hex digits',
      );
    });
  });

  describe("parseDuration", function () {
    for (const [text, seconds] of [
      ["3600", 3600n],
      ["7d", 604_800n],
      ["36h", 129_600n],
      ["1d12h", 129_600n],
      ["90m", 5400n],
      ["2w", 1_209_600n],
      [" 7D ", 604_800n],
      ["45s", 45n],
    ] as const) {
      it(`reads "${text}" as ${seconds} s`, function () {
        expect(parseDuration("notice", text)).to.equal(seconds);
      });
    }

    for (const text of ["7 days", "-1", "1.5d", "", "d"]) {
      it(`refuses "${text}"`, function () {
        expect(() => parseDuration("notice", text)).to.throw(InvalidOptionError, `--notice ${JSON.stringify(text)}`);
      });
    }

    it("refuses zero", function () {
      expect(() => parseDuration("notice", "0d")).to.throw("expected a duration longer than zero");
    });
  });

  describe("parseMilliseconds", function () {
    it("reads units down to milliseconds, and plain numbers as seconds like parseDuration", function () {
      expect(parseMilliseconds("poll-interval", "250ms")).to.equal(250);
      expect(parseMilliseconds("poll-interval", "12s")).to.equal(12_000);
      expect(parseMilliseconds("poll-interval", "1h30m")).to.equal(5_400_000);
      expect(parseMilliseconds("poll-interval", " 2D ")).to.equal(172_800_000);
      expect(parseMilliseconds("poll-interval", "30")).to.equal(30_000);
    });

    it("refuses other text, and zero unless allowed", function () {
      expect(() => parseMilliseconds("poll-interval", "1.5s")).to.throw(InvalidOptionError, '--poll-interval "1.5s"');
      expect(() => parseMilliseconds("poll-interval", "0ms")).to.throw("expected a duration longer than zero");
      expect(parseMilliseconds("poll-interval", "0s", { allowZero: true })).to.equal(0);
    });
  });

  describe("checkInteger, checkBlockNumber and checkUnixTime", function () {
    it("accept an integer in range", function () {
      expect(checkBlockNumber("from-block", 123)).to.equal(123);
      expect(checkBlockNumber("from-block", 0)).to.equal(0);
      expect(checkUnixTime("at", 1_750_809_600)).to.equal(1_750_809_600);
      expect(checkInteger("port", 65_535, "a port", { max: 65_535 })).to.equal(65_535);
    });

    it("refuse a negative, a fraction or an unsafe integer, which a programmatic caller can pass", function () {
      expect(() => checkBlockNumber("from-block", -1))
        .to.throw(InvalidOptionError)
        .with.property("message", '--from-block "-1" is not valid: expected a block number (a non-negative integer)');
      expect(() => checkUnixTime("at", 1.5)).to.throw(
        '--at "1.5" is not valid: expected a unix time in seconds (e.g. 1750809600)',
      );
      expect(() => checkBlockNumber("from-block", 2 ** 53)).to.throw(InvalidOptionError);
    });

    it("refuse a value outside the given range", function () {
      expect(() => checkInteger("confirmations", 0, "1 to 1000", { min: 1, max: 1000 })).to.throw(
        '--confirmations "0" is not valid: expected 1 to 1000',
      );
      expect(() => checkInteger("confirmations", 1001, "1 to 1000", { min: 1, max: 1000 })).to.throw(
        InvalidOptionError,
      );
    });
  });

  describe("requireOption and exactlyOneOf", function () {
    it("names the missing option and why it is needed", function () {
      expect(() => requireOption("app", undefined, "the app's address"))
        .to.throw(MissingOptionError)
        .with.property("message", "--app is required: the app's address");
      expect(() => requireOption("app", "  ", "x")).to.throw(MissingOptionError);
    });

    it("picks the one option given, and refuses none or several", function () {
      expect(exactlyOneOf({ hash: undefined, file: "a.json" }, "why")).to.deep.equal({
        option: "file",
        value: "a.json",
      });
      expect(() => exactlyOneOf({ hash: "0x", file: "a.json" }, "why")).to.throw(
        ConflictingOptionsError,
        "--hash and --file cannot be used together: give exactly one",
      );
      expect(() => exactlyOneOf({ hash: undefined, file: "" }, "why")).to.throw(
        MissingOptionError,
        "--hash or --file is required: why",
      );
    });
  });
});
