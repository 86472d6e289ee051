// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ERC165} from "@openzeppelin/contracts/utils/introspection/ERC165.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";

import {IAppAuth} from "./interfaces/IAppAuth.sol";
import {ITimelockedAppAuth} from "./interfaces/ITimelockedAppAuth.sol";

/// @title TimelockedAppAuth
/// @notice A dstack app policy (the contract dstack's KMS asks at every boot) whose developer cannot allow new
/// code, new hardware or a weaker TCB rule without a public notice period.
/// @dev Threat model: the owner (the app's developer or operator) is the attacker we guard users against. The
/// one rule is: a change that WIDENS what may boot (add a compose hash, add a device, allow any device, stop
/// requiring an up-to-date TCB, shorten the notice) is proposed by the owner, waits the notice period that was in
/// force when it was proposed, and can then be activated by anyone within a grace window. A change that NARROWS
/// what may boot (remove a hash or device, restrict devices, require an up-to-date TCB, lengthen the notice,
/// disable upgrades) is instant and owner-only, so revocation is never delayed.
///
/// Design decisions:
/// - Not upgradeable (no proxy): an upgradeable policy would be a bypass of its own timelock.
/// - `readyAt` is fixed at proposal; an open proposal cannot be proposed again (no timer reset); proposal state
///   is derived from that one stored timestamp (expiry is `readyAt + GRACE_PERIOD`), never stored.
/// - A compose file's URI is not stored: it is in the {ChangeProposed} event of the hash's proposal (the constructor
///   emits one for the genesis release), and storage keeps the number of that event's block (`uriBlock`), so a reader
///   fetches it with one `eth_getLogs` and checks it against the stored `readyAt` (`readComposeUri` in lib/release.ts).
/// - Storage is one word per compose hash ({ComposeHashEntry}: proposed, then allowed) and one policy word ({Policy}:
///   notice, flags, the current release and the bounds of the compose-hash list). The list holds the allowed hashes
///   in `[allowedStart, allowedEnd)` and the open compose-hash proposals after them, up to `proposedEnd`, so the one
///   list word a proposal creates is the allowed hash's element once it is activated, and activation writes no new
///   word. Removing an allowed hash moves the first one into its place; cancelling a proposal moves the last.
/// - Notice bounds: {MIN_NOTICE_PERIOD} (1 hour) keeps every widening change observable before it lands, even
///   on staging deployments; {MAX_NOTICE_PERIOD} (365 days) keeps the owner from freezing the app by accident
///   (freezing on purpose is {disableUpgrades}). The recommended production notice is 7 days (ERC-733 / L2BEAT
///   Stage 1). A ready proposal that nobody activates expires after {GRACE_PERIOD} (14 days), so a stale
///   proposal cannot be sprung on users long after they stopped watching it.
/// - Every view has a bounded cost: at most {MAX_OPEN_PROPOSALS} proposals are open (expired ones are pruned when
///   a new proposal needs their room), a URI is at most {MAX_URI_LENGTH} bytes, and the two lists that grow with
///   each activation (compose hashes, devices) have paged views.
/// - Older releases stay allowed until the owner retires them ({removeComposeHash}, or
///   {activateComposeHashAndRetire} as part of an upgrade); each remembers when it became allowed, so tools can
///   show how far back the owner could roll back at once.
/// - Ownership is two-step. Renouncing it disables upgrades first, so no open proposal outlives the last
///   person who could cancel it.
/// - Emits dstack's own `DstackApp` events when a change takes effect, so existing indexers read its history, each
///   with dstack's audit event {PolicyChanged} (same signature and labels as dstack's `DstackApp`).
/// - The OS is part of the policy when the app pins it (the way to ERC-733 Stage 2: dstack's KMS owner can allow a
///   new OS image at once, for every app). Pins are kept per {OsMeasurement}: dstack's `mrSystem` (firmware,
///   virtual hardware, kernel and initrd as the TDX quote measures them: it changes with the VM's size) and the OS
///   image hash (the image's own digest, the same on every VM size). With a field pinned, a boot must show one of its
///   pinned values. Pinning from the unpinned state narrows (instant); adding a value widens (waits); removing one
///   narrows (instant) but never the last; unpinning widens (waits). So the set of OSes that may boot only widens
///   through a proposal that waited the notice.
/// - The release cycle (propose, activate, retire) is laid out for gas, because issue 13 holds it to a
///   TimelockController's cost; the rest of the admin code favours readability. BENCHMARKS.md shows where each
///   transaction's gas goes.
contract TimelockedAppAuth is ITimelockedAppAuth, Ownable2Step, ERC165 {
    using EnumerableSet for EnumerableSet.Bytes32Set;

    /// @notice The shortest notice period this contract accepts, in seconds.
    uint256 public constant MIN_NOTICE_PERIOD = 1 hours;
    /// @notice The longest notice period this contract accepts, in seconds.
    uint256 public constant MAX_NOTICE_PERIOD = 365 days;
    /// @notice How long a ready proposal stays activatable, in seconds.
    uint64 public constant GRACE_PERIOD = 14 days;
    /// @notice How many proposals may be open at once (waiting, ready, or expired and not yet pruned).
    uint256 public constant MAX_OPEN_PROPOSALS = 32;
    /// @notice The longest compose URI accepted, in bytes.
    uint256 public constant MAX_URI_LENGTH = 1024;

    bytes32 private constant _TCB_UP_TO_DATE = keccak256("UpToDate");
    uint8 private constant _MR_SYSTEM_BIT = uint8(1) << uint8(OsMeasurement.MrSystem);
    uint8 private constant _OS_IMAGE_BIT = uint8(1) << uint8(OsMeasurement.OsImageHash);

    // {PolicyChanged} labels, as dstack's DstackApp hashes them (plus this contract's notice period).
    bytes32 private constant _POLICY_COMPOSE_HASH = keccak256("compose-hash");
    bytes32 private constant _POLICY_DEVICE = keccak256("device");
    bytes32 private constant _POLICY_ALLOW_ANY_DEVICE = keccak256("allow-any-device");
    bytes32 private constant _POLICY_REQUIRE_TCB = keccak256("require-tcb-up-to-date");
    bytes32 private constant _POLICY_UPGRADES_DISABLED = keccak256("upgrades-disabled");
    bytes32 private constant _POLICY_NOTICE_PERIOD = keccak256("notice-period");
    // dstack's DstackKms labels its OS images "os-image"; the rest are this contract's own.
    bytes32 private constant _POLICY_OS_IMAGE = keccak256("os-image");
    bytes32 private constant _POLICY_MR_SYSTEM = keccak256("mr-system");
    bytes32 private constant _POLICY_OS_IMAGE_PINNED = keccak256("os-image-pinned");
    bytes32 private constant _POLICY_MR_SYSTEM_PINNED = keccak256("mr-system-pinned");

    struct Proposal {
        ChangeKind kind;
        uint64 readyAt;
        bytes32 value;
    }

    enum ComposeHashStatus {
        None,
        Proposed,
        Allowed
    }

    /// @dev One word per compose hash: written when it is proposed, changed when it is allowed, deleted when its
    /// proposal is cancelled or it is removed. `readyAt` and `uriBlock` stay once it is allowed: they identify the
    /// {ChangeProposed} event that carries its URI.
    struct ComposeHashEntry {
        ComposeHashStatus status;
        uint32 position;
        uint64 readyAt;
        uint64 uriBlock;
        uint64 allowedAt;
    }

    /// @dev One word read by every change and by {isAppAllowed}. Positions index {_composeHashList}:
    /// `[allowedStart, allowedEnd)` allowed hashes, `[allowedEnd, proposedEnd)` open compose-hash proposals.
    /// `currentPosition` is the current release's position plus one; zero when there is none or the owner removed it
    /// (then {_removedCurrentRelease} names it).
    struct Policy {
        uint32 noticePeriod;
        bool upgradesDisabled;
        bool allowAnyDevice;
        bool requireTcbUpToDate;
        /// @dev Bit `1 << uint8(field)` is set iff that {OsMeasurement} is pinned.
        uint8 pinnedOsFields;
        uint40 releaseSetAt;
        uint32 currentPosition;
        uint32 allowedStart;
        uint32 allowedEnd;
        uint32 proposedEnd;
        /// @dev How many proposals of the other kinds are open: the length of {_openProposalIds}, kept here so that
        /// a compose-hash proposal checks {MAX_OPEN_PROPOSALS} without reading the set.
        uint8 otherProposals;
    }

    Policy private _policy;
    mapping(bytes32 composeHash => ComposeHashEntry entry) private _composeHashEntries;
    /// @dev Elements outside `[allowedStart, proposedEnd)` are stale and never read; they are not cleared, so a later
    /// proposal changes a word instead of creating one.
    mapping(uint256 position => bytes32 composeHash) private _composeHashList;
    /// @dev The current release after the owner removed it (kept so guest agents see it is no longer allowed).
    bytes32 private _removedCurrentRelease;

    EnumerableSet.Bytes32Set private _devices;

    /// @dev Proposals of every kind but `AddComposeHash` (those live in {_composeHashEntries} and the list's tail).
    mapping(bytes32 id => Proposal proposal) private _proposals;
    EnumerableSet.Bytes32Set private _openProposalIds;

    /// @dev The pinned values of each {OsMeasurement}, indexed by `uint8(field)`; empty iff the field is not pinned.
    EnumerableSet.Bytes32Set[2] private _osMeasurements;

    /// @notice Deploys the policy with its genesis state, which takes effect at once (there are no users yet,
    /// and the deployment transaction makes it public).
    /// @param initialOwner Who may propose and narrow; a multisig is recommended.
    /// @param initialNoticePeriod Seconds every widening change will wait; within the notice bounds.
    /// @param initialComposeHash The first release, or zero for none.
    /// @param initialComposeUri Where the first release's compose file can be fetched (required with a hash).
    /// @param initialDevices Devices allowed from the start.
    /// @param initialAllowAnyDevice Whether any device is allowed from the start.
    /// @param initialRequireTcbUpToDate Whether only "UpToDate" TCBs are allowed from the start.
    constructor(
        address initialOwner,
        uint256 initialNoticePeriod,
        bytes32 initialComposeHash,
        string memory initialComposeUri,
        bytes32[] memory initialDevices,
        bool initialAllowAnyDevice,
        bool initialRequireTcbUpToDate
    ) Ownable(initialOwner) {
        _checkNoticeBounds(initialNoticePeriod);
        _policy.noticePeriod = uint32(initialNoticePeriod);
        emit NoticePeriodChanged(0, initialNoticePeriod);
        _policyChanged(_POLICY_NOTICE_PERIOD, bytes32(initialNoticePeriod), true);

        if (initialComposeHash != bytes32(0)) {
            _checkComposeUri(initialComposeHash, initialComposeUri);
            // The genesis release's URI is announced as every release's is, in a {ChangeProposed} of this block.
            uint64 deployedAt = uint64(block.timestamp);
            emit ChangeProposed(
                proposalId(ChangeKind.AddComposeHash, initialComposeHash),
                ChangeKind.AddComposeHash,
                initialComposeHash,
                deployedAt,
                deployedAt + GRACE_PERIOD,
                initialComposeUri
            );
            Policy storage policy = _policy;
            ComposeHashEntry memory entry = ComposeHashEntry({
                status: ComposeHashStatus.Proposed,
                position: 0,
                readyAt: deployedAt,
                uriBlock: uint64(block.number),
                allowedAt: 0
            });
            _composeHashList[0] = initialComposeHash;
            policy.proposedEnd = 1;
            _allowProposed(policy, initialComposeHash, entry);
        }
        for (uint256 i = 0; i < initialDevices.length; ++i) {
            bytes32 deviceId = initialDevices[i];
            if (!_devices.add(deviceId)) revert DeviceAlreadyAllowed(deviceId);
            emit DeviceAdded(deviceId);
            _policyChanged(_POLICY_DEVICE, deviceId, true);
        }
        _policy.allowAnyDevice = initialAllowAnyDevice;
        emit AllowAnyDeviceSet(initialAllowAnyDevice);
        _policyChanged(_POLICY_ALLOW_ANY_DEVICE, bytes32(0), initialAllowAnyDevice);
        _policy.requireTcbUpToDate = initialRequireTcbUpToDate;
        emit RequireTcbUpToDateSet(initialRequireTcbUpToDate);
        _policyChanged(_POLICY_REQUIRE_TCB, bytes32(0), initialRequireTcbUpToDate);
    }

    // ---------------------------------------------------------------------------------------------------------
    // IAppAuth
    // ---------------------------------------------------------------------------------------------------------

    /// @inheritdoc IAppAuth
    /// @dev dstack's DstackApp check order and reasons: TCB, then compose hash, then device; then this contract's OS
    /// pins. The OS check comes last so that every boot dstack's own checks refuse keeps dstack's reason (a pin only
    /// adds refusals, it never renames one), and so that an app that pins nothing pays one bit test on a warm slot.
    function isAppAllowed(AppBootInfo calldata bootInfo) external view returns (bool isAllowed, string memory reason) {
        // The flags and the pins share the policy word: one SLOAD reads them all, so pinning support costs an app
        // that pins nothing no storage read.
        Policy memory policy = _policy;
        bool tcbRequired = policy.requireTcbUpToDate;
        bool anyDevice = policy.allowAnyDevice;
        uint256 pinned = policy.pinnedOsFields;
        if (tcbRequired && keccak256(bytes(bootInfo.tcbStatus)) != _TCB_UP_TO_DATE) {
            return (false, "TCB status is not up to date");
        }
        if (_composeHashEntries[bootInfo.composeHash].status != ComposeHashStatus.Allowed) {
            return (false, "Compose hash not allowed");
        }
        if (!anyDevice && !_devices.contains(bootInfo.deviceId)) {
            return (false, "Device not allowed");
        }
        if (pinned != 0) {
            if (
                (pinned & _MR_SYSTEM_BIT != 0 && !_osMeasurements[0].contains(bootInfo.mrSystem))
                    || (pinned & _OS_IMAGE_BIT != 0 && !_osMeasurements[1].contains(bootInfo.osImageHash))
            ) {
                return (false, "OS not allowed by the app");
            }
        }
        return (true, "");
    }

    /// @inheritdoc IERC165
    function supportsInterface(bytes4 interfaceId) public view override(ERC165, IERC165) returns (bool) {
        return interfaceId == type(IAppAuth).interfaceId || interfaceId == type(ITimelockedAppAuth).interfaceId
            || super.supportsInterface(interfaceId);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Widening changes
    // ---------------------------------------------------------------------------------------------------------

    /// @notice Announce a new compose hash; when activated it becomes allowed and the current release.
    /// @dev Emits {ChangeProposed}.
    ///
    /// Requirements:
    /// - the caller is the owner and upgrades are not disabled;
    /// - `composeHash` is non-zero, not allowed yet and not already open as a proposal;
    /// - `uri` is non-empty.
    function proposeComposeHash(bytes32 composeHash, string calldata uri) external onlyOwner returns (bytes32 id) {
        _checkComposeUri(composeHash, uri);
        ComposeHashEntry memory entry = _composeHashEntries[composeHash];
        if (entry.status == ComposeHashStatus.Allowed) revert ComposeHashAlreadyAllowed(composeHash);
        Policy storage policy = _policy;
        if (policy.upgradesDisabled) revert UpgradesAreDisabled();
        id = proposalId(ChangeKind.AddComposeHash, composeHash);
        if (entry.status == ComposeHashStatus.Proposed) {
            // An expired proposal may be proposed again, with a fresh notice, in its place; an open one may not (no
            // timer reset).
            uint64 expiresAt = entry.readyAt + GRACE_PERIOD;
            if (block.timestamp < expiresAt) revert ProposalAlreadyOpen(id, entry.readyAt, expiresAt);
        } else {
            if (_openProposalCount(policy) >= MAX_OPEN_PROPOSALS) _pruneExpired();
            entry.position = policy.proposedEnd;
            _composeHashList[entry.position] = composeHash;
            ++policy.proposedEnd;
        }
        entry.status = ComposeHashStatus.Proposed;
        entry.readyAt = uint64(block.timestamp + policy.noticePeriod);
        entry.uriBlock = uint64(block.number);
        _composeHashEntries[composeHash] = entry;
        uint64 readyAt = entry.readyAt;
        emit ChangeProposed(id, ChangeKind.AddComposeHash, composeHash, readyAt, readyAt + GRACE_PERIOD, uri);
    }

    /// @notice Allow a proposed compose hash and make it the current release. Anyone may call it.
    /// @dev Emits {ChangeActivated}, {ComposeHashAdded}, {PolicyChanged} and {CurrentReleaseSet}.
    ///
    /// Requirements: upgrades are not disabled; the proposal is ready (`readyAt <= now < expiresAt`).
    function activateComposeHash(bytes32 composeHash) external {
        Policy storage policy = _policy;
        _allowProposed(policy, composeHash, _consumeReadyComposeHash(policy, composeHash));
    }

    /// @notice Activate a ready compose-hash proposal and stop allowing `retired` older releases, in one transaction:
    /// the upgrade that leaves no way back to what it replaces. Retiring narrows, so only the owner may call it.
    /// @dev Emits what {activateComposeHash} emits, then {ComposeHashRemoved} and {PolicyChanged} for each retired
    /// hash.
    ///
    /// Requirements: the caller is the owner; as {activateComposeHash}; every retired hash is allowed, listed
    /// once, and is not `composeHash`.
    function activateComposeHashAndRetire(bytes32 composeHash, bytes32[] calldata retired) external onlyOwner {
        Policy storage policy = _policy;
        _allowProposed(policy, composeHash, _consumeReadyComposeHash(policy, composeHash));
        for (uint256 i = 0; i < retired.length; ++i) {
            if (retired[i] == composeHash) revert CannotRetireNewRelease(composeHash);
            _removeComposeHash(policy, retired[i]);
        }
    }

    /// @notice Withdraw an open compose-hash proposal.
    /// @dev Emits {ChangeCancelled}. Requirements: the caller is the owner; the proposal exists.
    function cancelComposeHash(bytes32 composeHash) external onlyOwner {
        _cancelComposeHash(composeHash);
    }

    /// @notice Announce a new allowed device.
    /// @dev Emits {ChangeProposed}.
    ///
    /// Requirements: the caller is the owner; upgrades are not disabled; the device is not listed yet and not
    /// already open as a proposal.
    function proposeDevice(bytes32 deviceId) external onlyOwner returns (bytes32) {
        if (_devices.contains(deviceId)) revert DeviceAlreadyAllowed(deviceId);
        return _propose(ChangeKind.AddDevice, deviceId);
    }

    /// @notice Allow a proposed device. Anyone may call it.
    /// @dev Emits {ChangeActivated} and {DeviceAdded}. Requirements: as {activateComposeHash}.
    function activateDevice(bytes32 deviceId) external {
        _consumeReadyProposal(ChangeKind.AddDevice, deviceId);
        _devices.add(deviceId);
        emit DeviceAdded(deviceId);
        _policyChanged(_POLICY_DEVICE, deviceId, true);
    }

    /// @notice Withdraw an open device proposal.
    /// @dev Emits {ChangeCancelled}. Requirements: the caller is the owner; the proposal exists.
    function cancelDevice(bytes32 deviceId) external onlyOwner {
        _cancel(ChangeKind.AddDevice, deviceId);
    }

    /// @notice Announce that any device will be allowed.
    /// @dev Emits {ChangeProposed}.
    ///
    /// Requirements: the caller is the owner; upgrades are not disabled; any-device is off; no such proposal is
    /// open.
    function proposeAllowAnyDevice() external onlyOwner returns (bytes32) {
        if (_policy.allowAnyDevice) revert AllowAnyDeviceUnchanged(true);
        return _propose(ChangeKind.AllowAnyDevice, bytes32(0));
    }

    /// @notice Allow any device. Anyone may call it once the proposal is ready.
    /// @dev Emits {ChangeActivated} and {AllowAnyDeviceSet}. Requirements: as {activateComposeHash}.
    function activateAllowAnyDevice() external {
        _consumeReadyProposal(ChangeKind.AllowAnyDevice, bytes32(0));
        _policy.allowAnyDevice = true;
        emit AllowAnyDeviceSet(true);
        _policyChanged(_POLICY_ALLOW_ANY_DEVICE, bytes32(0), true);
    }

    /// @notice Withdraw an open allow-any-device proposal.
    /// @dev Emits {ChangeCancelled}. Requirements: the caller is the owner; the proposal exists.
    function cancelAllowAnyDevice() external onlyOwner {
        _cancel(ChangeKind.AllowAnyDevice, bytes32(0));
    }

    /// @notice Announce that CVMs whose TCB is not up to date will no longer be refused.
    /// @dev Emits {ChangeProposed}.
    ///
    /// Requirements: the caller is the owner; upgrades are not disabled; an up-to-date TCB is required now; no
    /// such proposal is open.
    function proposeAllowOutdatedTcb() external onlyOwner returns (bytes32) {
        if (!_policy.requireTcbUpToDate) revert RequireTcbUpToDateUnchanged(false);
        return _propose(ChangeKind.AllowOutdatedTcb, bytes32(0));
    }

    /// @notice Stop requiring an up-to-date TCB. Anyone may call it once the proposal is ready.
    /// @dev Emits {ChangeActivated} and {RequireTcbUpToDateSet}. Requirements: as {activateComposeHash}.
    function activateAllowOutdatedTcb() external {
        _consumeReadyProposal(ChangeKind.AllowOutdatedTcb, bytes32(0));
        _policy.requireTcbUpToDate = false;
        emit RequireTcbUpToDateSet(false);
        _policyChanged(_POLICY_REQUIRE_TCB, bytes32(0), false);
    }

    /// @notice Withdraw an open allow-outdated-TCB proposal.
    /// @dev Emits {ChangeCancelled}. Requirements: the caller is the owner; the proposal exists.
    function cancelAllowOutdatedTcb() external onlyOwner {
        _cancel(ChangeKind.AllowOutdatedTcb, bytes32(0));
    }

    /// @notice Announce a shorter notice period. It waits the current (longer) notice.
    /// @dev Emits {ChangeProposed}.
    ///
    /// Requirements: the caller is the owner; upgrades are not disabled; `newNoticePeriod` is within the bounds
    /// and shorter than the current notice; the same proposal is not open.
    function proposeNoticePeriod(uint256 newNoticePeriod) external onlyOwner returns (bytes32) {
        _checkNoticeBounds(newNoticePeriod);
        uint256 current = _policy.noticePeriod;
        if (newNoticePeriod >= current) revert NoticePeriodNotShorter(newNoticePeriod, current);
        return _propose(ChangeKind.ShortenNotice, bytes32(newNoticePeriod));
    }

    /// @notice Apply a proposed notice period. Anyone may call it once the proposal is ready; proposals that are
    /// already open keep their `readyAt`. A proposal made when the notice was longer can find it shorter now (another
    /// shortening landed first): it then lengthens the notice, and cancels, as {lengthenNoticePeriod} does, every
    /// open proposal to set a notice shorter than the new one.
    /// @dev Emits {ChangeActivated} and {NoticePeriodChanged}, and {ChangeCancelled} for each shortening it cancels.
    /// Requirements: as {activateComposeHash}.
    function activateNoticePeriod(uint256 newNoticePeriod) external {
        _consumeReadyProposal(ChangeKind.ShortenNotice, bytes32(newNoticePeriod));
        _setNoticePeriod(newNoticePeriod);
    }

    /// @notice Withdraw an open notice-period proposal.
    /// @dev Emits {ChangeCancelled}. Requirements: the caller is the owner; the proposal exists.
    function cancelNoticePeriod(uint256 newNoticePeriod) external onlyOwner {
        _cancel(ChangeKind.ShortenNotice, bytes32(newNoticePeriod));
    }

    /// @notice Announce another allowed value of a pinned OS measurement.
    /// @dev Emits {ChangeProposed} (kind `AddMrSystem` or `AddOsImageHash`).
    ///
    /// Requirements: the caller is the owner; upgrades are not disabled; the field is pinned (pinning is instant:
    /// {pinOs}); `value` is non-zero, not allowed yet and not already open as a proposal.
    function proposeOsMeasurement(OsMeasurement field, bytes32 value) external onlyOwner returns (bytes32) {
        if (value == bytes32(0)) revert OsMeasurementZero(field);
        if (!_isPinned(field)) revert OsNotPinned(field);
        if (_osMeasurements[uint8(field)].contains(value)) revert OsMeasurementAlreadyAllowed(field, value);
        return _propose(_addOsKind(field), value);
    }

    /// @notice Allow a proposed OS measurement. Anyone may call it once the proposal is ready.
    /// @dev Emits {ChangeActivated}, then {MrSystemAdded} or {OsImageHashAdded}.
    ///
    /// Requirements: as {activateComposeHash}; the field is still pinned (an unpinned field allows every value).
    function activateOsMeasurement(OsMeasurement field, bytes32 value) external {
        _consumeReadyProposal(_addOsKind(field), value);
        if (!_isPinned(field)) revert OsNotPinned(field);
        _addOsMeasurement(field, value);
    }

    /// @notice Withdraw an open proposal to allow an OS measurement.
    /// @dev Emits {ChangeCancelled}. Requirements: the caller is the owner; the proposal exists.
    function cancelOsMeasurement(OsMeasurement field, bytes32 value) external onlyOwner {
        _cancel(_addOsKind(field), value);
    }

    /// @notice Announce that an OS measurement will no longer be pinned: any value of it will be allowed.
    /// @dev Emits {ChangeProposed} (kind `UnpinMrSystem` or `UnpinOsImageHash`, value zero).
    ///
    /// Requirements: the caller is the owner; upgrades are not disabled; the field is pinned; no such proposal is
    /// open.
    function proposeUnpinOs(OsMeasurement field) external onlyOwner returns (bytes32) {
        if (!_isPinned(field)) revert OsNotPinned(field);
        return _propose(_unpinOsKind(field), bytes32(0));
    }

    /// @notice Unpin an OS measurement: every pinned value is dropped and any value is allowed. Anyone may call it
    /// once the proposal is ready (the field is pinned while the proposal is open: nothing else unpins it).
    /// @dev Emits {ChangeActivated}, {MrSystemRemoved} or {OsImageHashRemoved} for each pinned value, then
    /// {MrSystemPinnedSet} or {OsImageHashPinnedSet}(false). Requirements: as {activateComposeHash}.
    function activateUnpinOs(OsMeasurement field) external {
        _consumeReadyProposal(_unpinOsKind(field), bytes32(0));
        EnumerableSet.Bytes32Set storage values = _osMeasurements[uint8(field)];
        for (uint256 i = values.length(); i > 0; --i) {
            _removeOsMeasurement(field, values.at(i - 1));
        }
        _setOsPinned(field, false);
    }

    /// @notice Withdraw an open unpin proposal.
    /// @dev Emits {ChangeCancelled}. Requirements: the caller is the owner; the proposal exists.
    function cancelUnpinOs(OsMeasurement field) external onlyOwner {
        _cancel(_unpinOsKind(field), bytes32(0));
    }

    // ---------------------------------------------------------------------------------------------------------
    // Narrowing changes
    // ---------------------------------------------------------------------------------------------------------

    /// @notice Stop allowing a compose hash, at once. If it is the current release, the release is kept (so
    /// guest agents see it is no longer allowed and stop it) until the owner rolls back or activates another.
    /// @dev Emits {ComposeHashRemoved}. Requirements: the caller is the owner; the hash is allowed.
    function removeComposeHash(bytes32 composeHash) external onlyOwner {
        Policy storage policy = _policy;
        _removeComposeHash(policy, composeHash);
    }

    /// @notice Stop allowing a device, at once.
    /// @dev Emits {DeviceRemoved}. Requirements: the caller is the owner; the device is listed.
    function removeDevice(bytes32 deviceId) external onlyOwner {
        if (!_devices.remove(deviceId)) revert DeviceNotAllowed(deviceId);
        emit DeviceRemoved(deviceId);
        _policyChanged(_POLICY_DEVICE, deviceId, false);
    }

    /// @notice Allow only listed devices from now on.
    /// @dev Emits {AllowAnyDeviceSet}. Requirements: the caller is the owner; any-device is on.
    function restrictDevices() external onlyOwner {
        if (!_policy.allowAnyDevice) revert AllowAnyDeviceUnchanged(false);
        _policy.allowAnyDevice = false;
        emit AllowAnyDeviceSet(false);
        _policyChanged(_POLICY_ALLOW_ANY_DEVICE, bytes32(0), false);
    }

    /// @notice Refuse CVMs whose TCB status is not "UpToDate" from now on.
    /// @dev Emits {RequireTcbUpToDateSet}. Requirements: the caller is the owner; it is not required yet.
    function requireUpToDateTcb() external onlyOwner {
        if (_policy.requireTcbUpToDate) revert RequireTcbUpToDateUnchanged(true);
        _policy.requireTcbUpToDate = true;
        emit RequireTcbUpToDateSet(true);
        _policyChanged(_POLICY_REQUIRE_TCB, bytes32(0), true);
    }

    /// @notice Pin an OS measurement that is not pinned yet, at once: from now on only `value` is allowed for it.
    /// It narrows (an unpinned field allows any value), so it is instant; more values wait the notice
    /// ({proposeOsMeasurement}).
    /// @dev Emits {MrSystemPinnedSet} or {OsImageHashPinnedSet}(true), then {MrSystemAdded} or {OsImageHashAdded}.
    ///
    /// Requirements: the caller is the owner; the field is not pinned; `value` is non-zero.
    function pinOs(OsMeasurement field, bytes32 value) external onlyOwner {
        if (value == bytes32(0)) revert OsMeasurementZero(field);
        if (_isPinned(field)) revert OsAlreadyPinned(field);
        _setOsPinned(field, true);
        _addOsMeasurement(field, value);
    }

    /// @notice Stop allowing one pinned OS measurement, at once. The last one cannot be removed: that would allow
    /// any OS, which widens ({proposeUnpinOs} waits the notice).
    /// @dev Emits {MrSystemRemoved} or {OsImageHashRemoved}.
    ///
    /// Requirements: the caller is the owner; `value` is pinned and is not the field's last pinned value.
    function removeOsMeasurement(OsMeasurement field, bytes32 value) external onlyOwner {
        EnumerableSet.Bytes32Set storage values = _osMeasurements[uint8(field)];
        if (!values.contains(value)) revert OsMeasurementNotAllowed(field, value);
        if (values.length() == 1) revert CannotRemoveLastOsMeasurement(field, value);
        _removeOsMeasurement(field, value);
    }

    /// @notice Lengthen the notice period, at once. Open proposals keep their `readyAt`, except that every open
    /// proposal to set a notice shorter than the new one is cancelled: a longer notice is a promise to users, and
    /// an announcement made before it must not quietly undo it later.
    /// @dev Emits {NoticePeriodChanged}, and {ChangeCancelled} for each shortening it cancels.
    ///
    /// Requirements: the caller is the owner; `newNoticePeriod` is within the bounds and longer than the current.
    function lengthenNoticePeriod(uint256 newNoticePeriod) external onlyOwner {
        _checkNoticeBounds(newNoticePeriod);
        uint256 current = _policy.noticePeriod;
        if (newNoticePeriod <= current) revert NoticePeriodNotLonger(newNoticePeriod, current);
        _setNoticePeriod(newNoticePeriod);
    }

    /// @notice Point guest agents back at an allowed compose hash. It widens nothing: any CVM could already boot
    /// that hash.
    /// @dev Emits {CurrentReleaseSet}.
    ///
    /// Requirements: the caller is the owner; the hash is allowed and is not the current release.
    function rollBackTo(bytes32 composeHash) external onlyOwner {
        ComposeHashEntry memory entry = _composeHashEntries[composeHash];
        if (entry.status != ComposeHashStatus.Allowed) revert ComposeHashNotAllowed(composeHash);
        Policy storage policy = _policy;
        if (policy.currentPosition == entry.position + 1) revert AlreadyCurrentRelease(composeHash);
        _setCurrentRelease(policy, composeHash, entry);
    }

    /// @notice Disable upgrades for good. Open proposals become void; narrowing changes stay possible.
    /// @dev Emits {UpgradesDisabled}. Requirements: the caller is the owner; upgrades are not disabled yet.
    function disableUpgrades() external onlyOwner {
        if (_policy.upgradesDisabled) revert UpgradesAreDisabled();
        _disableUpgrades();
    }

    /// @notice Give up ownership for good. Disables upgrades first (if not yet), so that no open proposal is left
    /// that nobody could cancel.
    /// @dev Emits {UpgradesDisabled} (unless already disabled) and {OwnershipTransferred}.
    function renounceOwnership() public override onlyOwner {
        if (!_policy.upgradesDisabled) _disableUpgrades();
        super.renounceOwnership();
    }

    // ---------------------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------------------

    /// @inheritdoc ITimelockedAppAuth
    function noticePeriod() external view returns (uint256) {
        return _policy.noticePeriod;
    }

    /// @inheritdoc ITimelockedAppAuth
    function getTimelock() external view returns (uint256) {
        return _policy.noticePeriod;
    }

    /// @inheritdoc ITimelockedAppAuth
    function allowedComposeHashes(bytes32 composeHash) external view returns (bool) {
        return _composeHashEntries[composeHash].status == ComposeHashStatus.Allowed;
    }

    /// @inheritdoc ITimelockedAppAuth
    function getComposeHashes() external view returns (bytes32[] memory composeHashes) {
        Policy memory policy = _policy;
        composeHashes = new bytes32[](policy.allowedEnd - policy.allowedStart);
        for (uint256 i = 0; i < composeHashes.length; ++i) {
            composeHashes[i] = _composeHashList[policy.allowedStart + i];
        }
    }

    /// @inheritdoc ITimelockedAppAuth
    function getComposeHashesPage(uint256 start, uint256 count)
        external
        view
        returns (bytes32[] memory composeHashes, uint64[] memory allowedAt, uint256 total)
    {
        Policy memory policy = _policy;
        total = policy.allowedEnd - policy.allowedStart;
        uint256 end = _pageEnd(start, count, total);
        composeHashes = new bytes32[](end - start);
        allowedAt = new uint64[](end - start);
        for (uint256 i = start; i < end; ++i) {
            bytes32 composeHash = _composeHashList[policy.allowedStart + i];
            composeHashes[i - start] = composeHash;
            allowedAt[i - start] = _composeHashEntries[composeHash].allowedAt;
        }
    }

    /// @inheritdoc ITimelockedAppAuth
    function composeHashAllowedAt(bytes32 composeHash) external view returns (uint64) {
        ComposeHashEntry memory entry = _composeHashEntries[composeHash];
        return entry.status == ComposeHashStatus.Allowed ? entry.allowedAt : 0;
    }

    /// @inheritdoc ITimelockedAppAuth
    function composeHashUriBlock(bytes32 composeHash) external view returns (uint64) {
        ComposeHashEntry memory entry = _composeHashEntries[composeHash];
        return entry.status == ComposeHashStatus.Allowed ? entry.uriBlock : 0;
    }

    /// @inheritdoc ITimelockedAppAuth
    function allowedDeviceIds(bytes32 deviceId) external view returns (bool) {
        return _devices.contains(deviceId);
    }

    /// @inheritdoc ITimelockedAppAuth
    function getDevices() external view returns (bytes32[] memory) {
        return _devices.values();
    }

    /// @inheritdoc ITimelockedAppAuth
    function getDevicesPage(uint256 start, uint256 count)
        external
        view
        returns (bytes32[] memory devices, uint256 total)
    {
        return _page(_devices, start, count);
    }

    /// @inheritdoc ITimelockedAppAuth
    function allowAnyDevice() external view returns (bool) {
        return _policy.allowAnyDevice;
    }

    /// @inheritdoc ITimelockedAppAuth
    function requireTcbUpToDate() external view returns (bool) {
        return _policy.requireTcbUpToDate;
    }

    /// @inheritdoc ITimelockedAppAuth
    function upgradesDisabled() external view returns (bool) {
        return _policy.upgradesDisabled;
    }

    /// @inheritdoc ITimelockedAppAuth
    function osPinned(OsMeasurement field) external view returns (bool) {
        return _isPinned(field);
    }

    /// @inheritdoc ITimelockedAppAuth
    function allowedOsMeasurement(OsMeasurement field, bytes32 value) external view returns (bool) {
        return !_isPinned(field) || _osMeasurements[uint8(field)].contains(value);
    }

    /// @inheritdoc ITimelockedAppAuth
    function getOsMeasurements(OsMeasurement field) external view returns (bytes32[] memory) {
        return _osMeasurements[uint8(field)].values();
    }

    /// @inheritdoc ITimelockedAppAuth
    function getOsMeasurementsPage(OsMeasurement field, uint256 start, uint256 count)
        external
        view
        returns (bytes32[] memory values, uint256 total)
    {
        return _page(_osMeasurements[uint8(field)], start, count);
    }

    /// @inheritdoc ITimelockedAppAuth
    function currentRelease() external view returns (bytes32 composeHash, uint64 uriBlock, uint64 setAt) {
        Policy memory policy = _policy;
        if (policy.currentPosition == 0) return (_removedCurrentRelease, 0, policy.releaseSetAt);
        composeHash = _composeHashList[policy.currentPosition - 1];
        return (composeHash, _composeHashEntries[composeHash].uriBlock, policy.releaseSetAt);
    }

    /// @inheritdoc ITimelockedAppAuth
    function proposalId(ChangeKind kind, bytes32 value) public pure returns (bytes32) {
        return keccak256(abi.encode(kind, value));
    }

    /// @inheritdoc ITimelockedAppAuth
    function getProposal(bytes32 id) public view returns (ProposalView memory) {
        Proposal storage p = _proposals[id];
        if (p.readyAt != 0) return _proposalView(id, p.kind, p.value, p.readyAt, 0);
        // A compose-hash proposal is found by its hash: look among the open ones (at most {MAX_OPEN_PROPOSALS}).
        Policy memory policy = _policy;
        for (uint256 position = policy.allowedEnd; position < policy.proposedEnd; ++position) {
            bytes32 composeHash = _composeHashList[position];
            if (proposalId(ChangeKind.AddComposeHash, composeHash) == id) return _composeHashProposalView(composeHash);
        }
        return _proposalView(id, ChangeKind.AddComposeHash, bytes32(0), 0, 0);
    }

    /// @inheritdoc ITimelockedAppAuth
    function getProposals() external view returns (ProposalView[] memory proposals) {
        Policy memory policy = _policy;
        uint256 composeCount = policy.proposedEnd - policy.allowedEnd;
        uint256 otherCount = _openProposalIds.length();
        proposals = new ProposalView[](composeCount + otherCount);
        for (uint256 i = 0; i < composeCount; ++i) {
            proposals[i] = _composeHashProposalView(_composeHashList[policy.allowedEnd + i]);
        }
        for (uint256 i = 0; i < otherCount; ++i) {
            proposals[composeCount + i] = getProposal(_openProposalIds.at(i));
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------------------

    function _proposalView(bytes32 id, ChangeKind kind, bytes32 value, uint64 readyAt, uint64 uriBlock)
        private
        view
        returns (ProposalView memory)
    {
        return ProposalView({
            id: id,
            kind: kind,
            value: value,
            readyAt: readyAt,
            expiresAt: readyAt == 0 ? 0 : readyAt + GRACE_PERIOD,
            state: _state(readyAt),
            uriBlock: uriBlock
        });
    }

    function _composeHashProposalView(bytes32 composeHash) private view returns (ProposalView memory) {
        ComposeHashEntry memory entry = _composeHashEntries[composeHash];
        return _proposalView(
            proposalId(ChangeKind.AddComposeHash, composeHash),
            ChangeKind.AddComposeHash,
            composeHash,
            entry.readyAt,
            entry.uriBlock
        );
    }

    /// @dev The state of a proposal that became ready at `readyAt` (zero: no proposal).
    function _state(uint64 readyAt) private view returns (ProposalState) {
        if (readyAt == 0) return ProposalState.None;
        if (_policy.upgradesDisabled) return ProposalState.Voided;
        if (block.timestamp < readyAt) return ProposalState.Waiting;
        if (block.timestamp < readyAt + GRACE_PERIOD) return ProposalState.Ready;
        return ProposalState.Expired;
    }

    /// @dev Open proposals of both kinds: compose hashes (the list's tail) and the others (the set).
    /// @dev At most `count` members of `set` from position `start`, and how many it has in all.
    function _page(EnumerableSet.Bytes32Set storage set, uint256 start, uint256 count)
        private
        view
        returns (bytes32[] memory members, uint256 total)
    {
        total = set.length();
        uint256 end = _pageEnd(start, count, total);
        members = new bytes32[](end - start);
        for (uint256 i = start; i < end; ++i) {
            members[i - start] = set.at(i);
        }
    }

    /// @dev The end of the page `[start, start + count)` of a list of `total`, clamped to it (no overflow).
    function _pageEnd(uint256 start, uint256 count, uint256 total) private pure returns (uint256) {
        return start >= total ? start : (count > total - start ? total : start + count);
    }

    function _openProposalCount(Policy storage policy) private view returns (uint256) {
        return policy.proposedEnd - policy.allowedEnd + policy.otherProposals;
    }

    /// @dev Proposals of every kind but `AddComposeHash` ({proposeComposeHash} has its own storage).
    function _propose(ChangeKind kind, bytes32 value) private returns (bytes32 id) {
        Policy storage policy = _policy;
        if (policy.upgradesDisabled) revert UpgradesAreDisabled();
        id = proposalId(kind, value);
        Proposal storage p = _proposals[id];
        ProposalState state = _state(p.readyAt);
        // An expired proposal may be proposed again, with a fresh notice; an open one may not (no timer reset).
        if (state == ProposalState.Waiting || state == ProposalState.Ready) {
            revert ProposalAlreadyOpen(id, p.readyAt, p.readyAt + GRACE_PERIOD);
        }
        if (state == ProposalState.None && _openProposalCount(policy) >= MAX_OPEN_PROPOSALS) _pruneExpired();
        uint64 readyAt = uint64(block.timestamp + policy.noticePeriod);
        _proposals[id] = Proposal({kind: kind, readyAt: readyAt, value: value});
        if (_openProposalIds.add(id)) ++_policy.otherProposals;
        emit ChangeProposed(id, kind, value, readyAt, readyAt + GRACE_PERIOD, "");
    }

    /// @dev Checks that the proposal is ready, then emits {ChangeActivated}.
    function _checkReady(Policy storage policy, bytes32 id, uint64 readyAt) private view {
        if (policy.upgradesDisabled) revert UpgradesAreDisabled();
        if (readyAt == 0) revert ProposalNotFound(id);
        if (block.timestamp < readyAt) revert ProposalNotReady(id, readyAt, block.timestamp);
        uint64 expiresAt = readyAt + GRACE_PERIOD;
        if (block.timestamp >= expiresAt) revert ProposalExpired(id, expiresAt, block.timestamp);
    }

    /// @dev Checks that the proposal is ready and deletes it; the caller applies the change.
    function _consumeReadyProposal(ChangeKind kind, bytes32 value) private {
        bytes32 id = proposalId(kind, value);
        _checkReady(_policy, id, _proposals[id].readyAt);
        delete _proposals[id];
        _openProposalIds.remove(id);
        --_policy.otherProposals;
        emit ChangeActivated(id, kind, value, msg.sender);
    }

    /// @dev Checks that the compose hash's proposal is ready and returns its entry; the caller allows it.
    function _consumeReadyComposeHash(Policy storage policy, bytes32 composeHash)
        private
        returns (ComposeHashEntry memory entry)
    {
        entry = _composeHashEntries[composeHash];
        bytes32 id = proposalId(ChangeKind.AddComposeHash, composeHash);
        _checkReady(policy, id, entry.status == ComposeHashStatus.Proposed ? entry.readyAt : 0);
        emit ChangeActivated(id, ChangeKind.AddComposeHash, composeHash, msg.sender);
    }

    function _cancel(ChangeKind kind, bytes32 value) private {
        bytes32 id = proposalId(kind, value);
        if (_proposals[id].readyAt == 0) revert ProposalNotFound(id);
        delete _proposals[id];
        _openProposalIds.remove(id);
        --_policy.otherProposals;
        emit ChangeCancelled(id, kind, value);
    }

    /// @dev Deletes the proposal and moves the last open compose-hash proposal into its place.
    function _cancelComposeHash(bytes32 composeHash) private {
        ComposeHashEntry memory entry = _composeHashEntries[composeHash];
        bytes32 id = proposalId(ChangeKind.AddComposeHash, composeHash);
        if (entry.status != ComposeHashStatus.Proposed) revert ProposalNotFound(id);
        Policy storage policy = _policy;
        uint32 last = policy.proposedEnd - 1;
        if (entry.position != last) _move(last, entry.position);
        policy.proposedEnd = last;
        delete _composeHashEntries[composeHash];
        emit ChangeCancelled(id, ChangeKind.AddComposeHash, composeHash);
    }

    /// @dev Puts the hash at position `from` into position `to` of the list.
    function _move(uint32 from, uint32 to) private {
        bytes32 moved = _composeHashList[from];
        _composeHashList[to] = moved;
        _composeHashEntries[moved].position = to;
    }

    /// @dev Deletes every expired proposal, to make room for a new one; reverts if none has expired. Walks backwards
    /// for the reason {_cancelShorteningsBelow} does; at most {MAX_OPEN_PROPOSALS} steps in all.
    function _pruneExpired() private {
        uint256 before = _openProposalCount(_policy);
        for (uint256 i = _openProposalIds.length(); i > 0; --i) {
            Proposal storage p = _proposals[_openProposalIds.at(i - 1)];
            if (block.timestamp >= p.readyAt + GRACE_PERIOD) _cancel(p.kind, p.value);
        }
        for (uint256 position = _policy.proposedEnd; position > _policy.allowedEnd; --position) {
            bytes32 composeHash = _composeHashList[position - 1];
            if (block.timestamp >= _composeHashEntries[composeHash].readyAt + GRACE_PERIOD) {
                _cancelComposeHash(composeHash);
            }
        }
        if (_openProposalCount(_policy) == before) revert TooManyOpenProposals(MAX_OPEN_PROPOSALS);
    }

    /// @dev Walks the open proposals backwards, because cancelling one moves the last id into its slot. At most
    /// {MAX_OPEN_PROPOSALS} steps.
    function _cancelShorteningsBelow(uint256 notice) private {
        for (uint256 i = _openProposalIds.length(); i > 0; --i) {
            Proposal storage p = _proposals[_openProposalIds.at(i - 1)];
            if (p.kind == ChangeKind.ShortenNotice && uint256(p.value) < notice) _cancel(p.kind, p.value);
        }
    }

    /// @dev Makes a proposed hash allowed, at the start of the proposals (`allowedEnd`), and the current release.
    function _allowProposed(Policy storage policy, bytes32 composeHash, ComposeHashEntry memory entry) private {
        uint32 position = policy.allowedEnd;
        if (entry.position != position) {
            _move(position, entry.position);
            _composeHashList[position] = composeHash;
            entry.position = position;
        }
        policy.allowedEnd = position + 1;
        entry.status = ComposeHashStatus.Allowed;
        entry.allowedAt = uint64(block.timestamp);
        _composeHashEntries[composeHash] = entry;
        emit ComposeHashAdded(composeHash);
        _policyChanged(_POLICY_COMPOSE_HASH, composeHash, true);
        _setCurrentRelease(policy, composeHash, entry);
    }

    /// @dev Moves the first allowed hash into the removed one's place. The current release keeps its name when it is
    /// removed (guest agents then see it is no longer allowed).
    function _removeComposeHash(Policy storage policy, bytes32 composeHash) private {
        ComposeHashEntry memory entry = _composeHashEntries[composeHash];
        if (entry.status != ComposeHashStatus.Allowed) revert ComposeHashNotAllowed(composeHash);
        uint32 first = policy.allowedStart;
        if (policy.currentPosition == entry.position + 1) {
            _removedCurrentRelease = composeHash;
            policy.currentPosition = 0;
        }
        if (entry.position != first) {
            _move(first, entry.position);
            if (policy.currentPosition == first + 1) policy.currentPosition = entry.position + 1;
        }
        policy.allowedStart = first + 1;
        delete _composeHashEntries[composeHash];
        emit ComposeHashRemoved(composeHash);
        _policyChanged(_POLICY_COMPOSE_HASH, composeHash, false);
    }

    function _setCurrentRelease(Policy storage policy, bytes32 composeHash, ComposeHashEntry memory entry) private {
        policy.currentPosition = entry.position + 1;
        policy.releaseSetAt = uint40(block.timestamp);
        emit CurrentReleaseSet(composeHash, entry.uriBlock);
    }

    /// @dev Whatever sets it (lengthening, or a shortening proposed when the notice was longer still), a longer
    /// notice is a promise to users: no shortening announced before it may undo it later, so those are cancelled.
    function _setNoticePeriod(uint256 newNoticePeriod) private {
        uint256 oldNoticePeriod = _policy.noticePeriod;
        _policy.noticePeriod = uint32(newNoticePeriod);
        emit NoticePeriodChanged(oldNoticePeriod, newNoticePeriod);
        _policyChanged(_POLICY_NOTICE_PERIOD, bytes32(newNoticePeriod), true);
        if (newNoticePeriod > oldNoticePeriod) _cancelShorteningsBelow(newNoticePeriod);
    }

    function _isPinned(OsMeasurement field) private view returns (bool) {
        return _policy.pinnedOsFields & (uint8(1) << uint8(field)) != 0;
    }

    /// @dev `AddMrSystem`/`AddOsImageHash` and `UnpinMrSystem`/`UnpinOsImageHash` follow {OsMeasurement}'s order.
    function _addOsKind(OsMeasurement field) private pure returns (ChangeKind) {
        return ChangeKind(uint8(ChangeKind.AddMrSystem) + uint8(field));
    }

    function _unpinOsKind(OsMeasurement field) private pure returns (ChangeKind) {
        return ChangeKind(uint8(ChangeKind.UnpinMrSystem) + uint8(field));
    }

    function _setOsPinned(OsMeasurement field, bool pinned) private {
        uint8 bit = uint8(1) << uint8(field);
        _policy.pinnedOsFields = pinned ? _policy.pinnedOsFields | bit : _policy.pinnedOsFields & ~bit;
        if (field == OsMeasurement.MrSystem) {
            emit MrSystemPinnedSet(pinned);
            _policyChanged(_POLICY_MR_SYSTEM_PINNED, bytes32(0), pinned);
        } else {
            emit OsImageHashPinnedSet(pinned);
            _policyChanged(_POLICY_OS_IMAGE_PINNED, bytes32(0), pinned);
        }
    }

    /// @dev A value can be pinned at once ({pinOs}) while its proposal is still open: then that proposal adds nothing.
    function _addOsMeasurement(OsMeasurement field, bytes32 value) private {
        if (!_osMeasurements[uint8(field)].add(value)) revert OsMeasurementAlreadyAllowed(field, value);
        if (field == OsMeasurement.MrSystem) {
            emit MrSystemAdded(value);
            _policyChanged(_POLICY_MR_SYSTEM, value, true);
        } else {
            emit OsImageHashAdded(value);
            _policyChanged(_POLICY_OS_IMAGE, value, true);
        }
    }

    function _removeOsMeasurement(OsMeasurement field, bytes32 value) private {
        _osMeasurements[uint8(field)].remove(value);
        if (field == OsMeasurement.MrSystem) {
            emit MrSystemRemoved(value);
            _policyChanged(_POLICY_MR_SYSTEM, value, false);
        } else {
            emit OsImageHashRemoved(value);
            _policyChanged(_POLICY_OS_IMAGE, value, false);
        }
    }

    function _disableUpgrades() private {
        _policy.upgradesDisabled = true;
        emit UpgradesDisabled();
        _policyChanged(_POLICY_UPGRADES_DISABLED, bytes32(0), true);
    }

    /// @dev dstack's audit event, next to the dstack event of the same change; the actor is the transaction's sender.
    function _policyChanged(bytes32 policy, bytes32 value, bool enabled) private {
        emit PolicyChanged(msg.sender, policy, value, enabled);
    }

    function _checkNoticeBounds(uint256 notice) private pure {
        if (notice < MIN_NOTICE_PERIOD || notice > MAX_NOTICE_PERIOD) {
            revert NoticePeriodOutOfBounds(notice, MIN_NOTICE_PERIOD, MAX_NOTICE_PERIOD);
        }
    }

    function _checkComposeUri(bytes32 composeHash, string memory uri) private pure {
        if (composeHash == bytes32(0)) revert ComposeHashZero();
        if (bytes(uri).length == 0) revert ComposeUriEmpty(composeHash);
        if (bytes(uri).length > MAX_URI_LENGTH) revert ComposeUriTooLong(bytes(uri).length, MAX_URI_LENGTH);
    }
}
