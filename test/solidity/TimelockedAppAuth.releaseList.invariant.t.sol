// SPDX-License-Identifier: MIT
// Test-suite conventions: Foundry test names (invariant_...), descriptive messages, the handler next to its
// invariants, low-level calls so that the handler sees every outcome, ghost state laid out for reading.
// solhint-disable func-name-mixedcase, gas-small-strings, avoid-low-level-calls, one-contract-per-file
// solhint-disable max-states-count, gas-struct-packing

pragma solidity ^0.8.24;

import {TimelockedAppAuth} from "../../contracts/TimelockedAppAuth.sol";
import {IAppAuth} from "../../contracts/interfaces/IAppAuth.sol";
import {ITimelockedAppAuth} from "../../contracts/interfaces/ITimelockedAppAuth.sol";
import {Test, TestBase} from "./utils/Test.sol";
import {Vm} from "./utils/Vm.sol";

/// @title ReleaseListHandler
/// @notice Drives the release cycle (propose, activate in any order, activate and retire, cancel, remove, roll back,
/// re-propose after expiry) on more compose hashes than {TimelockedAppAuth.MAX_OPEN_PROPOSALS}, with device proposals
/// sharing the bound, so that the bound is reached and expired proposals of both kinds are pruned. It is the owner.
/// @dev The ghost model states what users are promised, not how the contract stores it: a hash is allowed iff it was
/// activated within its window (readyAt = proposal time + the notice then in force) and not removed since; a call the
/// promise allows succeeds and one it forbids reverts (each mismatch is counted, never reverted on: the fuzzer would
/// swallow it). Blocks advance only on {nextBlock}, so several proposals of a hash can share one block.
contract ReleaseListHandler is TestBase {
    uint256 internal constant GRACE = 14 days;
    uint256 internal constant MAX_OPEN = 32;
    /// @dev More hashes than the bound of open proposals, so that the bound is reached by compose hashes alone.
    uint256 internal constant HASHES = 40;
    uint256 internal constant DEVICES = 4;
    uint256 internal constant INITIAL_NOTICE = 1 hours;

    enum Status {
        None,
        Proposed,
        Allowed
    }

    /// @notice A compose hash as the model sees it.
    struct GhostHash {
        Status status;
        uint64 readyAt;
        uint64 uriBlock;
        uint64 allowedAt;
        string uri;
    }

    /// @notice What the checks after each call can find wrong.
    enum Violation {
        /// @dev A widening call succeeded that the promise forbids (not ready, expired, not proposed, disabled).
        WideningWithoutNotice,
        /// @dev A call the promise allows reverted (the owner or an activator is stuck).
        AllowedCallReverted,
        /// @dev A narrowing or bookkeeping call succeeded that should have been refused.
        BadCallSucceeded
    }

    /// @notice The last ChangeProposed log of a proposal id in a block: what a URI reader takes.
    struct LastLog {
        bool seen;
        uint64 readyAt;
        string uri;
    }

    TimelockedAppAuth public auth;
    address internal _keeper;
    bytes32[HASHES] internal _hashes;
    bytes32[DEVICES] internal _devices;

    GhostHash[HASHES] internal _ghost;
    /// @dev Open device proposals: readyAt, zero when none.
    uint64[DEVICES] internal _deviceReadyAt;
    bool[DEVICES] internal _deviceAllowed;
    uint256 public ghostNotice;
    bool public ghostUpgradesDisabled;
    /// @dev Index of the current release in {_hashes}, or `HASHES` for none.
    uint256 public ghostCurrent;
    uint64 public ghostReleaseSetAt;

    mapping(uint256 blockNumber => mapping(bytes32 id => LastLog log)) internal _lastLogs;

    uint256[3] internal _violations;
    string[3] internal _firstViolations;

    uint256 public activations;
    uint256 public prunes;
    uint256 public removals;

    constructor() {
        _keeper = makeAddr("keeper");
        for (uint256 i = 0; i < HASHES; ++i) {
            _hashes[i] = keccak256(abi.encode("release", i));
        }
        for (uint256 i = 0; i < DEVICES; ++i) {
            _devices[i] = keccak256(abi.encode("device", i));
        }
        vm.recordLogs();
        // Any device and any TCB: isAppAllowed then answers the compose-hash rule alone.
        auth = new TimelockedAppAuth(
            address(this), INITIAL_NOTICE, _hashes[0], "ipfs://genesis", new bytes32[](0), true, false
        );
        _readLogs();
        ghostNotice = INITIAL_NOTICE;
        _ghost[0] = GhostHash({
            status: Status.Allowed,
            readyAt: uint64(block.timestamp),
            uriBlock: uint64(block.number),
            allowedAt: uint64(block.timestamp),
            uri: "ipfs://genesis"
        });
        ghostCurrent = 0;
        ghostReleaseSetAt = uint64(block.timestamp);
    }

    /// @notice The functions the fuzzer calls.
    function actions() external pure returns (bytes4[] memory selectors) {
        selectors = new bytes4[](15);
        selectors[0] = this.warp.selector;
        selectors[1] = this.warpToProposal.selector;
        selectors[2] = this.nextBlock.selector;
        selectors[3] = this.propose.selector;
        selectors[4] = this.proposeMany.selector;
        selectors[5] = this.activate.selector;
        selectors[6] = this.activateAndRetire.selector;
        selectors[7] = this.cancel.selector;
        selectors[8] = this.remove.selector;
        selectors[9] = this.rollBackTo.selector;
        selectors[10] = this.proposeDevice.selector;
        selectors[11] = this.activateDevice.selector;
        selectors[12] = this.cancelDevice.selector;
        selectors[13] = this.lengthenNotice.selector;
        selectors[14] = this.disableUpgrades.selector;
    }

    // Clock and blocks ---------------------------------------------------------------------------------------------

    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 0, 16 days));
    }

    /// @notice Jumps to an edge of an open compose-hash proposal's window: one second before ready, ready, its last
    /// second, expired.
    function warpToProposal(uint256 hashSeed, uint256 edge) external {
        for (uint256 k = 0; k < HASHES; ++k) {
            GhostHash storage g = _ghost[(hashSeed + k) % HASHES];
            if (g.status != Status.Proposed) continue;
            uint256[4] memory targets = [uint256(g.readyAt) - 1, g.readyAt, g.readyAt + GRACE - 1, g.readyAt + GRACE];
            uint256 target = targets[edge % 4];
            if (target > block.timestamp) vm.warp(target);
            return;
        }
    }

    function nextBlock() external {
        vm.roll(block.number + 1);
    }

    // Compose hashes -----------------------------------------------------------------------------------------------

    function propose(uint256 hashSeed, uint256 uriSeed) public {
        uint256 i = hashSeed % HASHES;
        string memory uri = string.concat("ipfs://", vm.toString(i), "/", vm.toString(uriSeed % 3));
        GhostHash storage g = _ghost[i];
        bool expected;
        bool needsRoom;
        if (ghostUpgradesDisabled || g.status == Status.Allowed) {
            expected = false;
        } else if (g.status == Status.Proposed) {
            // No timer reset: only an expired proposal may be made again.
            expected = block.timestamp >= uint256(g.readyAt) + GRACE;
        } else {
            needsRoom = _openCount() >= MAX_OPEN;
            expected = !needsRoom || _expiredCount() > 0;
        }
        bool ok = _call(abi.encodeCall(ITimelockedAppAuth.proposeComposeHash, (_hashes[i], uri)));
        _check(ok, expected, false, "proposeComposeHash", i);
        if (!ok) return;
        if (needsRoom) {
            _pruneExpiredInModel();
            ++prunes;
        }
        g.status = Status.Proposed;
        g.readyAt = uint64(block.timestamp + ghostNotice);
        g.uriBlock = uint64(block.number);
        g.uri = uri;
    }

    /// @notice Proposes `count` hashes in a row from `hashSeed` on, so that runs reach the bound.
    function proposeMany(uint256 hashSeed, uint256 count) external {
        count = bound(count, 1, 12);
        for (uint256 k = 0; k < count; ++k) {
            propose(hashSeed + k, k);
        }
    }

    /// @notice Anyone activates a compose hash (mostly an open proposal).
    function activate(uint256 hashSeed) external {
        uint256 i = _pick(hashSeed, Status.Proposed);
        vm.prank(_keeper);
        (bool ok,) = address(auth).call(abi.encodeCall(ITimelockedAppAuth.activateComposeHash, (_hashes[i])));
        _readLogs();
        _check(ok, _activatable(i), true, "activateComposeHash", i);
        if (ok) _allowInModel(i);
    }

    /// @notice The owner activates a compose hash and retires the allowed hashes `retireMask` picks (bit k: the k-th
    /// hash from `retireSeed` on), possibly the new one or one that is not allowed, which must refuse the whole call.
    function activateAndRetire(uint256 hashSeed, uint256 retireSeed, uint256 retireMask) external {
        uint256 i = _pick(hashSeed, Status.Proposed);
        uint256 count;
        uint256[] memory picked = new uint256[](6);
        bytes32[] memory retired = new bytes32[](6);
        bool expected = _activatable(i);
        for (uint256 k = 0; k < 6; ++k) {
            if ((retireMask >> k) & 1 == 0) continue;
            uint256 r = _pick(retireSeed + k, Status.Allowed);
            // Each must be allowed before the call, listed once, and not the new one.
            if (r == i || _ghost[r].status != Status.Allowed) expected = false;
            for (uint256 j = 0; j < count; ++j) {
                if (picked[j] == r) expected = false;
            }
            picked[count] = r;
            retired[count++] = _hashes[r];
        }
        assembly ("memory-safe") {
            mstore(retired, count)
        }
        bool ok = _call(abi.encodeCall(ITimelockedAppAuth.activateComposeHashAndRetire, (_hashes[i], retired)));
        _check(ok, expected, true, "activateComposeHashAndRetire", i);
        if (!ok) return;
        _allowInModel(i);
        for (uint256 k = 0; k < count; ++k) {
            _removeInModel(picked[k]);
        }
    }

    function cancel(uint256 hashSeed) external {
        uint256 i = _pick(hashSeed, Status.Proposed);
        bool ok = _call(abi.encodeCall(ITimelockedAppAuth.cancelComposeHash, (_hashes[i])));
        _check(ok, _ghost[i].status == Status.Proposed, false, "cancelComposeHash", i);
        if (ok) delete _ghost[i];
    }

    function remove(uint256 hashSeed) external {
        uint256 i = _pick(hashSeed, Status.Allowed);
        bool ok = _call(abi.encodeCall(ITimelockedAppAuth.removeComposeHash, (_hashes[i])));
        _check(ok, _ghost[i].status == Status.Allowed, false, "removeComposeHash", i);
        if (ok) _removeInModel(i);
    }

    function rollBackTo(uint256 hashSeed) external {
        uint256 i = _pick(hashSeed, Status.Allowed);
        bool ok = _call(abi.encodeCall(ITimelockedAppAuth.rollBackTo, (_hashes[i])));
        _check(ok, _ghost[i].status == Status.Allowed && ghostCurrent != i, false, "rollBackTo", i);
        if (!ok) return;
        ghostCurrent = i;
        ghostReleaseSetAt = uint64(block.timestamp);
    }

    // Devices (proposals of another kind, sharing the bound) -------------------------------------------------------

    function proposeDevice(uint256 deviceSeed) external {
        uint256 d = deviceSeed % DEVICES;
        bool expected;
        bool needsRoom;
        if (ghostUpgradesDisabled || _deviceAllowed[d]) {
            expected = false;
        } else if (_deviceReadyAt[d] != 0) {
            expected = block.timestamp >= uint256(_deviceReadyAt[d]) + GRACE;
        } else {
            needsRoom = _openCount() >= MAX_OPEN;
            expected = !needsRoom || _expiredCount() > 0;
        }
        bool ok = _call(abi.encodeCall(ITimelockedAppAuth.proposeDevice, (_devices[d])));
        _check(ok, expected, false, "proposeDevice", d);
        if (!ok) return;
        if (needsRoom) {
            _pruneExpiredInModel();
            ++prunes;
        }
        _deviceReadyAt[d] = uint64(block.timestamp + ghostNotice);
    }

    function activateDevice(uint256 deviceSeed) external {
        uint256 d = deviceSeed % DEVICES;
        uint256 readyAt = _deviceReadyAt[d];
        bool expected =
            !ghostUpgradesDisabled && readyAt != 0 && block.timestamp >= readyAt && block.timestamp < readyAt + GRACE;
        vm.prank(_keeper);
        (bool ok,) = address(auth).call(abi.encodeCall(ITimelockedAppAuth.activateDevice, (_devices[d])));
        _readLogs();
        _check(ok, expected, true, "activateDevice", d);
        if (!ok) return;
        _deviceReadyAt[d] = 0;
        _deviceAllowed[d] = true;
    }

    function cancelDevice(uint256 deviceSeed) external {
        uint256 d = deviceSeed % DEVICES;
        bool ok = _call(abi.encodeCall(ITimelockedAppAuth.cancelDevice, (_devices[d])));
        _check(ok, _deviceReadyAt[d] != 0, false, "cancelDevice", d);
        if (ok) _deviceReadyAt[d] = 0;
    }

    // Notice and the end of upgrades -------------------------------------------------------------------------------

    /// @notice Lengthens the notice: proposals already open keep their readyAt, later ones wait the new notice.
    function lengthenNotice(uint256 seed) external {
        uint256[4] memory notices = [uint256(2 hours), 1 days, 3 days, 7 days];
        uint256 notice = notices[seed % 4];
        bool ok = _call(abi.encodeCall(ITimelockedAppAuth.lengthenNoticePeriod, (notice)));
        _check(ok, notice > ghostNotice, false, "lengthenNoticePeriod", notice);
        if (ok) ghostNotice = notice;
    }

    /// @notice Disables upgrades, in one call of 16 (a run should do most of its work before).
    function disableUpgrades(uint256 seed) external {
        if (seed % 16 != 0) return;
        bool ok = _call(abi.encodeCall(ITimelockedAppAuth.disableUpgrades, ()));
        _check(ok, !ghostUpgradesDisabled, false, "disableUpgrades", 0);
        if (ok) ghostUpgradesDisabled = true;
    }

    // Views for the invariants -------------------------------------------------------------------------------------

    function hashes() external view returns (bytes32[HASHES] memory) {
        return _hashes;
    }

    function ghost(uint256 i) external view returns (GhostHash memory) {
        return _ghost[i];
    }

    function deviceReadyAt(uint256 d) external view returns (uint64) {
        return _deviceReadyAt[d];
    }

    function devices() external view returns (bytes32[DEVICES] memory) {
        return _devices;
    }

    function lastLog(uint256 blockNumber, bytes32 id) external view returns (LastLog memory) {
        return _lastLogs[blockNumber][id];
    }

    function violations(Violation kind) external view returns (uint256 count, string memory first) {
        return (_violations[uint256(kind)], _firstViolations[uint256(kind)]);
    }

    function openCount() external view returns (uint256) {
        return _openCount();
    }

    // Internals ----------------------------------------------------------------------------------------------------

    function _call(bytes memory data) internal returns (bool ok) {
        (ok,) = address(auth).call(data);
        _readLogs();
    }

    /// @dev Compares the outcome with the promise. `widening`: a success the promise forbids lets something boot
    /// early.
    function _check(bool ok, bool expected, bool widening, string memory what, uint256 index) internal {
        if (ok == expected) return;
        Violation kind = !ok
            ? Violation.AllowedCallReverted
            : (widening ? Violation.WideningWithoutNotice : Violation.BadCallSucceeded);
        if (_violations[uint256(kind)]++ == 0) {
            _firstViolations[uint256(kind)] = string.concat(
                what, " #", vm.toString(index), ok ? " succeeded" : " reverted", " at ", vm.toString(block.timestamp)
            );
        }
    }

    /// @dev A hash for a call that needs `status`: in three calls of four the first hash from `seed` on that has it
    /// (when one does), else any hash, so that refusals are tried too.
    function _pick(uint256 seed, Status status) internal view returns (uint256) {
        uint256 start = seed % HASHES;
        if ((seed >> 128) % 4 == 0) return start;
        for (uint256 k = 0; k < HASHES; ++k) {
            uint256 i = (start + k) % HASHES;
            if (_ghost[i].status == status) return i;
        }
        return start;
    }

    function _activatable(uint256 i) internal view returns (bool) {
        GhostHash storage g = _ghost[i];
        return !ghostUpgradesDisabled && g.status == Status.Proposed && block.timestamp >= g.readyAt
            && block.timestamp < uint256(g.readyAt) + GRACE;
    }

    function _allowInModel(uint256 i) internal {
        ++activations;
        _ghost[i].status = Status.Allowed;
        _ghost[i].allowedAt = uint64(block.timestamp);
        ghostCurrent = i;
        ghostReleaseSetAt = uint64(block.timestamp);
    }

    /// @dev A removed current release stays named by `currentRelease()` (not allowed, no URI) until another is set.
    function _removeInModel(uint256 i) internal {
        ++removals;
        delete _ghost[i];
    }

    function _openCount() internal view returns (uint256 n) {
        for (uint256 i = 0; i < HASHES; ++i) {
            if (_ghost[i].status == Status.Proposed) ++n;
        }
        for (uint256 d = 0; d < DEVICES; ++d) {
            if (_deviceReadyAt[d] != 0) ++n;
        }
    }

    function _expiredCount() internal view returns (uint256 n) {
        for (uint256 i = 0; i < HASHES; ++i) {
            if (_ghost[i].status == Status.Proposed && block.timestamp >= uint256(_ghost[i].readyAt) + GRACE) ++n;
        }
        for (uint256 d = 0; d < DEVICES; ++d) {
            if (_deviceReadyAt[d] != 0 && block.timestamp >= uint256(_deviceReadyAt[d]) + GRACE) ++n;
        }
    }

    /// @dev The documented rule: when a new proposal needs room, every expired proposal (of any kind) is dropped.
    function _pruneExpiredInModel() internal {
        for (uint256 i = 0; i < HASHES; ++i) {
            if (_ghost[i].status == Status.Proposed && block.timestamp >= uint256(_ghost[i].readyAt) + GRACE) {
                delete _ghost[i];
            }
        }
        for (uint256 d = 0; d < DEVICES; ++d) {
            if (_deviceReadyAt[d] != 0 && block.timestamp >= uint256(_deviceReadyAt[d]) + GRACE) _deviceReadyAt[d] = 0;
        }
    }

    /// @dev Keeps, per block and proposal id, the last ChangeProposed log (what a URI reader of that block takes).
    function _readLogs() internal {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 k = 0; k < logs.length; ++k) {
            Vm.Log memory log = logs[k];
            if (log.emitter != address(auth) || log.topics[0] != ITimelockedAppAuth.ChangeProposed.selector) continue;
            (uint64 readyAt,, string memory uri) = abi.decode(log.data, (uint64, uint64, string));
            _lastLogs[block.number][log.topics[1]] = LastLog({seen: true, readyAt: readyAt, uri: uri});
        }
    }
}

/// @title TimelockedAppAuthReleaseListInvariantTest
/// @notice The release list's promises under any sequence of release-cycle calls: every view tells the same story
/// (`getComposeHashes`, its pages, `allowedComposeHashes`, `isAppAllowed`, `currentRelease`, `getProposals`,
/// `getProposal`), the story is the model's (allowed iff activated after its notice and not removed since), the
/// bound of open proposals holds, and each hash's URI is the one a reader of its `uriBlock` finds.
contract TimelockedAppAuthReleaseListInvariantTest is Test {
    uint256 internal constant HASHES = 40;
    uint256 internal constant DEVICES = 4;
    uint256 internal constant GRACE = 14 days;
    /// @dev Storage slots of the contract (pinned for the TypeScript reader by test/lib/verified-layout.test.ts).
    uint256 internal constant POLICY_SLOT = 2;
    uint256 internal constant ENTRIES_SLOT = 3;
    uint256 internal constant LIST_SLOT = 4;

    ReleaseListHandler internal handler;
    TimelockedAppAuth internal auth;

    function setUp() public {
        handler = new ReleaseListHandler();
        auth = handler.auth();
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: handler.actions()}));
    }

    /// @dev Nothing is allowed before its notice has run (or after its window, or once upgrades are disabled), and
    /// every call the promise allows succeeds: no sequence of list moves leaves the owner or an activator stuck.
    /// Each invariant_ function is a campaign of its own: the view checks share one, so the suite stays short.
    /// hardhat-config: invariant.runs = 64
    function invariant_callsKeepThePromise() public view {
        _assertNone(ReleaseListHandler.Violation.WideningWithoutNotice);
        _assertNone(ReleaseListHandler.Violation.AllowedCallReverted);
        _assertNone(ReleaseListHandler.Violation.BadCallSucceeded);
    }

    /// @dev Every view tells the model's story.
    /// hardhat-config: invariant.runs = 64
    function invariant_viewsTellTheModelsStory() public view {
        _allowedViewsAgreeWithTheModel();
        _currentReleaseIsTheModels();
        _openProposalsAreTheModels();
        _theUriReaderFindsTheLatestProposal();
    }

    /// @dev `getComposeHashes()` lists exactly the hashes the model allows, once each, and so do its pages (with each
    /// hash's allowedAt), `allowedComposeHashes`, `composeHashAllowedAt`, `composeHashUriBlock` and `isAppAllowed`.
    function _allowedViewsAgreeWithTheModel() internal view {
        bytes32[HASHES] memory hashes = handler.hashes();
        bytes32[] memory listed = auth.getComposeHashes();
        uint256 allowedCount;
        IAppAuth.AppBootInfo memory boot;
        boot.appId = address(auth);
        boot.tcbStatus = "UpToDate";
        for (uint256 i = 0; i < HASHES; ++i) {
            ReleaseListHandler.GhostHash memory g = handler.ghost(i);
            bool allowed = g.status == ReleaseListHandler.Status.Allowed;
            if (allowed) ++allowedCount;
            assertEq(_occurrences(listed, hashes[i]), allowed ? 1 : 0, "getComposeHashes lists it once iff allowed");
            assertEq(auth.allowedComposeHashes(hashes[i]), allowed, "allowedComposeHashes");
            boot.composeHash = hashes[i];
            (bool isAllowed,) = auth.isAppAllowed(boot);
            assertEq(isAllowed, allowed, "isAppAllowed");
            assertEq(auth.composeHashAllowedAt(hashes[i]), allowed ? g.allowedAt : 0, "composeHashAllowedAt");
            assertEq(auth.composeHashUriBlock(hashes[i]), allowed ? g.uriBlock : 0, "composeHashUriBlock");
        }
        assertEq(listed.length, allowedCount, "getComposeHashes length");
        uint256 seen;
        for (uint256 start = 0; start <= listed.length; start += 3) {
            (bytes32[] memory page, uint64[] memory allowedAt, uint256 total) = auth.getComposeHashesPage(start, 3);
            assertEq(total, listed.length, "page total");
            for (uint256 k = 0; k < page.length; ++k) {
                assertEq(page[k], listed[start + k], "page element");
                assertEq(allowedAt[k], auth.composeHashAllowedAt(page[k]), "page allowedAt");
                ++seen;
            }
        }
        assertEq(seen, listed.length, "pages cover the list");
    }

    /// @dev `currentRelease()` names the hash last activated or rolled back to, with its URI's block while it is
    /// allowed (none once removed).
    function _currentReleaseIsTheModels() internal view {
        (bytes32 release, uint64 uriBlock, uint64 setAt) = auth.currentRelease();
        uint256 current = handler.ghostCurrent();
        ReleaseListHandler.GhostHash memory g = handler.ghost(current);
        assertEq(release, handler.hashes()[current], "current release");
        assertEq(uriBlock, g.status == ReleaseListHandler.Status.Allowed ? g.uriBlock : 0, "current release uriBlock");
        assertEq(setAt, handler.ghostReleaseSetAt(), "current release setAt");
    }

    /// @dev `getProposals()` and `getProposal(id)` list exactly the model's open proposals (at most the bound), each
    /// with the readyAt fixed at its proposal and its URI's block.
    function _openProposalsAreTheModels() internal view {
        bytes32[HASHES] memory hashes = handler.hashes();
        ITimelockedAppAuth.ProposalView[] memory open = auth.getProposals();
        assertEq(open.length, handler.openCount(), "getProposals length");
        assertLe(open.length, auth.MAX_OPEN_PROPOSALS(), "open proposals above the bound");
        for (uint256 i = 0; i < HASHES; ++i) {
            ReleaseListHandler.GhostHash memory g = handler.ghost(i);
            bool proposed = g.status == ReleaseListHandler.Status.Proposed;
            bytes32 id = auth.proposalId(ITimelockedAppAuth.ChangeKind.AddComposeHash, hashes[i]);
            ITimelockedAppAuth.ProposalView memory p = auth.getProposal(id);
            assertEq(p.readyAt, proposed ? g.readyAt : 0, "getProposal readyAt");
            assertEq(p.uriBlock, proposed ? g.uriBlock : 0, "getProposal uriBlock");
            uint256 listed;
            for (uint256 k = 0; k < open.length; ++k) {
                if (open[k].id != id) continue;
                ++listed;
                assertEq(open[k].value, hashes[i], "getProposals value");
                assertEq(open[k].readyAt, g.readyAt, "getProposals readyAt");
                assertEq(open[k].uriBlock, g.uriBlock, "getProposals uriBlock");
            }
            assertEq(listed, proposed ? 1 : 0, "getProposals lists a hash once iff proposed");
        }
        bytes32[DEVICES] memory devices = handler.devices();
        for (uint256 d = 0; d < DEVICES; ++d) {
            bytes32 id = auth.proposalId(ITimelockedAppAuth.ChangeKind.AddDevice, devices[d]);
            assertEq(auth.getProposal(id).readyAt, handler.deviceReadyAt(d), "device proposal readyAt");
        }
    }

    /// @dev The URI reader's rule (the last ChangeProposed log of the proposal's id in the block storage points at)
    /// finds the URI and readyAt of the hash's latest proposal, for every proposed or allowed hash.
    function _theUriReaderFindsTheLatestProposal() internal view {
        bytes32[HASHES] memory hashes = handler.hashes();
        for (uint256 i = 0; i < HASHES; ++i) {
            ReleaseListHandler.GhostHash memory g = handler.ghost(i);
            if (g.status == ReleaseListHandler.Status.None) continue;
            bytes32 id = auth.proposalId(ITimelockedAppAuth.ChangeKind.AddComposeHash, hashes[i]);
            ReleaseListHandler.LastLog memory log = handler.lastLog(g.uriBlock, id);
            assertTrue(log.seen, "no ChangeProposed log in the block storage points at");
            assertEq(log.uri, g.uri, "the last log of the block carries another URI");
            assertEq(log.readyAt, g.readyAt, "the last log of the block carries another readyAt");
        }
    }

    /// @dev The packed list is consistent with the views: the allowed hashes are `[allowedStart, allowedEnd)`, the
    /// proposed ones `[allowedEnd, proposedEnd)`, each entry's position holds its hash, `currentPosition` names the
    /// current release while it is allowed, and `otherProposals` counts the open device proposals.
    /// hardhat-config: invariant.runs = 64
    function invariant_listPositionsHoldTheirHashes() public view {
        uint256 policy = uint256(vm.load(address(auth), bytes32(POLICY_SLOT)));
        uint256 currentPosition = uint32(policy >> (13 * 8));
        uint256 allowedStart = uint32(policy >> (17 * 8));
        uint256 allowedEnd = uint32(policy >> (21 * 8));
        uint256 proposedEnd = uint32(policy >> (25 * 8));
        uint256 otherProposals = uint8(policy >> (29 * 8));
        bytes32[HASHES] memory hashes = handler.hashes();
        uint256 allowedCount;
        uint256 proposedCount;
        for (uint256 i = 0; i < HASHES; ++i) {
            uint256 word = uint256(vm.load(address(auth), keccak256(abi.encode(hashes[i], ENTRIES_SLOT))));
            uint256 status = uint8(word);
            uint256 position = uint32(word >> 8);
            ReleaseListHandler.Status expected = handler.ghost(i).status;
            assertEq(status, uint256(expected), "entry status");
            if (expected == ReleaseListHandler.Status.None) {
                assertEq(word, 0, "a hash that is neither proposed nor allowed keeps a word");
                continue;
            }
            if (expected == ReleaseListHandler.Status.Allowed) {
                ++allowedCount;
                assertTrue(position >= allowedStart && position < allowedEnd, "allowed hash outside the allowed range");
            } else {
                ++proposedCount;
                assertTrue(position >= allowedEnd && position < proposedEnd, "proposal outside the proposed range");
            }
            assertEq(_listAt(position), hashes[i], "the list at the entry's position holds another hash");
        }
        assertEq(allowedEnd - allowedStart, allowedCount, "allowed range length");
        assertEq(proposedEnd - allowedEnd, proposedCount, "proposed range length");
        uint256 openDevices;
        for (uint256 d = 0; d < DEVICES; ++d) {
            if (handler.deviceReadyAt(d) != 0) ++openDevices;
        }
        assertEq(otherProposals, openDevices, "otherProposals");
        uint256 current = handler.ghostCurrent();
        if (handler.ghost(current).status == ReleaseListHandler.Status.Allowed) {
            assertTrue(currentPosition > allowedStart && currentPosition <= allowedEnd, "currentPosition range");
            assertEq(_listAt(currentPosition - 1), hashes[current], "currentPosition names another hash");
        } else {
            assertEq(currentPosition, 0, "currentPosition of a removed release");
        }
    }

    // Helpers ------------------------------------------------------------------------------------------------------

    function _assertNone(ReleaseListHandler.Violation kind) internal view {
        (uint256 count, string memory first) = handler.violations(kind);
        assertEq(count, 0, first);
    }

    function _listAt(uint256 position) internal view returns (bytes32) {
        return vm.load(address(auth), keccak256(abi.encode(position, LIST_SLOT)));
    }

    function _occurrences(bytes32[] memory list, bytes32 value) internal pure returns (uint256 n) {
        for (uint256 i = 0; i < list.length; ++i) {
            if (list[i] == value) ++n;
        }
    }
}
