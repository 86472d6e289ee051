import { expect } from "chai";

import {
  formatClock,
  formatCountdown,
  formatDate,
  formatDateWithRelative,
  formatDuration,
  formatNotice,
  formatRelative,
  formatTable,
  shortHex,
} from "../../lib/format.js";

const HOUR = 3600n;
const DAY = 24n * HOUR;

describe("lib/format", function () {
  describe("formatDuration", function () {
    for (const [seconds, expected] of [
      [0n, "0s"],
      [59n, "59s"],
      [60n, "1m"],
      [3599n, "59m"],
      [HOUR, "1h 0m"],
      [3n * HOUR + 12n * 60n + 59n, "3h 12m"],
      [7n * DAY - 60n, "6d 23h 59m"],
      [7n * DAY, "7d 0h 0m"],
      [365n * DAY, "365d 0h 0m"],
    ] as const) {
      it(`formats ${seconds} s as "${expected}"`, function () {
        expect(formatDuration(seconds)).to.equal(expected);
      });
    }

    it("accepts numbers and ignores the sign", function () {
      expect(formatDuration(90)).to.equal("1m");
      expect(formatDuration(-90n)).to.equal("1m");
    });
  });

  describe("formatDate", function () {
    it("writes ISO 8601 UTC without milliseconds", function () {
      expect(formatDate(0n)).to.equal("1970-01-01T00:00:00Z");
      expect(formatDate(1_767_225_600n)).to.equal("2026-01-01T00:00:00Z");
      expect(formatDate(1_767_225_661)).to.equal("2026-01-01T00:01:01Z");
    });
  });

  describe("formatRelative and formatDateWithRelative", function () {
    it("says in how long, how long ago, or now", function () {
      expect(formatRelative(1000n + 2n * HOUR, 1000n)).to.equal("in 2h 0m");
      expect(formatRelative(1000n, 1000n + DAY)).to.equal("1d 0h 0m ago");
      expect(formatRelative(1000n, 1000n)).to.equal("now");
      expect(formatDateWithRelative(1_767_225_600n, 1_767_225_600n - 3n * HOUR - 720n)).to.equal(
        "2026-01-01T00:00:00Z (in 3h 12m)",
      );
    });
  });

  describe("formatCountdown", function () {
    const readyAt = 1_000_000n;
    const expiresAt = readyAt + 14n * DAY;

    it("counts down to readyAt", function () {
      expect(formatCountdown(readyAt, expiresAt, readyAt - 7n * DAY + 60n)).to.equal("ready in 6d 23h 59m");
      expect(formatCountdown(readyAt, expiresAt, readyAt - 1n)).to.equal("ready in 1s");
    });

    it("is ready from readyAt (inclusive) and says until when", function () {
      expect(formatCountdown(readyAt, expiresAt, readyAt)).to.equal("ready since 0s (expires in 14d 0h 0m)");
      expect(formatCountdown(readyAt, expiresAt, readyAt + 2n * HOUR)).to.equal(
        "ready since 2h 0m (expires in 13d 22h 0m)",
      );
    });

    it("is expired from expiresAt (inclusive)", function () {
      expect(formatCountdown(readyAt, expiresAt, expiresAt)).to.equal("expired 0s ago");
      expect(formatCountdown(readyAt, expiresAt, expiresAt + DAY)).to.equal("expired 1d 0h 0m ago");
    });
  });

  describe("formatNotice", function () {
    it("gives the duration and the exact seconds", function () {
      expect(formatNotice(7n * DAY)).to.equal("7d 0h 0m (604800 s)");
    });
  });

  describe("shortHex", function () {
    it("keeps the prefix, four digits at each end, and an ellipsis", function () {
      expect(shortHex(`0x50a3${"0".repeat(56)}e5a5`)).to.equal("0x50a3…e5a5");
    });

    it("leaves short values alone", function () {
      expect(shortHex("0x1234abcd")).to.equal("0x1234abcd");
    });
  });

  describe("formatTable", function () {
    it("pads every column but the last to its widest cell", function () {
      expect(
        formatTable(
          ["a", "bb", "c"],
          [
            ["xxx", "y", "z"],
            ["", "", ""],
          ],
        ),
      ).to.equal(["  a    bb  c", "  xxx  y   z", ""].join("\n"));
    });
  });

  describe("formatClock", function () {
    it("counts to the second, with days when there are any", function () {
      expect(formatClock(7n * DAY - 2n)).to.equal("6d 23:59:58");
      expect(formatClock(3 * 3600 + 12 * 60 + 5)).to.equal("03:12:05");
      expect(formatClock(0)).to.equal("00:00:00");
      expect(formatClock(-61)).to.equal("00:01:01");
    });
  });
});
