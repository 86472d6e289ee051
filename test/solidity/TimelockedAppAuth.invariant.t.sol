// SPDX-License-Identifier: MIT
// Test-suite conventions: Foundry test names (invariant_...), descriptive messages, the handler next to its
// invariants, low-level calls so that the handler sees every outcome, ghost state laid out for reading.
// solhint-disable func-name-mixedcase, gas-small-strings, avoid-low-level-calls, one-contract-per-file
// solhint-disable max-states-count, gas-struct-packing

pragma solidity ^0.8.24;

import {TimelockedAppAuth} from "../../contracts/TimelockedAppAuth.sol";
import {IAppAuth} from "../../contracts/interfaces/IAppAuth.sol";
import {ITimelockedAppAuth} from "../../contracts/interfaces/ITimelockedAppAuth.sol";
import {AppAuthCalls} from "./utils/AppAuthCalls.sol";
import {Test, TestBase} from "./utils/Test.sol";
import {Vm} from "./utils/Vm.sol";

/// @title TimelockedAppAuthHandler
/// @notice The only contract the invariant fuzzer calls. It plays the owner (who changes hands), attackers and
/// anyone-activators, and the clock, on a {TimelockedAppAuth} it deploys. Values come from small sets (4 compose
/// hashes, 3 devices, 10 notice periods including the two just out of bounds) so that proposals collide.
/// @dev Two kinds of bookkeeping:
/// - a ghost model of what the policy should be (allowed sets, flags, notice, owner, release, open proposals with
///   the time and the notice of their proposal), updated from the outcome of each call;
/// - violation counters, incremented by checks run after every call on the difference between the contract's
///   state before and after it. A check fails only by incrementing a counter: a revert here would be swallowed
///   by the fuzzer, the invariants read the counters.
contract TimelockedAppAuthHandler is TestBase {
    using AppAuthCalls for ITimelockedAppAuth.ChangeKind;

    uint256 internal constant MIN = 1 hours;
    uint256 internal constant MAX = 365 days;
    uint256 internal constant GRACE = 14 days;
    /// @dev Long enough that five valid shortenings fit under it, so that runs reach a shortening that lands as a
    /// lengthening (proposed at a longer notice than the one in force when it is activated).
    uint256 internal constant INITIAL_NOTICE = 14 days;
    uint256 internal constant HASHES = 4;
    uint256 internal constant DEVICES = 3;
    uint256 internal constant OWNERS = 3;
    /// @dev Per OS measurement (mrSystem, OS image hash): three values that may be pinned or proposed, and a fourth,
    /// `_os[f][OS_VALUES]`, that nobody ever pins or proposes, so it boots only while the field is unpinned.
    uint256 internal constant OS_VALUES = 3;

    /// @notice A proposal as the ghost model saw it made.
    struct GhostProposal {
        bool open;
        ITimelockedAppAuth.ChangeKind kind;
        uint64 proposedAt;
        uint64 noticeAtProposal;
        uint64 lastSeenReadyAt;
        /// @dev The longest notice the notice was raised to (by any call) since the proposal; zero if never raised.
        uint64 highestRaiseSince;
        bytes32 value;
        /// @dev The block of its ChangeProposed, which carries a compose hash's URI.
        uint64 proposedInBlock;
    }

    /// @notice The policy as the ghost model expects it (also frozen when upgrades are disabled).
    struct Policy {
        bool[HASHES] hashAllowed;
        bool[DEVICES] deviceAllowed;
        bool allowAnyDevice;
        bool requireTcbUpToDate;
        uint256 notice;
        bool[2] osPinned;
        bool[OS_VALUES][2] osAllowed;
    }

    /// @dev The contract's observable state, read before and after each call.
    struct Snapshot {
        bool[HASHES] hashAllowed;
        uint256 hashCount;
        bool[DEVICES] deviceAllowed;
        uint256 deviceCount;
        bool allowAnyDevice;
        bool requireTcbUpToDate;
        uint256 notice;
        bytes32 release;
        uint64 releaseSetAt;
        /// @dev Whether each OS value (the never-pinned one last) may boot, as `allowedOsMeasurement` answers.
        bool[OS_VALUES + 1][2] osAllowed;
        uint256[2] osCount;
    }

    /// @notice A value the handler looked up is not one of its value sets (a bug in the handler).
    error NotInValueSet(bytes32 value);

    TimelockedAppAuth public auth;

    bytes32[HASHES] internal _hashes;
    bytes32[DEVICES] internal _devices;
    bytes32[OS_VALUES + 1][2] internal _os;
    address[OWNERS] internal _owners;
    address internal _keeper;
    address internal _stranger;

    // Ghost model --------------------------------------------------------------------------------------------------

    Policy internal _policy;
    uint64[HASHES] internal _hashUriBlocks;
    uint64[HASHES] internal _hashAllowedAt;
    bytes32 public ghostRelease;
    bool public ghostUpgradesDisabled;
    Policy internal _policyAtDisable;
    address public ghostOwner;
    address public ghostPendingOwner;
    address public ghostPreviousOwner;

    mapping(bytes32 id => GhostProposal proposal) internal _proposals;
    bytes32[] internal _proposalIds;
    mapping(bytes32 id => bool seen) internal _known;

    // Violations (every count must stay zero) ------------------------------------------------------------------

    /// @notice What the checks after each call can find wrong.
    enum Violation {
        WideningWithoutNotice,
        WideningAfterDisable,
        ProposalAfterDisable,
        ReadyAtDecrease,
        TimerReset,
        NonOwnerSuccess,
        BadRelease,
        ShorteningOutlivedLongerNotice,
        AuditActorNotSender
    }

    uint256[9] internal _violations;
    string[9] internal _firstViolations;

    /// @notice The policy as an indexer rebuilds it from dstack's audit event (PolicyChanged) alone, as it would for
    /// dstack's DstackApp: per (label, value) the last `enabled`; a notice from its value.
    struct AuditedPolicy {
        bool[HASHES] hashAllowed;
        bool[DEVICES] deviceAllowed;
        bool allowAnyDevice;
        bool requireTcbUpToDate;
        bool upgradesDisabled;
        uint256 notice;
        bool[2] osPinned;
        bool[OS_VALUES + 1][2] osAllowed;
    }

    AuditedPolicy internal _audited;

    // Call statistics (successful calls by kind of action). Not asserted: log them from an `afterInvariant()` when
    // changing the handler, to check that runs still reach activations, cancellations and disabled upgrades. --------

    uint256 public proposals;
    uint256 public activations;
    uint256 public cancellations;
    uint256 public narrowings;
    uint256 public ownershipChanges;

    constructor() {
        _keeper = makeAddr("keeper");
        _stranger = makeAddr("stranger");
        for (uint256 i = 0; i < OWNERS; ++i) {
            _owners[i] = makeAddr(string.concat("owner ", vm.toString(i)));
        }
        for (uint256 i = 0; i < HASHES; ++i) {
            _hashes[i] = keccak256(abi.encode("app-compose.json", i));
        }
        for (uint256 i = 0; i < DEVICES; ++i) {
            _devices[i] = keccak256(abi.encode("device", i));
        }
        for (uint256 f = 0; f < 2; ++f) {
            for (uint256 i = 0; i <= OS_VALUES; ++i) {
                _os[f][i] = keccak256(abi.encode("os", f, i));
            }
        }

        bytes32[] memory genesisDevices = new bytes32[](1);
        genesisDevices[0] = _devices[0];
        vm.recordLogs();
        auth = new TimelockedAppAuth(_owners[0], INITIAL_NOTICE, _hashes[0], "ipfs://0", genesisDevices, false, true);
        _readAudit(address(this), true);

        _policy.hashAllowed[0] = true;
        _hashUriBlocks[0] = uint64(block.number);
        _hashAllowedAt[0] = uint64(block.timestamp);
        _policy.deviceAllowed[0] = true;
        _policy.requireTcbUpToDate = true;
        _policy.notice = INITIAL_NOTICE;
        ghostRelease = _hashes[0];
        ghostOwner = _owners[0];
    }

    /// @notice The functions the fuzzer calls.
    function actions() external pure returns (bytes4[] memory selectors) {
        selectors = new bytes4[](27);
        selectors[0] = this.warp.selector;
        selectors[1] = this.warpToProposal.selector;
        selectors[2] = this.proposeComposeHash.selector;
        selectors[3] = this.proposeDevice.selector;
        selectors[4] = this.proposeFlag.selector;
        selectors[5] = this.proposeNoticePeriod.selector;
        selectors[6] = this.activate.selector;
        selectors[7] = this.activateKnown.selector;
        selectors[8] = this.activateOpen.selector;
        selectors[9] = this.cancel.selector;
        selectors[10] = this.removeComposeHash.selector;
        selectors[11] = this.removeDevice.selector;
        selectors[12] = this.restrictDevices.selector;
        selectors[13] = this.requireUpToDateTcb.selector;
        selectors[14] = this.lengthenNoticePeriod.selector;
        selectors[15] = this.rollBackTo.selector;
        selectors[16] = this.disableUpgrades.selector;
        selectors[17] = this.renounceOwnership.selector;
        selectors[18] = this.transferOwnership.selector;
        selectors[19] = this.acceptOwnership.selector;
        selectors[20] = this.attack.selector;
        selectors[21] = this.activateAndRetire.selector;
        selectors[22] = this.activateOpenShortening.selector;
        selectors[23] = this.pinOs.selector;
        selectors[24] = this.proposeOsMeasurement.selector;
        selectors[25] = this.proposeUnpinOs.selector;
        selectors[26] = this.removeOsMeasurement.selector;
    }

    // =========================================================================================================
    // The clock
    // =========================================================================================================

    /// @notice Moves time forward by up to 3 days.
    function warp(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 0, 3 days));
    }

    /// @notice Jumps to an edge of an open proposal's window (as the ghost computed it): one second before ready,
    /// ready, the last second, expired, or somewhere inside.
    function warpToProposal(uint256 idSeed, uint256 edge) external {
        uint256 n = _proposalIds.length;
        for (uint256 i = 0; i < n; ++i) {
            GhostProposal storage g = _proposals[_proposalIds[(idSeed + i) % n]];
            if (!g.open) continue;
            uint256 readyAt = uint256(g.proposedAt) + g.noticeAtProposal;
            uint256[5] memory targets =
                [readyAt - 1, readyAt, readyAt + GRACE - 1, readyAt + GRACE, readyAt + bound(edge >> 8, 0, GRACE)];
            uint256 target = targets[edge % 5];
            if (target > block.timestamp) vm.warp(target);
            return;
        }
    }

    // =========================================================================================================
    // Widening changes: the owner proposes, anyone activates, the owner cancels
    // =========================================================================================================

    function proposeComposeHash(uint256 hashSeed, uint256 uriSeed) external {
        _propose(ITimelockedAppAuth.ChangeKind.AddComposeHash, _hashes[hashSeed % HASHES], _uri(uriSeed));
    }

    function proposeDevice(uint256 deviceSeed) external {
        _propose(ITimelockedAppAuth.ChangeKind.AddDevice, _devices[deviceSeed % DEVICES], "");
    }

    /// @notice Proposes allowing any device or allowing an outdated TCB.
    function proposeFlag(bool anyDevice) external {
        _propose(
            anyDevice ? ITimelockedAppAuth.ChangeKind.AllowAnyDevice : ITimelockedAppAuth.ChangeKind.AllowOutdatedTcb,
            bytes32(0),
            ""
        );
    }

    function proposeNoticePeriod(uint256 noticeSeed) external {
        _propose(ITimelockedAppAuth.ChangeKind.ShortenNotice, bytes32(_notice(noticeSeed)), "");
    }

    /// @notice Proposes another value for an OS pin (refused while the field is unpinned, or for a pinned value).
    function proposeOsMeasurement(uint256 fieldSeed, uint256 valueSeed) external {
        ITimelockedAppAuth.OsMeasurement field = ITimelockedAppAuth.OsMeasurement(fieldSeed % 2);
        _propose(AppAuthCalls.addOs(field), _os[uint256(field)][valueSeed % OS_VALUES], "");
    }

    function proposeUnpinOs(uint256 fieldSeed) external {
        _propose(AppAuthCalls.unpinOs(ITimelockedAppAuth.OsMeasurement(fieldSeed % 2)), bytes32(0), "");
    }

    /// @notice Anyone tries to activate a change drawn from the value sets (often never proposed, or not ready).
    function activate(uint256 kindSeed, uint256 valueSeed, uint256 callerSeed) external {
        ITimelockedAppAuth.ChangeKind kind = _kind(kindSeed);
        _activate(kind, _value(kind, valueSeed), callerSeed);
    }

    /// @notice Anyone tries to activate a change that was proposed at some point (open or not).
    function activateKnown(uint256 idSeed, uint256 callerSeed) external {
        if (_proposalIds.length == 0) return;
        GhostProposal storage g = _proposals[_proposalIds[idSeed % _proposalIds.length]];
        _activate(g.kind, g.value, callerSeed);
    }

    /// @notice Anyone tries to activate a proposal that is open (waiting, ready or expired).
    function activateOpen(uint256 idSeed, uint256 callerSeed) external {
        uint256 n = _proposalIds.length;
        for (uint256 i = 0; i < n; ++i) {
            GhostProposal storage g = _proposals[_proposalIds[(idSeed + i) % n]];
            if (g.open) return _activate(g.kind, g.value, callerSeed);
        }
    }

    /// @notice The owner activates an open compose-hash proposal and retires the allowed hashes `retireMask` picks
    /// (possibly none, possibly the new one or one that is not allowed, which must refuse the whole call).
    function activateAndRetire(uint256 idSeed, uint256 retireMask) external {
        uint256 n = _proposalIds.length;
        for (uint256 i = 0; i < n; ++i) {
            GhostProposal storage g = _proposals[_proposalIds[(idSeed + i) % n]];
            if (!g.open || g.kind != ITimelockedAppAuth.ChangeKind.AddComposeHash) continue;
            uint256 count;
            bytes32[] memory retired = new bytes32[](HASHES);
            for (uint256 h = 0; h < HASHES; ++h) {
                if ((retireMask >> h) & 1 == 1) retired[count++] = _hashes[h];
            }
            assembly ("memory-safe") {
                mstore(retired, count)
            }
            bytes memory data = abi.encodeCall(ITimelockedAppAuth.activateComposeHashAndRetire, (g.value, retired));
            if (!_callAsOwner(data)) return;
            ++activations;
            _activateInModel(g);
            for (uint256 r = 0; r < count; ++r) {
                uint256 h = _indexOf(_hashes, retired[r]);
                _policy.hashAllowed[h] = false;
                _hashUriBlocks[h] = 0;
                _hashAllowedAt[h] = 0;
            }
            return;
        }
    }

    /// @notice Anyone tries to activate an open shortening of the notice, the one `idSeed` picks among them: open
    /// shortenings activated in any order reach the case of one proposed at a longer notice than the one now in force.
    function activateOpenShortening(uint256 idSeed, uint256 callerSeed) external {
        uint256 n = _proposalIds.length;
        for (uint256 i = 0; i < n; ++i) {
            GhostProposal storage g = _proposals[_proposalIds[(idSeed + i) % n]];
            if (g.open && g.kind == ITimelockedAppAuth.ChangeKind.ShortenNotice) {
                return _activate(g.kind, g.value, callerSeed);
            }
        }
    }

    /// @notice Cancels a proposal, on one call in three (so that most proposals live long enough to be ready).
    function cancel(uint256 idSeed, uint256 chance) external {
        address owner = ghostOwner;
        if (owner == address(0) || _proposalIds.length == 0 || chance % 3 != 0) return;
        bytes32 id = _proposalIds[idSeed % _proposalIds.length];
        GhostProposal storage g = _proposals[id];
        if (!_call(owner, g.kind.cancel(g.value))) return;
        ++cancellations;
        g.open = false;
    }

    // =========================================================================================================
    // Narrowing changes: instant, owner only
    // =========================================================================================================

    function removeComposeHash(uint256 hashSeed) external {
        uint256 i = hashSeed % HASHES;
        if (!_callAsOwner(abi.encodeCall(ITimelockedAppAuth.removeComposeHash, (_hashes[i])))) return;
        ++narrowings;
        _policy.hashAllowed[i] = false;
        _hashUriBlocks[i] = 0;
        _hashAllowedAt[i] = 0;
    }

    function removeDevice(uint256 deviceSeed) external {
        uint256 i = deviceSeed % DEVICES;
        if (!_callAsOwner(abi.encodeCall(ITimelockedAppAuth.removeDevice, (_devices[i])))) return;
        ++narrowings;
        _policy.deviceAllowed[i] = false;
    }

    function restrictDevices() external {
        if (!_callAsOwner(abi.encodeCall(ITimelockedAppAuth.restrictDevices, ()))) return;
        ++narrowings;
        _policy.allowAnyDevice = false;
    }

    function requireUpToDateTcb() external {
        if (!_callAsOwner(abi.encodeCall(ITimelockedAppAuth.requireUpToDateTcb, ()))) return;
        ++narrowings;
        _policy.requireTcbUpToDate = true;
    }

    function lengthenNoticePeriod(uint256 noticeSeed) external {
        uint256 notice = _notice(noticeSeed);
        if (!_callAsOwner(abi.encodeCall(ITimelockedAppAuth.lengthenNoticePeriod, (notice)))) return;
        ++narrowings;
        _policy.notice = notice;
        // What a longer notice does to open shortenings is the rule checked in {_keepTheNoticePromise}.
    }

    /// @notice Pins an OS measurement at once (refused when it is pinned already).
    function pinOs(uint256 fieldSeed, uint256 valueSeed) external {
        uint256 f = fieldSeed % 2;
        uint256 i = valueSeed % OS_VALUES;
        bytes memory data = abi.encodeCall(ITimelockedAppAuth.pinOs, (ITimelockedAppAuth.OsMeasurement(f), _os[f][i]));
        if (!_callAsOwner(data)) return;
        ++narrowings;
        _policy.osPinned[f] = true;
        _policy.osAllowed[f][i] = true;
    }

    /// @notice Removes a pinned OS value at once (refused for the last one).
    function removeOsMeasurement(uint256 fieldSeed, uint256 valueSeed) external {
        uint256 f = fieldSeed % 2;
        uint256 i = valueSeed % OS_VALUES;
        ITimelockedAppAuth.OsMeasurement field = ITimelockedAppAuth.OsMeasurement(f);
        if (!_callAsOwner(abi.encodeCall(ITimelockedAppAuth.removeOsMeasurement, (field, _os[f][i])))) return;
        ++narrowings;
        _policy.osAllowed[f][i] = false;
    }

    function rollBackTo(uint256 hashSeed) external {
        bytes32 hash = _hashes[hashSeed % HASHES];
        if (!_callAsOwner(abi.encodeCall(ITimelockedAppAuth.rollBackTo, (hash)))) return;
        ++narrowings;
        ghostRelease = hash;
    }

    /// @notice Disables upgrades, on one call in 32 (so that most runs keep widening for a while).
    function disableUpgrades(uint256 seed) external {
        if (seed % 32 != 5) return;
        if (!_callAsOwner(abi.encodeCall(ITimelockedAppAuth.disableUpgrades, ()))) return;
        ++narrowings;
        _disableUpgradesInModel();
    }

    /// @notice Renounces ownership, on one call in 32.
    function renounceOwnership(uint256 seed) external {
        if (seed % 32 != 5) return;
        if (!_callAsOwner(abi.encodeWithSignature("renounceOwnership()"))) return;
        ++ownershipChanges;
        if (!ghostUpgradesDisabled) _disableUpgradesInModel();
        ghostPreviousOwner = ghostOwner;
        ghostOwner = address(0);
        ghostPendingOwner = address(0);
    }

    function transferOwnership(uint256 ownerSeed) external {
        address candidate = _owners[ownerSeed % OWNERS];
        if (!_callAsOwner(abi.encodeWithSignature("transferOwnership(address)", candidate))) return;
        ghostPendingOwner = candidate;
    }

    function acceptOwnership() external {
        address pending = ghostPendingOwner;
        if (pending == address(0)) return;
        if (!_call(pending, abi.encodeWithSignature("acceptOwnership()"))) return;
        ++ownershipChanges;
        ghostPreviousOwner = ghostOwner;
        ghostOwner = pending;
        ghostPendingOwner = address(0);
    }

    // =========================================================================================================
    // Attackers
    // =========================================================================================================

    /// @notice Someone who is not the owner (a stranger, the keeper, the previous owner, the pending owner or an
    /// owner candidate) calls an owner-only function with arguments the owner could have used successfully.
    function attack(uint256 actorSeed, uint256 functionSeed, uint256 hashSeed, uint256 deviceSeed, uint256 noticeSeed)
        external
    {
        address[5] memory candidates =
            [_stranger, _keeper, ghostPreviousOwner, ghostPendingOwner, _owners[(actorSeed / 5) % OWNERS]];
        address attacker = candidates[actorSeed % 5];
        if (attacker == address(0) || attacker == ghostOwner) attacker = _stranger;

        bytes[] memory calls = AppAuthCalls.ownerOnly(
            _hashes[hashSeed % HASHES],
            _devices[deviceSeed % DEVICES],
            _notice(noticeSeed),
            _uri(hashSeed),
            attacker,
            _os[deviceSeed % 2][noticeSeed % OS_VALUES]
        );
        uint256 which = functionSeed % (calls.length + 1);
        bytes memory data = which == calls.length ? abi.encodeWithSignature("acceptOwnership()") : calls[which];
        if (which == calls.length && attacker == ghostPendingOwner) return; // that one is allowed to accept

        if (_call(attacker, data)) {
            _violate(Violation.NonOwnerSuccess, "a non-owner changed the policy or its ownership");
        }
    }

    // =========================================================================================================
    // Views for the invariants
    // =========================================================================================================

    /// @notice How many times a check found `kind` of violation, and a description of the first one.
    function audited() external view returns (AuditedPolicy memory) {
        return _audited;
    }

    function violations(Violation kind) external view returns (uint256 count, string memory first) {
        return (_violations[uint256(kind)], _firstViolations[uint256(kind)]);
    }

    function hashes() external view returns (bytes32[HASHES] memory) {
        return _hashes;
    }

    function devices() external view returns (bytes32[DEVICES] memory) {
        return _devices;
    }

    function policy() external view returns (Policy memory) {
        return _policy;
    }

    function policyAtDisable() external view returns (Policy memory) {
        return _policyAtDisable;
    }

    function osValues() external view returns (bytes32[OS_VALUES + 1][2] memory) {
        return _os;
    }

    function hashUriBlock(uint256 i) external view returns (uint64) {
        return _hashUriBlocks[i];
    }

    function hashAllowedAt(uint256 i) external view returns (uint64) {
        return _hashAllowedAt[i];
    }

    function proposalIds() external view returns (bytes32[] memory) {
        return _proposalIds;
    }

    function proposal(bytes32 id) external view returns (GhostProposal memory) {
        return _proposals[id];
    }

    // =========================================================================================================
    // Internals
    // =========================================================================================================

    function _propose(ITimelockedAppAuth.ChangeKind kind, bytes32 value, string memory uri) internal {
        address owner = ghostOwner;
        if (owner == address(0)) return;
        bytes32 id = kind.id(value);
        GhostProposal storage g = _proposals[id];
        bool wasOpen = g.open && block.timestamp < uint256(g.proposedAt) + g.noticeAtProposal + GRACE;

        if (!_call(owner, kind.propose(value, uri))) return;
        ++proposals;
        if (ghostUpgradesDisabled) {
            _violate(Violation.ProposalAfterDisable, "proposal accepted after upgrades were disabled");
        }
        if (wasOpen) _violate(Violation.TimerReset, "open proposal proposed again (timer reset)");
        if (!_known[id]) {
            _known[id] = true;
            _proposalIds.push(id);
        }
        _proposals[id] = GhostProposal({
            open: true,
            kind: kind,
            value: value,
            proposedAt: uint64(block.timestamp),
            noticeAtProposal: uint64(_policy.notice),
            lastSeenReadyAt: uint64(block.timestamp + _policy.notice),
            highestRaiseSince: 0,
            proposedInBlock: uint64(block.number)
        });
    }

    function _activate(ITimelockedAppAuth.ChangeKind kind, bytes32 value, uint256 callerSeed) internal {
        address[5] memory anyone = [_keeper, _stranger, _owners[0], _owners[1], _owners[2]];
        if (!_call(anyone[callerSeed % 5], kind.activate(value))) return;
        ++activations;
        _activateInModel(_proposals[kind.id(value)]);
    }

    function _activateInModel(GhostProposal storage g) internal {
        ITimelockedAppAuth.ChangeKind kind = g.kind;
        bytes32 value = g.value;
        g.open = false;
        if (kind == ITimelockedAppAuth.ChangeKind.AddComposeHash) {
            uint256 i = _indexOf(_hashes, value);
            _policy.hashAllowed[i] = true;
            _hashUriBlocks[i] = g.proposedInBlock;
            _hashAllowedAt[i] = uint64(block.timestamp);
            ghostRelease = value;
        } else if (kind == ITimelockedAppAuth.ChangeKind.AddDevice) {
            _policy.deviceAllowed[_indexOf(_devices, value)] = true;
        } else if (kind == ITimelockedAppAuth.ChangeKind.AllowAnyDevice) {
            _policy.allowAnyDevice = true;
        } else if (kind == ITimelockedAppAuth.ChangeKind.AllowOutdatedTcb) {
            _policy.requireTcbUpToDate = false;
        } else if (kind == ITimelockedAppAuth.ChangeKind.ShortenNotice) {
            _policy.notice = uint256(value);
        } else if (AppAuthCalls.isOsAddition(kind)) {
            uint256 f = uint256(AppAuthCalls.osField(kind));
            _policy.osAllowed[f][_osIndex(f, value)] = true;
        } else {
            uint256 f = uint256(AppAuthCalls.osField(kind));
            _policy.osPinned[f] = false;
            delete _policy.osAllowed[f];
        }
    }

    function _callAsOwner(bytes memory data) internal returns (bool) {
        address owner = ghostOwner;
        return owner != address(0) && _call(owner, data);
    }

    /// @dev Calls the policy as `caller` and checks the difference its call made to the policy.
    function _call(address caller, bytes memory data) internal returns (bool ok) {
        Snapshot memory before = _snapshot();
        vm.recordLogs();
        vm.prank(caller);
        (ok,) = address(auth).call(data);
        _readAudit(caller, ok);
        Snapshot memory after_ = _snapshot();
        _checkTransition(before, after_);
        if (after_.notice > before.notice) _keepTheNoticePromise(after_.notice);
        _checkReadyAtNeverDecreases();
    }

    /// @dev The rule: once the notice is raised to N (by lengthening, or by a shortening proposed when the notice was
    /// longer still), users were promised N, so no shortening to below N announced before that moment may stay open
    /// (and so none can ever land). The model closes those proposals; a contract that kept one open is a violation.
    function _keepTheNoticePromise(uint256 raisedTo) internal {
        for (uint256 i = 0; i < _proposalIds.length; ++i) {
            GhostProposal storage g = _proposals[_proposalIds[i]];
            if (!g.open || g.kind != ITimelockedAppAuth.ChangeKind.ShortenNotice) continue;
            if (raisedTo > g.highestRaiseSince) g.highestRaiseSince = uint64(raisedTo);
            if (uint256(g.value) >= raisedTo) continue;
            g.open = false;
            if (auth.getProposal(_proposalIds[i]).readyAt != 0) {
                _violate(Violation.ShorteningOutlivedLongerNotice, "a shortening outlived a longer notice set after it");
            }
        }
    }

    function _snapshot() internal view returns (Snapshot memory s) {
        for (uint256 i = 0; i < HASHES; ++i) {
            s.hashAllowed[i] = auth.allowedComposeHashes(_hashes[i]);
        }
        for (uint256 i = 0; i < DEVICES; ++i) {
            s.deviceAllowed[i] = auth.allowedDeviceIds(_devices[i]);
        }
        s.hashCount = auth.getComposeHashes().length;
        s.deviceCount = auth.getDevices().length;
        s.allowAnyDevice = auth.allowAnyDevice();
        s.requireTcbUpToDate = auth.requireTcbUpToDate();
        s.notice = auth.noticePeriod();
        (s.release,, s.releaseSetAt) = auth.currentRelease();
        for (uint256 f = 0; f < 2; ++f) {
            ITimelockedAppAuth.OsMeasurement field = ITimelockedAppAuth.OsMeasurement(f);
            for (uint256 i = 0; i <= OS_VALUES; ++i) {
                s.osAllowed[f][i] = auth.allowedOsMeasurement(field, _os[f][i]);
            }
            s.osCount[f] = auth.getOsMeasurements(field).length;
        }
    }

    /// @dev Every widening the call made must be backed by an open proposal of that very change whose notice (as
    /// recorded when it was proposed) has run and whose grace window has not; and none may happen once upgrades
    /// are disabled. A release that changed must be allowed and stamped now.
    function _checkTransition(Snapshot memory b, Snapshot memory a) internal {
        uint256 listedHashes;
        for (uint256 i = 0; i < HASHES; ++i) {
            if (a.hashAllowed[i]) ++listedHashes;
            if (a.hashAllowed[i] && !b.hashAllowed[i]) {
                _checkWidening(ITimelockedAppAuth.ChangeKind.AddComposeHash, _hashes[i]);
            }
        }
        if (a.hashCount != listedHashes) {
            _violate(Violation.WideningWithoutNotice, "a compose hash nobody proposed is allowed");
        }
        uint256 listedDevices;
        for (uint256 i = 0; i < DEVICES; ++i) {
            if (a.deviceAllowed[i]) ++listedDevices;
            if (a.deviceAllowed[i] && !b.deviceAllowed[i]) {
                _checkWidening(ITimelockedAppAuth.ChangeKind.AddDevice, _devices[i]);
            }
        }
        if (a.deviceCount != listedDevices) {
            _violate(Violation.WideningWithoutNotice, "a device nobody proposed is listed");
        }
        if (a.allowAnyDevice && !b.allowAnyDevice) {
            _checkWidening(ITimelockedAppAuth.ChangeKind.AllowAnyDevice, bytes32(0));
        }
        if (!a.requireTcbUpToDate && b.requireTcbUpToDate) {
            _checkWidening(ITimelockedAppAuth.ChangeKind.AllowOutdatedTcb, bytes32(0));
        }
        if (a.notice < b.notice) {
            _checkWidening(ITimelockedAppAuth.ChangeKind.ShortenNotice, bytes32(a.notice));
            GhostProposal storage g = _proposals[ITimelockedAppAuth.ChangeKind.ShortenNotice.id(bytes32(a.notice))];
            if (g.highestRaiseSince > a.notice) {
                _violate(Violation.ShorteningOutlivedLongerNotice, "a shortening landed below a notice promised after it");
            }
        }

        for (uint256 f = 0; f < 2; ++f) {
            ITimelockedAppAuth.OsMeasurement field = ITimelockedAppAuth.OsMeasurement(f);
            if (a.osAllowed[f][OS_VALUES] && !b.osAllowed[f][OS_VALUES]) {
                // A value nobody ever pinned now boots: the field was unpinned, which must have waited.
                _checkWidening(AppAuthCalls.unpinOs(field), bytes32(0));
                continue;
            }
            if (a.osAllowed[f][OS_VALUES]) continue;
            uint256 listed;
            for (uint256 i = 0; i < OS_VALUES; ++i) {
                if (a.osAllowed[f][i]) ++listed;
                if (a.osAllowed[f][i] && !b.osAllowed[f][i]) _checkWidening(AppAuthCalls.addOs(field), _os[f][i]);
            }
            if (a.osCount[f] != listed) {
                _violate(Violation.WideningWithoutNotice, "an OS value nobody proposed is pinned");
            }
        }

        if (a.release != b.release || a.releaseSetAt != b.releaseSetAt) {
            if (a.release == bytes32(0) || !auth.allowedComposeHashes(a.release)) {
                _violate(Violation.BadRelease, "current release set to a hash that is not allowed");
            }
            if (a.releaseSetAt != block.timestamp) _violate(Violation.BadRelease, "current release stamped wrongly");
        }
    }

    function _checkWidening(ITimelockedAppAuth.ChangeKind kind, bytes32 value) internal {
        if (ghostUpgradesDisabled) {
            _violate(Violation.WideningAfterDisable, "the policy widened after upgrades were disabled");
            return;
        }
        GhostProposal storage g = _proposals[kind.id(value)];
        uint256 readyAt = uint256(g.proposedAt) + g.noticeAtProposal;
        if (!g.open) {
            _violate(Violation.WideningWithoutNotice, "the policy widened without an open proposal");
        } else if (block.timestamp < readyAt) {
            _violate(Violation.WideningWithoutNotice, "the policy widened before its recorded notice ran out");
        } else if (block.timestamp >= readyAt + GRACE) {
            _violate(Violation.WideningWithoutNotice, "the policy widened after the proposal expired");
        }
    }

    function _checkReadyAtNeverDecreases() internal {
        for (uint256 i = 0; i < _proposalIds.length; ++i) {
            GhostProposal storage g = _proposals[_proposalIds[i]];
            if (!g.open) continue;
            uint64 readyAt = auth.getProposal(_proposalIds[i]).readyAt;
            if (readyAt == 0) continue; // consumed: the ghost/contract comparison reports a mismatch
            if (readyAt < g.lastSeenReadyAt) {
                _violate(Violation.ReadyAtDecrease, "an open proposal's readyAt decreased");
            }
            g.lastSeenReadyAt = readyAt;
        }
    }

    function _disableUpgradesInModel() internal {
        ghostUpgradesDisabled = true;
        _policyAtDisable = _policy;
    }

    /// @dev Plays an indexer: takes in the policy's PolicyChanged logs since {Vm.recordLogs}, knowing only dstack's
    /// labels (and the notice's), never the contract's state. The actor must be whoever sent the call. The runner
    /// records the logs of a call that reverted too, which no indexer ever sees: those are dropped.
    function _readAudit(address sender, bool succeeded) internal {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        if (!succeeded) return;
        for (uint256 i = 0; i < logs.length; ++i) {
            Vm.Log memory log = logs[i];
            if (log.emitter != address(auth) || log.topics[0] != ITimelockedAppAuth.PolicyChanged.selector) continue;
            if (address(uint160(uint256(log.topics[1]))) != sender) {
                _violate(Violation.AuditActorNotSender, "PolicyChanged names another actor than the sender");
            }
            bytes32 label = log.topics[2];
            bytes32 value = log.topics[3];
            bool enabled = abi.decode(log.data, (bool));
            if (label == keccak256("compose-hash")) _audited.hashAllowed[_indexOf(_hashes, value)] = enabled;
            else if (label == keccak256("device")) _audited.deviceAllowed[_indexOf(_devices, value)] = enabled;
            else if (label == keccak256("allow-any-device")) _audited.allowAnyDevice = enabled;
            else if (label == keccak256("require-tcb-up-to-date")) _audited.requireTcbUpToDate = enabled;
            else if (label == keccak256("upgrades-disabled")) _audited.upgradesDisabled = enabled;
            else if (label == keccak256("notice-period")) _audited.notice = uint256(value);
            else if (label == keccak256("mr-system-pinned")) _audited.osPinned[0] = enabled;
            else if (label == keccak256("os-image-pinned")) _audited.osPinned[1] = enabled;
            else if (label == keccak256("mr-system")) _audited.osAllowed[0][_osIndex(0, value)] = enabled;
            else if (label == keccak256("os-image")) _audited.osAllowed[1][_osIndex(1, value)] = enabled;
        }
    }

    function _violate(Violation kind, string memory what) internal {
        if (++_violations[uint256(kind)] == 1) {
            _firstViolations[uint256(kind)] = string.concat(what, " (at t=", vm.toString(block.timestamp), ")");
        }
    }

    function _kind(uint256 seed) internal pure returns (ITimelockedAppAuth.ChangeKind) {
        return ITimelockedAppAuth.ChangeKind(seed % 9);
    }

    function _value(ITimelockedAppAuth.ChangeKind kind, uint256 seed) internal view returns (bytes32) {
        if (kind == ITimelockedAppAuth.ChangeKind.AddComposeHash) return _hashes[seed % HASHES];
        if (kind == ITimelockedAppAuth.ChangeKind.AddDevice) return _devices[seed % DEVICES];
        if (kind == ITimelockedAppAuth.ChangeKind.ShortenNotice) return bytes32(_notice(seed));
        if (AppAuthCalls.isOsAddition(kind)) return _os[uint256(AppAuthCalls.osField(kind))][seed % OS_VALUES];
        return bytes32(0);
    }

    function _osIndex(uint256 field, bytes32 value) internal view returns (uint256) {
        for (uint256 i = 0; i <= OS_VALUES; ++i) {
            if (_os[field][i] == value) return i;
        }
        revert NotInValueSet(value);
    }

    /// @dev Notice periods around the bounds and in between; two of them are out of bounds.
    function _notice(uint256 seed) internal pure returns (uint256) {
        uint256[10] memory notices = [MIN - 1, MIN, MIN + 1, 1 days, 2 days, 7 days, 14 days, 30 days, MAX, MAX + 1];
        return notices[seed % 10];
    }

    /// @dev Mostly valid URIs; one in eight is empty, which a compose-hash proposal must refuse.
    function _uri(uint256 seed) internal pure returns (string memory) {
        string[8] memory uris =
            ["ipfs://a", "ipfs://b", "ipfs://c", "ipfs://d", "ipfs://e", "ipfs://f", "https://example.org/c.json", ""];
        return uris[seed % 8];
    }

    function _indexOf(bytes32[HASHES] storage list, bytes32 value) internal view returns (uint256) {
        for (uint256 i = 0; i < HASHES; ++i) {
            if (list[i] == value) return i;
        }
        revert NotInValueSet(value);
    }

    function _indexOf(bytes32[DEVICES] storage list, bytes32 value) internal view returns (uint256) {
        for (uint256 i = 0; i < DEVICES; ++i) {
            if (list[i] == value) return i;
        }
        revert NotInValueSet(value);
    }
}

/// @title TimelockedAppAuthInvariantTest
/// @notice Properties that must hold after any sequence of calls by the owner, attackers, anyone and the clock.
contract TimelockedAppAuthInvariantTest is Test {
    uint256 internal constant MIN = 1 hours;
    uint256 internal constant MAX = 365 days;
    uint256 internal constant GRACE = 14 days;

    TimelockedAppAuthHandler internal handler;
    TimelockedAppAuth internal auth;

    function setUp() public {
        vm.warp(1_700_000_000);
        handler = new TimelockedAppAuthHandler();
        auth = handler.auth();
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: handler.actions()}));
    }

    /// @dev Nothing becomes allowed (compose hash, device, any device, outdated TCB, shorter notice) unless the
    /// very change was proposed, open, and proposed at least the notice recorded at its proposal before.
    function invariant_nothingWidensBeforeItsNoticeHasRun() public view {
        _assertNone(TimelockedAppAuthHandler.Violation.WideningWithoutNotice);
    }

    /// @dev After upgrades are disabled, nothing is proposed, the allowed sets never grow and no flag widens.
    function invariant_nothingWidensOnceUpgradesAreDisabled() public view {
        _assertNone(TimelockedAppAuthHandler.Violation.WideningAfterDisable);
        _assertNone(TimelockedAppAuthHandler.Violation.ProposalAfterDisable);
        if (!handler.ghostUpgradesDisabled()) return;
        assertTrue(auth.upgradesDisabled(), "disabling upgrades is one-way");
        TimelockedAppAuthHandler.Policy memory frozen = handler.policyAtDisable();
        bytes32[4] memory hashes = handler.hashes();
        bytes32[3] memory devices = handler.devices();
        for (uint256 i = 0; i < hashes.length; ++i) {
            if (auth.allowedComposeHashes(hashes[i])) assertTrue(frozen.hashAllowed[i], "hash set grew");
        }
        for (uint256 i = 0; i < devices.length; ++i) {
            if (auth.allowedDeviceIds(devices[i])) assertTrue(frozen.deviceAllowed[i], "device set grew");
        }
        if (auth.allowAnyDevice()) assertTrue(frozen.allowAnyDevice, "allowAnyDevice widened");
        bytes32[4][2] memory os = handler.osValues();
        for (uint256 f = 0; f < 2; ++f) {
            for (uint256 i = 0; i < os[f].length; ++i) {
                if (!auth.allowedOsMeasurement(ITimelockedAppAuth.OsMeasurement(f), os[f][i])) continue;
                assertTrue(!frozen.osPinned[f] || (i < 3 && frozen.osAllowed[f][i]), "OS set grew");
            }
        }
        if (!auth.requireTcbUpToDate()) assertFalse(frozen.requireTcbUpToDate, "requireTcbUpToDate widened");
        assertGe(auth.noticePeriod(), frozen.notice, "notice shortened");
        assertEq(auth.getComposeHashes().length <= _count(frozen.hashAllowed), true, "hash count grew");
    }

    /// @dev An open proposal's readyAt is the time of its proposal plus the notice then in force, its expiry is
    /// readyAt plus the grace period, and neither moves while it is open; an open timer is never reset.
    function invariant_readyAtIsFixedWhenProposed() public view {
        _assertNone(TimelockedAppAuthHandler.Violation.ReadyAtDecrease);
        _assertNone(TimelockedAppAuthHandler.Violation.TimerReset);
        bytes32[] memory ids = handler.proposalIds();
        uint256 open;
        for (uint256 i = 0; i < ids.length; ++i) {
            TimelockedAppAuthHandler.GhostProposal memory g = handler.proposal(ids[i]);
            ITimelockedAppAuth.ProposalView memory p = auth.getProposal(ids[i]);
            if (!g.open) {
                assertEq(uint256(p.state), uint256(ITimelockedAppAuth.ProposalState.None), "closed proposal is open");
                assertEq(p.readyAt, 0, "closed proposal keeps a readyAt");
                continue;
            }
            ++open;
            uint256 readyAt = uint256(g.proposedAt) + g.noticeAtProposal;
            assertEq(p.readyAt, readyAt, "readyAt != proposedAt + notice at proposal");
            assertEq(p.expiresAt, readyAt + GRACE, "expiresAt != readyAt + grace");
            assertEq(uint256(p.kind), uint256(g.kind), "kind");
            assertEq(p.value, g.value, "value");
            uint64 uriBlock = g.kind == ITimelockedAppAuth.ChangeKind.AddComposeHash ? g.proposedInBlock : 0;
            assertEq(p.uriBlock, uriBlock, "uriBlock");
            assertEq(uint256(p.state), uint256(_expectedState(readyAt)), "state");
        }
        assertEq(auth.getProposals().length, open, "open proposals");
    }

    /// @dev A longer notice is a promise: once the notice was raised to N, no shortening to below N proposed before
    /// is open or ever lands, whichever call raised it.
    function invariant_aLongerNoticeVoidsTheShorteningsProposedBeforeIt() public view {
        _assertNone(TimelockedAppAuthHandler.Violation.ShorteningOutlivedLongerNotice);
        bytes32[] memory ids = handler.proposalIds();
        for (uint256 i = 0; i < ids.length; ++i) {
            TimelockedAppAuthHandler.GhostProposal memory g = handler.proposal(ids[i]);
            if (g.kind != ITimelockedAppAuth.ChangeKind.ShortenNotice || g.highestRaiseSince <= uint256(g.value)) continue;
            assertEq(auth.getProposal(ids[i]).readyAt, 0, "a shortening below a later, longer notice is open");
        }
    }

    /// @dev The notice period never leaves [MIN_NOTICE_PERIOD, MAX_NOTICE_PERIOD].
    function invariant_noticeStaysWithinBounds() public view {
        uint256 notice = auth.noticePeriod();
        assertGe(notice, MIN, "notice below the minimum");
        assertLe(notice, MAX, "notice above the maximum");
        assertEq(auth.getTimelock(), notice, "getTimelock");
    }

    /// @dev No one but the owner ever proposes, cancels, narrows, disables or moves ownership.
    function invariant_nonOwnersNeverSucceed() public view {
        _assertNone(TimelockedAppAuthHandler.Violation.NonOwnerSuccess);
    }

    /// @dev The contract's policy, ownership and URIs are exactly what the ghost model expects.
    /// @dev dstack's audit event tells the whole story: an indexer that reads only PolicyChanged (as it does for
    /// dstack's DstackApp) rebuilds exactly the policy the contract enforces, and each event names its sender.
    function invariant_auditEventsRebuildThePolicy() public view {
        _assertNone(TimelockedAppAuthHandler.Violation.AuditActorNotSender);
        TimelockedAppAuthHandler.AuditedPolicy memory seen = handler.audited();
        bytes32[4] memory hashes = handler.hashes();
        for (uint256 i = 0; i < hashes.length; ++i) {
            assertEq(seen.hashAllowed[i], auth.allowedComposeHashes(hashes[i]), "audited compose hash");
        }
        bytes32[3] memory devices = handler.devices();
        for (uint256 i = 0; i < devices.length; ++i) {
            assertEq(seen.deviceAllowed[i], auth.allowedDeviceIds(devices[i]), "audited device");
        }
        assertEq(seen.allowAnyDevice, auth.allowAnyDevice(), "audited allowAnyDevice");
        assertEq(seen.requireTcbUpToDate, auth.requireTcbUpToDate(), "audited requireTcbUpToDate");
        assertEq(seen.upgradesDisabled, auth.upgradesDisabled(), "audited upgradesDisabled");
        assertEq(seen.notice, auth.noticePeriod(), "audited notice");
        bytes32[4][2] memory os = handler.osValues();
        for (uint256 f = 0; f < 2; ++f) {
            ITimelockedAppAuth.OsMeasurement field = ITimelockedAppAuth.OsMeasurement(f);
            assertEq(seen.osPinned[f], auth.osPinned(field), "audited OS pin");
            for (uint256 i = 0; i < os[f].length; ++i) {
                // Indexers read "allowed" as: the field is not pinned, or the value is pinned.
                assertEq(
                    !seen.osPinned[f] || seen.osAllowed[f][i], auth.allowedOsMeasurement(field, os[f][i]), "audited OS"
                );
            }
        }
    }

    function invariant_stateMatchesTheGhostModel() public view {
        TimelockedAppAuthHandler.Policy memory expected = handler.policy();
        _assertSameSet(auth.getComposeHashes(), handler.hashes(), expected.hashAllowed, "compose hashes");
        bytes32[4] memory hashes = handler.hashes();
        for (uint256 i = 0; i < hashes.length; ++i) {
            assertEq(auth.allowedComposeHashes(hashes[i]), expected.hashAllowed[i], "allowedComposeHashes");
            assertEq(auth.composeHashUriBlock(hashes[i]), handler.hashUriBlock(i), "composeHashUriBlock");
            assertEq(auth.composeHashAllowedAt(hashes[i]), handler.hashAllowedAt(i), "composeHashAllowedAt");
        }
        bytes32[3] memory devices = handler.devices();
        bytes32[] memory listed = auth.getDevices();
        assertEq(listed.length, _count(expected.deviceAllowed), "device count");
        for (uint256 i = 0; i < devices.length; ++i) {
            assertEq(auth.allowedDeviceIds(devices[i]), expected.deviceAllowed[i], "allowedDeviceIds");
            assertEq(_contains(listed, devices[i]), expected.deviceAllowed[i], "getDevices");
        }
        assertEq(auth.allowAnyDevice(), expected.allowAnyDevice, "allowAnyDevice");
        assertEq(auth.requireTcbUpToDate(), expected.requireTcbUpToDate, "requireTcbUpToDate");
        assertEq(auth.noticePeriod(), expected.notice, "noticePeriod");
        assertEq(auth.upgradesDisabled(), handler.ghostUpgradesDisabled(), "upgradesDisabled");
        bytes32[4][2] memory os = handler.osValues();
        for (uint256 f = 0; f < 2; ++f) {
            ITimelockedAppAuth.OsMeasurement field = ITimelockedAppAuth.OsMeasurement(f);
            assertEq(auth.osPinned(field), expected.osPinned[f], "osPinned");
            uint256 pinned;
            for (uint256 i = 0; i < 3; ++i) {
                if (expected.osAllowed[f][i]) ++pinned;
                assertEq(auth.allowedOsMeasurement(field, os[f][i]), !expected.osPinned[f] || expected.osAllowed[f][i], "OS");
            }
            assertEq(auth.getOsMeasurements(field).length, pinned, "getOsMeasurements");
        }
        assertEq(auth.owner(), handler.ghostOwner(), "owner");
        assertEq(auth.pendingOwner(), handler.ghostPendingOwner(), "pendingOwner");
    }

    /// @dev The current release is zero or a hash that was allowed when it was set, and is the one the model
    /// expects, with that hash's URI.
    function invariant_currentReleaseWasAllowedWhenSet() public view {
        _assertNone(TimelockedAppAuthHandler.Violation.BadRelease);
        (bytes32 release, uint64 uriBlock, uint64 setAt) = auth.currentRelease();
        assertEq(release, handler.ghostRelease(), "current release");
        assertEq(uriBlock, auth.composeHashUriBlock(release), "release uri block");
        assertLe(setAt, block.timestamp, "release set in the future");
    }

    /// @dev isAppAllowed answers from the model's policy for every combination of the value sets.
    function invariant_isAppAllowedFollowsThePolicy() public view {
        TimelockedAppAuthHandler.Policy memory expected = handler.policy();
        bytes32[4] memory hashes = handler.hashes();
        bytes32[3] memory devices = handler.devices();
        IAppAuth.AppBootInfo memory boot;
        boot.appId = address(auth);
        // An OS the pins allow, when there is one (the OS rule itself is invariant_isAppAllowedFollowsTheOsPins).
        bytes32[4][2] memory os = handler.osValues();
        bool osAllowed = true;
        bytes32[2] memory osValue;
        for (uint256 f = 0; f < 2; ++f) {
            if (!expected.osPinned[f]) continue;
            uint256 i;
            while (i < 3 && !expected.osAllowed[f][i]) ++i;
            if (i == 3) osAllowed = false;
            else osValue[f] = os[f][i];
        }
        (boot.mrSystem, boot.osImageHash) = (osValue[0], osValue[1]);
        for (uint256 h = 0; h < hashes.length; ++h) {
            for (uint256 d = 0; d < devices.length; ++d) {
                for (uint256 t = 0; t < 2; ++t) {
                    boot.composeHash = hashes[h];
                    boot.deviceId = devices[d];
                    boot.tcbStatus = t == 0 ? "UpToDate" : "OutOfDate";
                    bool allowed = (t == 0 || !expected.requireTcbUpToDate) && expected.hashAllowed[h]
                        && (expected.allowAnyDevice || expected.deviceAllowed[d]) && osAllowed;
                    (bool actual,) = auth.isAppAllowed(boot);
                    assertEq(actual, allowed, "isAppAllowed");
                }
            }
        }
    }

    /// @dev With whatever else a boot needs allowed, isAppAllowed lets an OS through exactly when each pinned field
    /// lists its value, and names the OS as the reason otherwise.
    function invariant_isAppAllowedFollowsTheOsPins() public view {
        TimelockedAppAuthHandler.Policy memory expected = handler.policy();
        IAppAuth.AppBootInfo memory boot;
        boot.appId = address(auth);
        boot.tcbStatus = "UpToDate";
        (bytes32 release,,) = auth.currentRelease();
        if (!auth.allowedComposeHashes(release)) return;
        boot.composeHash = release;
        bytes32[3] memory devices = handler.devices();
        uint256 d;
        while (d < devices.length && !expected.allowAnyDevice && !expected.deviceAllowed[d]) ++d;
        boot.deviceId = d < devices.length ? devices[d] : devices[0];
        if (!expected.allowAnyDevice && d == devices.length) return;
        bytes32[4][2] memory os = handler.osValues();
        for (uint256 m = 0; m < 4; ++m) {
            for (uint256 i = 0; i < 4; ++i) {
                boot.mrSystem = os[0][m];
                boot.osImageHash = os[1][i];
                bool allowed = (!expected.osPinned[0] || (m < 3 && expected.osAllowed[0][m]))
                    && (!expected.osPinned[1] || (i < 3 && expected.osAllowed[1][i]));
                (bool actual, string memory reason) = auth.isAppAllowed(boot);
                assertEq(actual, allowed, "isAppAllowed (OS)");
                assertEq(reason, allowed ? "" : "OS not allowed by the app", "reason (OS)");
            }
        }
    }

    // Helpers ------------------------------------------------------------------------------------------------------

    function _assertNone(TimelockedAppAuthHandler.Violation kind) internal view {
        (uint256 count, string memory first) = handler.violations(kind);
        assertEq(count, 0, first);
    }

    function _expectedState(uint256 readyAt) internal view returns (ITimelockedAppAuth.ProposalState) {
        if (handler.ghostUpgradesDisabled()) return ITimelockedAppAuth.ProposalState.Voided;
        if (block.timestamp < readyAt) return ITimelockedAppAuth.ProposalState.Waiting;
        if (block.timestamp < readyAt + GRACE) return ITimelockedAppAuth.ProposalState.Ready;
        return ITimelockedAppAuth.ProposalState.Expired;
    }

    function _assertSameSet(
        bytes32[] memory actual,
        bytes32[4] memory universe,
        bool[4] memory expected,
        string memory what
    ) internal pure {
        assertEq(actual.length, _count(expected), string.concat(what, ": count"));
        for (uint256 i = 0; i < universe.length; ++i) {
            assertEq(_contains(actual, universe[i]), expected[i], what);
        }
    }

    function _count(bool[4] memory flags) internal pure returns (uint256 n) {
        for (uint256 i = 0; i < flags.length; ++i) {
            if (flags[i]) ++n;
        }
    }

    function _count(bool[3] memory flags) internal pure returns (uint256 n) {
        for (uint256 i = 0; i < flags.length; ++i) {
            if (flags[i]) ++n;
        }
    }

    function _contains(bytes32[] memory list, bytes32 value) internal pure returns (bool) {
        for (uint256 i = 0; i < list.length; ++i) {
            if (list[i] == value) return true;
        }
        return false;
    }
}
