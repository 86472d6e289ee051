// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ERC165} from "@openzeppelin/contracts/utils/introspection/ERC165.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";

import {IAppAuth} from "./interfaces/IAppAuth.sol";
import {ITimelockedAppAuth} from "./interfaces/ITimelockedAppAuth.sol";
import {DatedSet} from "./utils/DatedSet.sol";

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
/// - A compose file's URI is stored once, under its compose hash, when the hash is proposed; activation only makes
///   the hash allowed, and the views show the URI of a hash that is not allowed only as part of its proposal.
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
/// - Admin code favours readability over gas: it runs a few times a month; {isAppAllowed} runs at every boot.
///   Storage is laid out so that no value is written twice (BENCHMARKS.md shows where each transaction's gas goes).
contract TimelockedAppAuth is ITimelockedAppAuth, Ownable2Step, ERC165 {
    using EnumerableSet for EnumerableSet.Bytes32Set;
    using DatedSet for DatedSet.Set;

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

    uint256 private _noticePeriod;
    bool private _upgradesDisabled;
    bool private _allowAnyDevice;
    bool private _requireTcbUpToDate;
    uint64 private _currentReleaseSetAt;
    /// @dev Bit `1 << uint8(field)` is set iff that {OsMeasurement} is pinned. In the slot {isAppAllowed} already
    /// reads for the TCB flag, so an app that pins nothing pays no extra storage read.
    uint8 private _pinnedOsFields;
    bytes32 private _currentComposeHash;

    /// @dev Same two slots as an `EnumerableSet.Bytes32Set`; the entry word is non-zero iff the hash is allowed.
    DatedSet.Set private _composeHashes;
    EnumerableSet.Bytes32Set private _devices;
    /// @dev Set when a hash is proposed (or at genesis), kept when it is activated, deleted when its proposal is
    /// cancelled or the hash is removed. A hash with an open proposal is never allowed, so one entry serves both.
    mapping(bytes32 composeHash => string uri) private _composeUris;

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
        _noticePeriod = initialNoticePeriod;
        emit NoticePeriodChanged(0, initialNoticePeriod);
        _policyChanged(_POLICY_NOTICE_PERIOD, bytes32(initialNoticePeriod), true);

        if (initialComposeHash != bytes32(0)) {
            _checkComposeUri(initialComposeHash, initialComposeUri);
            _composeUris[initialComposeHash] = initialComposeUri;
            _addComposeHash(initialComposeHash);
        }
        for (uint256 i = 0; i < initialDevices.length; ++i) {
            bytes32 deviceId = initialDevices[i];
            if (!_devices.add(deviceId)) revert DeviceAlreadyAllowed(deviceId);
            emit DeviceAdded(deviceId);
            _policyChanged(_POLICY_DEVICE, deviceId, true);
        }
        _allowAnyDevice = initialAllowAnyDevice;
        emit AllowAnyDeviceSet(initialAllowAnyDevice);
        _policyChanged(_POLICY_ALLOW_ANY_DEVICE, bytes32(0), initialAllowAnyDevice);
        _requireTcbUpToDate = initialRequireTcbUpToDate;
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
        // The three flags share one slot (test/lib/verified-layout.test.ts pins the layout): one SLOAD reads them all,
        // so pinning support costs an app that pins nothing no storage read.
        bool tcbRequired;
        bool anyDevice;
        uint256 pinned;
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            let flags := sload(_requireTcbUpToDate.slot)
            tcbRequired := and(shr(mul(_requireTcbUpToDate.offset, 8), flags), 0xff)
            anyDevice := and(shr(mul(_allowAnyDevice.offset, 8), flags), 0xff)
            pinned := and(shr(mul(_pinnedOsFields.offset, 8), flags), 0xff)
        }
        if (tcbRequired && keccak256(bytes(bootInfo.tcbStatus)) != _TCB_UP_TO_DATE) {
            return (false, "TCB status is not up to date");
        }
        if (!_composeHashes.contains(bootInfo.composeHash)) {
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
    function proposeComposeHash(bytes32 composeHash, string calldata uri) external onlyOwner returns (bytes32) {
        _checkComposeUri(composeHash, uri);
        if (_composeHashes.contains(composeHash)) revert ComposeHashAlreadyAllowed(composeHash);
        return _propose(ChangeKind.AddComposeHash, composeHash, uri);
    }

    /// @notice Allow a proposed compose hash and make it the current release. Anyone may call it.
    /// @dev Emits {ChangeActivated}, {ComposeHashAdded} and {CurrentReleaseSet}.
    ///
    /// Requirements: upgrades are not disabled; the proposal is ready (`readyAt <= now < expiresAt`).
    function activateComposeHash(bytes32 composeHash) external {
        _consumeReadyProposal(ChangeKind.AddComposeHash, composeHash);
        _addComposeHash(composeHash);
    }

    /// @notice Activate a ready compose-hash proposal and stop allowing `retired` older releases, in one transaction:
    /// the upgrade that leaves no way back to what it replaces. Retiring narrows, so only the owner may call it.
    /// @dev Emits what {activateComposeHash} emits, then {ComposeHashRemoved} for each retired hash.
    ///
    /// Requirements: the caller is the owner; as {activateComposeHash}; every retired hash is allowed, listed
    /// once, and is not `composeHash`.
    function activateComposeHashAndRetire(bytes32 composeHash, bytes32[] calldata retired) external onlyOwner {
        _consumeReadyProposal(ChangeKind.AddComposeHash, composeHash);
        _addComposeHash(composeHash);
        for (uint256 i = 0; i < retired.length; ++i) {
            if (retired[i] == composeHash) revert CannotRetireNewRelease(composeHash);
            _removeComposeHash(retired[i]);
        }
    }

    /// @notice Withdraw an open compose-hash proposal.
    /// @dev Emits {ChangeCancelled}. Requirements: the caller is the owner; the proposal exists.
    function cancelComposeHash(bytes32 composeHash) external onlyOwner {
        _cancel(ChangeKind.AddComposeHash, composeHash);
        delete _composeUris[composeHash];
    }

    /// @notice Announce a new allowed device.
    /// @dev Emits {ChangeProposed}.
    ///
    /// Requirements: the caller is the owner; upgrades are not disabled; the device is not listed yet and not
    /// already open as a proposal.
    function proposeDevice(bytes32 deviceId) external onlyOwner returns (bytes32) {
        if (_devices.contains(deviceId)) revert DeviceAlreadyAllowed(deviceId);
        return _propose(ChangeKind.AddDevice, deviceId, "");
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
        if (_allowAnyDevice) revert AllowAnyDeviceUnchanged(true);
        return _propose(ChangeKind.AllowAnyDevice, bytes32(0), "");
    }

    /// @notice Allow any device. Anyone may call it once the proposal is ready.
    /// @dev Emits {ChangeActivated} and {AllowAnyDeviceSet}. Requirements: as {activateComposeHash}.
    function activateAllowAnyDevice() external {
        _consumeReadyProposal(ChangeKind.AllowAnyDevice, bytes32(0));
        _allowAnyDevice = true;
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
        if (!_requireTcbUpToDate) revert RequireTcbUpToDateUnchanged(false);
        return _propose(ChangeKind.AllowOutdatedTcb, bytes32(0), "");
    }

    /// @notice Stop requiring an up-to-date TCB. Anyone may call it once the proposal is ready.
    /// @dev Emits {ChangeActivated} and {RequireTcbUpToDateSet}. Requirements: as {activateComposeHash}.
    function activateAllowOutdatedTcb() external {
        _consumeReadyProposal(ChangeKind.AllowOutdatedTcb, bytes32(0));
        _requireTcbUpToDate = false;
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
        if (newNoticePeriod >= _noticePeriod) revert NoticePeriodNotShorter(newNoticePeriod, _noticePeriod);
        return _propose(ChangeKind.ShortenNotice, bytes32(newNoticePeriod), "");
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
        return _propose(_addOsKind(field), value, "");
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
        return _propose(_unpinOsKind(field), bytes32(0), "");
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
        _removeComposeHash(composeHash);
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
        if (!_allowAnyDevice) revert AllowAnyDeviceUnchanged(false);
        _allowAnyDevice = false;
        emit AllowAnyDeviceSet(false);
        _policyChanged(_POLICY_ALLOW_ANY_DEVICE, bytes32(0), false);
    }

    /// @notice Refuse CVMs whose TCB status is not "UpToDate" from now on.
    /// @dev Emits {RequireTcbUpToDateSet}. Requirements: the caller is the owner; it is not required yet.
    function requireUpToDateTcb() external onlyOwner {
        if (_requireTcbUpToDate) revert RequireTcbUpToDateUnchanged(true);
        _requireTcbUpToDate = true;
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
        if (newNoticePeriod <= _noticePeriod) revert NoticePeriodNotLonger(newNoticePeriod, _noticePeriod);
        _setNoticePeriod(newNoticePeriod);
    }

    /// @notice Point guest agents back at an allowed compose hash. It widens nothing: any CVM could already boot
    /// that hash.
    /// @dev Emits {CurrentReleaseSet}.
    ///
    /// Requirements: the caller is the owner; the hash is allowed and is not the current release.
    function rollBackTo(bytes32 composeHash) external onlyOwner {
        if (!_composeHashes.contains(composeHash)) revert ComposeHashNotAllowed(composeHash);
        if (composeHash == _currentComposeHash) revert AlreadyCurrentRelease(composeHash);
        _setCurrentRelease(composeHash);
    }

    /// @notice Disable upgrades for good. Open proposals become void; narrowing changes stay possible.
    /// @dev Emits {UpgradesDisabled}. Requirements: the caller is the owner; upgrades are not disabled yet.
    function disableUpgrades() external onlyOwner {
        if (_upgradesDisabled) revert UpgradesAreDisabled();
        _disableUpgrades();
    }

    /// @notice Give up ownership for good. Disables upgrades first (if not yet), so that no open proposal is left
    /// that nobody could cancel.
    /// @dev Emits {UpgradesDisabled} (unless already disabled) and {OwnershipTransferred}.
    function renounceOwnership() public override onlyOwner {
        if (!_upgradesDisabled) _disableUpgrades();
        super.renounceOwnership();
    }

    // ---------------------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------------------

    /// @inheritdoc ITimelockedAppAuth
    function noticePeriod() external view returns (uint256) {
        return _noticePeriod;
    }

    /// @inheritdoc ITimelockedAppAuth
    function getTimelock() external view returns (uint256) {
        return _noticePeriod;
    }

    /// @inheritdoc ITimelockedAppAuth
    function allowedComposeHashes(bytes32 composeHash) external view returns (bool) {
        return _composeHashes.contains(composeHash);
    }

    /// @inheritdoc ITimelockedAppAuth
    function getComposeHashes() external view returns (bytes32[] memory) {
        return _composeHashes.values;
    }

    /// @inheritdoc ITimelockedAppAuth
    function getComposeHashesPage(uint256 start, uint256 count)
        external
        view
        returns (bytes32[] memory composeHashes, uint64[] memory allowedAt, uint256 total)
    {
        composeHashes = _composeHashes.page(start, count);
        allowedAt = new uint64[](composeHashes.length);
        for (uint256 i = 0; i < composeHashes.length; ++i) {
            allowedAt[i] = _composeHashes.since(composeHashes[i]);
        }
        total = _composeHashes.length();
    }

    /// @inheritdoc ITimelockedAppAuth
    function composeHashAllowedAt(bytes32 composeHash) external view returns (uint64) {
        return _composeHashes.since(composeHash);
    }

    /// @inheritdoc ITimelockedAppAuth
    function composeHashUri(bytes32 composeHash) external view returns (string memory) {
        return _allowedUri(composeHash);
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
        total = _devices.length();
        uint256 end = start >= total ? start : (count > total - start ? total : start + count);
        devices = new bytes32[](end - start);
        for (uint256 i = start; i < end; ++i) {
            devices[i - start] = _devices.at(i);
        }
    }

    /// @inheritdoc ITimelockedAppAuth
    function allowAnyDevice() external view returns (bool) {
        return _allowAnyDevice;
    }

    /// @inheritdoc ITimelockedAppAuth
    function requireTcbUpToDate() external view returns (bool) {
        return _requireTcbUpToDate;
    }

    /// @inheritdoc ITimelockedAppAuth
    function upgradesDisabled() external view returns (bool) {
        return _upgradesDisabled;
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
    function currentRelease() external view returns (bytes32 composeHash, string memory uri, uint64 setAt) {
        composeHash = _currentComposeHash;
        return (composeHash, _allowedUri(composeHash), _currentReleaseSetAt);
    }

    /// @inheritdoc ITimelockedAppAuth
    function proposalId(ChangeKind kind, bytes32 value) public pure returns (bytes32) {
        return keccak256(abi.encode(kind, value));
    }

    /// @inheritdoc ITimelockedAppAuth
    function getProposal(bytes32 id) public view returns (ProposalView memory) {
        Proposal storage p = _proposals[id];
        return ProposalView({
            id: id,
            kind: p.kind,
            value: p.value,
            readyAt: p.readyAt,
            expiresAt: _expiresAt(p),
            state: _state(p),
            uri: p.kind == ChangeKind.AddComposeHash ? _composeUris[p.value] : ""
        });
    }

    /// @inheritdoc ITimelockedAppAuth
    function getProposals() external view returns (ProposalView[] memory proposals) {
        uint256 count = _openProposalIds.length();
        proposals = new ProposalView[](count);
        for (uint256 i = 0; i < count; ++i) {
            proposals[i] = getProposal(_openProposalIds.at(i));
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------------------

    /// @dev The first second at which the proposal can no longer be activated; zero when there is no proposal.
    function _expiresAt(Proposal storage p) private view returns (uint64) {
        return p.readyAt == 0 ? 0 : p.readyAt + GRACE_PERIOD;
    }

    /// @dev The URI of an allowed hash; empty for any other (a proposed hash's URI is read through its proposal).
    function _allowedUri(bytes32 composeHash) private view returns (string memory) {
        return _composeHashes.contains(composeHash) ? _composeUris[composeHash] : "";
    }

    function _state(Proposal storage p) private view returns (ProposalState) {
        if (p.readyAt == 0) return ProposalState.None;
        if (_upgradesDisabled) return ProposalState.Voided;
        if (block.timestamp < p.readyAt) return ProposalState.Waiting;
        if (block.timestamp < _expiresAt(p)) return ProposalState.Ready;
        return ProposalState.Expired;
    }

    function _propose(ChangeKind kind, bytes32 value, string memory uri) private returns (bytes32 id) {
        if (_upgradesDisabled) revert UpgradesAreDisabled();
        id = proposalId(kind, value);
        Proposal storage p = _proposals[id];
        ProposalState state = _state(p);
        // An expired proposal may be proposed again, with a fresh notice; an open one may not (no timer reset).
        if (state == ProposalState.Waiting || state == ProposalState.Ready) {
            revert ProposalAlreadyOpen(id, p.readyAt, _expiresAt(p));
        }
        if (state == ProposalState.None && _openProposalIds.length() >= MAX_OPEN_PROPOSALS) _pruneExpired();
        uint64 readyAt = uint64(block.timestamp + _noticePeriod);
        _proposals[id] = Proposal({kind: kind, readyAt: readyAt, value: value});
        _openProposalIds.add(id);
        if (kind == ChangeKind.AddComposeHash) _composeUris[value] = uri;
        emit ChangeProposed(id, kind, value, readyAt, readyAt + GRACE_PERIOD, uri);
    }

    /// @dev Checks that the proposal is ready and deletes it; the caller applies the change.
    function _consumeReadyProposal(ChangeKind kind, bytes32 value) private {
        if (_upgradesDisabled) revert UpgradesAreDisabled();
        bytes32 id = proposalId(kind, value);
        Proposal storage p = _proposals[id];
        if (p.readyAt == 0) revert ProposalNotFound(id);
        if (block.timestamp < p.readyAt) revert ProposalNotReady(id, p.readyAt, block.timestamp);
        if (block.timestamp >= _expiresAt(p)) revert ProposalExpired(id, _expiresAt(p), block.timestamp);
        delete _proposals[id];
        _openProposalIds.remove(id);
        emit ChangeActivated(id, kind, value, msg.sender);
    }

    function _cancel(ChangeKind kind, bytes32 value) private {
        bytes32 id = proposalId(kind, value);
        if (_proposals[id].readyAt == 0) revert ProposalNotFound(id);
        delete _proposals[id];
        _openProposalIds.remove(id);
        emit ChangeCancelled(id, kind, value);
    }

    /// @dev Deletes every expired proposal, to make room for a new one; reverts if none has expired. Walks backwards
    /// for the reason {_cancelShorteningsBelow} does; at most {MAX_OPEN_PROPOSALS} steps.
    function _pruneExpired() private {
        uint256 before = _openProposalIds.length();
        for (uint256 i = before; i > 0; --i) {
            Proposal storage p = _proposals[_openProposalIds.at(i - 1)];
            if (block.timestamp >= _expiresAt(p)) _cancel(p.kind, p.value);
        }
        if (_openProposalIds.length() == before) revert TooManyOpenProposals(MAX_OPEN_PROPOSALS);
    }

    /// @dev Walks the open proposals backwards, because cancelling one moves the last id into its slot. At most
    /// {MAX_OPEN_PROPOSALS} steps.
    function _cancelShorteningsBelow(uint256 notice) private {
        for (uint256 i = _openProposalIds.length(); i > 0; --i) {
            Proposal storage p = _proposals[_openProposalIds.at(i - 1)];
            if (p.kind == ChangeKind.ShortenNotice && uint256(p.value) < notice) _cancel(p.kind, p.value);
        }
    }

    /// @dev The hash's URI is already stored (by the constructor or {_propose}).
    function _addComposeHash(bytes32 composeHash) private {
        _composeHashes.add(composeHash, uint64(block.timestamp));
        emit ComposeHashAdded(composeHash);
        _policyChanged(_POLICY_COMPOSE_HASH, composeHash, true);
        _setCurrentRelease(composeHash);
    }

    function _removeComposeHash(bytes32 composeHash) private {
        if (!_composeHashes.remove(composeHash)) revert ComposeHashNotAllowed(composeHash);
        delete _composeUris[composeHash];
        emit ComposeHashRemoved(composeHash);
        _policyChanged(_POLICY_COMPOSE_HASH, composeHash, false);
    }

    function _setCurrentRelease(bytes32 composeHash) private {
        _currentComposeHash = composeHash;
        _currentReleaseSetAt = uint64(block.timestamp);
        emit CurrentReleaseSet(composeHash, _composeUris[composeHash]);
    }

    /// @dev Whatever sets it (lengthening, or a shortening proposed when the notice was longer still), a longer
    /// notice is a promise to users: no shortening announced before it may undo it later, so those are cancelled.
    function _setNoticePeriod(uint256 newNoticePeriod) private {
        uint256 oldNoticePeriod = _noticePeriod;
        _noticePeriod = newNoticePeriod;
        emit NoticePeriodChanged(oldNoticePeriod, newNoticePeriod);
        _policyChanged(_POLICY_NOTICE_PERIOD, bytes32(newNoticePeriod), true);
        if (newNoticePeriod > oldNoticePeriod) _cancelShorteningsBelow(newNoticePeriod);
    }

    function _isPinned(OsMeasurement field) private view returns (bool) {
        return _pinnedOsFields & (uint8(1) << uint8(field)) != 0;
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
        _pinnedOsFields = pinned ? _pinnedOsFields | bit : _pinnedOsFields & ~bit;
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
        _upgradesDisabled = true;
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
