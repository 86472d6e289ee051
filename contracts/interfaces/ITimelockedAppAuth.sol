// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IAppAuth} from "./IAppAuth.sol";

/// @title ITimelockedAppAuth
/// @notice The public surface of {TimelockedAppAuth}: a dstack app policy in which every change that widens what
/// may run is announced and waits a notice period, while every change that narrows it takes effect at once.
interface ITimelockedAppAuth is IAppAuth {
    /// @notice The changes that widen what may run, and so must wait the notice period.
    enum ChangeKind {
        AddComposeHash,
        AddDevice,
        AllowAnyDevice,
        AllowOutdatedTcb,
        ShortenNotice,
        AddMrSystem,
        AddOsImageHash,
        UnpinMrSystem,
        UnpinOsImageHash
    }

    /// @notice The OS measurements of dstack's {AppBootInfo} an app can pin.
    /// @dev `MrSystem`: `sha256(MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2 ‖ 32 zero bytes)` as the KMS computes it when it releases
    /// keys: firmware, virtual hardware (vCPUs, memory), kernel, command line and initrd, bound by the TDX quote
    /// itself; one value per OS image and VM size. `OsImageHash`: the image's digest (`sha256` of its
    /// `sha256sum.txt`), the same on every VM size; the host names it in the VM config and the KMS holds it to the
    /// measured registers when its image verification is on.
    enum OsMeasurement {
        MrSystem,
        OsImageHash
    }

    /// @notice Where a proposal stands. Derived from its timestamps and the upgrades flag, never stored.
    /// @dev `None`: never proposed, cancelled or activated. `Waiting`: before `readyAt`. `Ready`: in
    /// `[readyAt, expiresAt)`, anyone may activate it. `Expired`: at or after `expiresAt`; must be proposed again
    /// with a fresh notice. `Voided`: upgrades were disabled while it was open; it can never take effect.
    enum ProposalState {
        None,
        Waiting,
        Ready,
        Expired,
        Voided
    }

    /// @notice An open proposal as tools and auditors read it.
    /// @param id `keccak256(abi.encode(kind, value))`.
    /// @param kind What the change does.
    /// @param value The compose hash, device id, OS measurement or new notice period (as
    /// `bytes32(uint256(seconds))`); zero for the two policy flags and for unpinning.
    /// @param readyAt First second at which it can be activated; fixed when proposed.
    /// @param expiresAt First second at which it can no longer be activated.
    /// @param state Its state at the time of the call.
    /// @param uriBlock For a compose hash, the block whose {ChangeProposed} event (topics: its id) carries the URI
    /// of its `app-compose.json`; zero otherwise.
    // Returned by views, never stored: its order is the one tools read, not a storage packing.
    // solhint-disable-next-line gas-struct-packing
    struct ProposalView {
        bytes32 id;
        ChangeKind kind;
        bytes32 value;
        uint64 readyAt;
        uint64 expiresAt;
        ProposalState state;
        uint64 uriBlock;
    }

    // ---------------------------------------------------------------------------------------------------------
    // dstack's own events, emitted at the moment a change takes effect (unindexed, as dstack's DstackApp does)
    // ---------------------------------------------------------------------------------------------------------

    /// @notice A compose hash became allowed.
    /// @param composeHash The compose hash.
    event ComposeHashAdded(bytes32 composeHash);

    /// @notice A compose hash stopped being allowed.
    /// @param composeHash The compose hash.
    event ComposeHashRemoved(bytes32 composeHash);

    /// @notice A device became allowed.
    /// @param deviceId The device id.
    event DeviceAdded(bytes32 deviceId);

    /// @notice A device stopped being allowed.
    /// @param deviceId The device id.
    event DeviceRemoved(bytes32 deviceId);

    /// @notice The allow-any-device flag changed.
    /// @param allowAny The new value.
    event AllowAnyDeviceSet(bool allowAny);

    /// @notice The require-up-to-date-TCB flag changed.
    /// @param requireUpToDate The new value.
    event RequireTcbUpToDateSet(bool requireUpToDate);

    /// @notice Upgrades were disabled for good: nothing can be proposed or activated any more.
    event UpgradesDisabled();

    /// @notice An OS image hash became allowed by the app's pin (same signature as dstack's DstackKms event).
    /// @param osImageHash The OS image hash.
    event OsImageHashAdded(bytes32 osImageHash);

    /// @notice An OS image hash stopped being allowed by the app's pin (same signature as dstack's DstackKms event).
    /// @param osImageHash The OS image hash.
    event OsImageHashRemoved(bytes32 osImageHash);

    /// @notice An `mrSystem` value became allowed by the app's pin.
    /// @param mrSystem The `mrSystem` value.
    event MrSystemAdded(bytes32 mrSystem);

    /// @notice An `mrSystem` value stopped being allowed by the app's pin.
    /// @param mrSystem The `mrSystem` value.
    event MrSystemRemoved(bytes32 mrSystem);

    /// @notice Whether OS image hashes are pinned changed.
    /// @param pinned The new value.
    event OsImageHashPinnedSet(bool pinned);

    /// @notice Whether `mrSystem` values are pinned changed.
    /// @param pinned The new value.
    event MrSystemPinnedSet(bool pinned);

    /// @notice dstack's audit event, emitted next to each of the events above (and for notice changes) when the
    /// change takes effect, with the signature, topic and policy labels of dstack's current `DstackApp`, so indexers
    /// that rebuild a dstack app's policy from it read this one too.
    /// @param actor Who sent the transaction that made the change take effect (for an activation: the activator).
    /// @param policy `keccak256` of the label: "compose-hash", "device", "allow-any-device",
    /// "require-tcb-up-to-date", "upgrades-disabled" (dstack's DstackApp), "os-image" (dstack's DstackKms), or this
    /// contract's own "notice-period", "mr-system", "os-image-pinned", "mr-system-pinned".
    /// @param value The compose hash, device id, OS image hash or `mrSystem`; the new notice period in seconds; zero
    /// for the flags.
    /// @param enabled Whether the value became allowed (false: it stopped being allowed), or the flag's new value;
    /// true for a notice change.
    event PolicyChanged(address indexed actor, bytes32 indexed policy, bytes32 indexed value, bool enabled);

    // ---------------------------------------------------------------------------------------------------------
    // Proposal lifecycle and release events
    // ---------------------------------------------------------------------------------------------------------

    /// @notice A widening change was proposed.
    /// @param id The proposal id.
    /// @param kind What the change does.
    /// @param value The compose hash, device id, OS measurement or notice period; zero for the policy flags and
    /// unpinning.
    /// @param readyAt First second at which anyone may activate it.
    /// @param expiresAt First second at which it can no longer be activated.
    /// @param uri For a compose hash, where its `app-compose.json` can be fetched; empty otherwise. Not stored: the
    /// views give the block of this event ({composeHashUriBlock}, {currentRelease}, {ProposalView}), and its
    /// `readyAt` tells the current proposal from earlier ones of the same hash.
    event ChangeProposed(
        bytes32 indexed id,
        ChangeKind indexed kind,
        bytes32 indexed value,
        uint64 readyAt,
        uint64 expiresAt,
        string uri
    );

    /// @notice The owner cancelled a proposal before it took effect, lengthening the notice voided it, or it expired
    /// and was pruned to make room for a new proposal.
    /// @param id The proposal id.
    /// @param kind What the change would have done.
    /// @param value The value it would have set.
    event ChangeCancelled(bytes32 indexed id, ChangeKind indexed kind, bytes32 indexed value);

    /// @notice A proposal took effect after its notice.
    /// @param id The proposal id.
    /// @param kind What the change does.
    /// @param value The value it set.
    /// @param activatedBy Who sent the activation (anyone may).
    event ChangeActivated(bytes32 indexed id, ChangeKind indexed kind, bytes32 indexed value, address activatedBy);

    /// @notice The notice period changed (also emitted by the constructor with `oldNotice == 0`).
    /// @param oldNotice The previous notice period, in seconds.
    /// @param newNotice The new notice period, in seconds.
    event NoticePeriodChanged(uint256 oldNotice, uint256 newNotice);

    /// @notice The release that the app's guest agents should run changed.
    /// @param composeHash The compose hash of the release.
    /// @param uriBlock The block whose {ChangeProposed} event carries its URI.
    event CurrentReleaseSet(bytes32 indexed composeHash, uint64 uriBlock);

    // ---------------------------------------------------------------------------------------------------------
    // Errors
    // ---------------------------------------------------------------------------------------------------------

    /// @notice Upgrades are disabled: nothing can be proposed or activated.
    error UpgradesAreDisabled();

    /// @notice A notice period outside `[min, max]`.
    error NoticePeriodOutOfBounds(uint256 notice, uint256 min, uint256 max);

    /// @notice Proposing a notice period that is not shorter than the current one (lengthening is instant).
    error NoticePeriodNotShorter(uint256 proposed, uint256 current);

    /// @notice Lengthening to a notice period that is not longer than the current one (shortening waits).
    error NoticePeriodNotLonger(uint256 requested, uint256 current);

    /// @notice {MAX_OPEN_PROPOSALS} proposals are open and none has expired: cancel one first.
    error TooManyOpenProposals(uint256 limit);

    /// @notice A compose URI longer than {MAX_URI_LENGTH} bytes.
    error ComposeUriTooLong(uint256 length, uint256 max);

    /// @notice The release being activated cannot be retired in the same call.
    error CannotRetireNewRelease(bytes32 composeHash);

    /// @notice The proposal is already open; its timer cannot be reset by proposing it again.
    error ProposalAlreadyOpen(bytes32 id, uint64 readyAt, uint64 expiresAt);

    /// @notice There is no open proposal with this id.
    error ProposalNotFound(bytes32 id);

    /// @notice The proposal's notice has not run out yet.
    error ProposalNotReady(bytes32 id, uint64 readyAt, uint256 currentTime);

    /// @notice The proposal was not activated within its grace window.
    error ProposalExpired(bytes32 id, uint64 expiresAt, uint256 currentTime);

    /// @notice Zero is not a compose hash (it marks "no release").
    error ComposeHashZero();

    /// @notice A compose hash proposal needs a URI where auditors and agents can fetch the compose file.
    error ComposeUriEmpty(bytes32 composeHash);

    /// @notice The compose hash is already allowed.
    error ComposeHashAlreadyAllowed(bytes32 composeHash);

    /// @notice The compose hash is not allowed.
    error ComposeHashNotAllowed(bytes32 composeHash);

    /// @notice The device is already allowed.
    error DeviceAlreadyAllowed(bytes32 deviceId);

    /// @notice The device is not allowed.
    error DeviceNotAllowed(bytes32 deviceId);

    /// @notice The allow-any-device flag already has the requested value.
    error AllowAnyDeviceUnchanged(bool allowAny);

    /// @notice The require-up-to-date-TCB flag already has the requested value.
    error RequireTcbUpToDateUnchanged(bool requireUpToDate);

    /// @notice The compose hash is already the current release.
    error AlreadyCurrentRelease(bytes32 composeHash);

    /// @notice Zero is not an OS measurement.
    error OsMeasurementZero(OsMeasurement field);

    /// @notice The OS measurement is not pinned: pin it first ({pinOs}, instant), an unpinned field allows any value.
    error OsNotPinned(OsMeasurement field);

    /// @notice The OS measurement is already pinned: another value widens, propose it ({proposeOsMeasurement}).
    error OsAlreadyPinned(OsMeasurement field);

    /// @notice The value is already allowed by the pin.
    error OsMeasurementAlreadyAllowed(OsMeasurement field, bytes32 value);

    /// @notice The value is not among the pinned values.
    error OsMeasurementNotAllowed(OsMeasurement field, bytes32 value);

    /// @notice Removing the last pinned value would allow any OS, which widens: propose unpinning instead.
    error CannotRemoveLastOsMeasurement(OsMeasurement field, bytes32 value);

    // ---------------------------------------------------------------------------------------------------------
    // Widening changes: propose (owner), activate after the notice (anyone), cancel (owner)
    // ---------------------------------------------------------------------------------------------------------

    /// @notice Announce a new compose hash (new code); it becomes allowed, and the current release, when
    /// activated after the notice period.
    function proposeComposeHash(bytes32 composeHash, string calldata uri) external returns (bytes32 id);

    /// @notice Make a ready compose-hash proposal take effect. Callable by anyone.
    function activateComposeHash(bytes32 composeHash) external;

    /// @notice Make a ready compose-hash proposal take effect and, in the same transaction, stop allowing older
    /// releases (narrowing, so owner only): the upgrade that leaves no way back to the releases it replaces.
    function activateComposeHashAndRetire(bytes32 composeHash, bytes32[] calldata retired) external;

    /// @notice Withdraw an open compose-hash proposal.
    function cancelComposeHash(bytes32 composeHash) external;

    /// @notice Announce a new allowed device.
    function proposeDevice(bytes32 deviceId) external returns (bytes32 id);

    /// @notice Make a ready device proposal take effect. Callable by anyone.
    function activateDevice(bytes32 deviceId) external;

    /// @notice Withdraw an open device proposal.
    function cancelDevice(bytes32 deviceId) external;

    /// @notice Announce that any device will be allowed.
    function proposeAllowAnyDevice() external returns (bytes32 id);

    /// @notice Make a ready allow-any-device proposal take effect. Callable by anyone.
    function activateAllowAnyDevice() external;

    /// @notice Withdraw an open allow-any-device proposal.
    function cancelAllowAnyDevice() external;

    /// @notice Announce that an out-of-date TCB will no longer be refused.
    function proposeAllowOutdatedTcb() external returns (bytes32 id);

    /// @notice Make a ready allow-outdated-TCB proposal take effect. Callable by anyone.
    function activateAllowOutdatedTcb() external;

    /// @notice Withdraw an open allow-outdated-TCB proposal.
    function cancelAllowOutdatedTcb() external;

    /// @notice Announce a shorter notice period.
    function proposeNoticePeriod(uint256 newNoticePeriod) external returns (bytes32 id);

    /// @notice Make a ready notice-period proposal take effect. Callable by anyone.
    function activateNoticePeriod(uint256 newNoticePeriod) external;

    /// @notice Withdraw an open notice-period proposal.
    function cancelNoticePeriod(uint256 newNoticePeriod) external;

    /// @notice Announce another allowed value of a pinned OS measurement.
    function proposeOsMeasurement(OsMeasurement field, bytes32 value) external returns (bytes32 id);

    /// @notice Make a ready OS-measurement proposal take effect. Callable by anyone.
    function activateOsMeasurement(OsMeasurement field, bytes32 value) external;

    /// @notice Withdraw an open OS-measurement proposal.
    function cancelOsMeasurement(OsMeasurement field, bytes32 value) external;

    /// @notice Announce that an OS measurement will no longer be pinned (any value allowed).
    function proposeUnpinOs(OsMeasurement field) external returns (bytes32 id);

    /// @notice Make a ready unpin proposal take effect: the field's values are dropped. Callable by anyone.
    function activateUnpinOs(OsMeasurement field) external;

    /// @notice Withdraw an open unpin proposal.
    function cancelUnpinOs(OsMeasurement field) external;

    // ---------------------------------------------------------------------------------------------------------
    // Narrowing changes: instant, owner only
    // ---------------------------------------------------------------------------------------------------------

    /// @notice Stop allowing a compose hash, at once.
    function removeComposeHash(bytes32 composeHash) external;

    /// @notice Stop allowing a device, at once.
    function removeDevice(bytes32 deviceId) external;

    /// @notice Allow only listed devices from now on.
    function restrictDevices() external;

    /// @notice Refuse any CVM whose TCB status is not "UpToDate", from now on.
    function requireUpToDateTcb() external;

    /// @notice Lengthen the notice period, at once. Open proposals keep their `readyAt`; open proposals to set a
    /// notice shorter than the new one are cancelled.
    function lengthenNoticePeriod(uint256 newNoticePeriod) external;

    /// @notice Point the guest agents back at a compose hash that is already allowed (a rollback). It widens
    /// nothing: any CVM could already boot that hash.
    function rollBackTo(bytes32 composeHash) external;

    /// @notice Pin an OS measurement that is not pinned, to one value, at once (narrowing: unpinned allows any).
    function pinOs(OsMeasurement field, bytes32 value) external;

    /// @notice Stop allowing one pinned OS measurement, at once; never the field's last one (unpinning waits).
    function removeOsMeasurement(OsMeasurement field, bytes32 value) external;

    /// @notice Disable upgrades for good: nothing can be proposed or activated afterwards, and open proposals are
    /// void. Narrowing changes stay possible.
    function disableUpgrades() external;

    // ---------------------------------------------------------------------------------------------------------
    // Views
    // ---------------------------------------------------------------------------------------------------------

    /// @notice The notice period, in seconds, that a proposal made now would wait.
    function noticePeriod() external view returns (uint256);

    /// @notice Same as {noticePeriod}, under the name auditors' scripts call.
    function getTimelock() external view returns (uint256);

    /// @notice Whether a compose hash is allowed (dstack's getter name).
    function allowedComposeHashes(bytes32 composeHash) external view returns (bool);

    /// @notice Every allowed compose hash (unordered). About 2,300 gas per hash: past a few hundred, page with
    /// {getComposeHashesPage}.
    function getComposeHashes() external view returns (bytes32[] memory);

    /// @notice At most `count` allowed compose hashes from position `start` (0-based), when each became allowed
    /// (unix seconds; the deployment for the genesis release), and how many are allowed in all. Removing a hash moves
    /// the first one into its place.
    function getComposeHashesPage(uint256 start, uint256 count)
        external
        view
        returns (bytes32[] memory composeHashes, uint64[] memory allowedAt, uint256 total);

    /// @notice When an allowed compose hash became allowed (unix seconds); zero for any other.
    function composeHashAllowedAt(bytes32 composeHash) external view returns (uint64);

    /// @notice The block whose {ChangeProposed} event (topics: `proposalId(AddComposeHash, composeHash)`) carries the
    /// URI of an allowed compose hash's compose file (the last such event of that block, with the hash's `readyAt`);
    /// zero for a hash that is not allowed.
    function composeHashUriBlock(bytes32 composeHash) external view returns (uint64);

    /// @notice Whether a device is allowed by the list (dstack's getter name; ignores {allowAnyDevice}).
    function allowedDeviceIds(bytes32 deviceId) external view returns (bool);

    /// @notice Every listed device (unordered). About 2,300 gas per device: past a few hundred, page with
    /// {getDevicesPage}.
    function getDevices() external view returns (bytes32[] memory);

    /// @notice At most `count` listed devices from position `start` (0-based), and how many are listed in all.
    function getDevicesPage(uint256 start, uint256 count)
        external
        view
        returns (bytes32[] memory devices, uint256 total);

    /// @notice Whether any device is allowed.
    function allowAnyDevice() external view returns (bool);

    /// @notice Whether only CVMs with TCB status "UpToDate" are allowed.
    function requireTcbUpToDate() external view returns (bool);

    /// @notice Whether upgrades are disabled for good.
    function upgradesDisabled() external view returns (bool);

    /// @notice Whether the app pins this OS measurement ({isAppAllowed} then refuses any other value).
    function osPinned(OsMeasurement field) external view returns (bool);

    /// @notice Whether the app's OS pin allows `value` for `field` (true for any value when the field is not pinned).
    function allowedOsMeasurement(OsMeasurement field, bytes32 value) external view returns (bool);

    /// @notice The pinned values of an OS measurement (unordered); empty when it is not pinned. It grows only through
    /// proposals that waited the notice. About 2,300 gas per value: past a few hundred, page with
    /// {getOsMeasurementsPage}.
    function getOsMeasurements(OsMeasurement field) external view returns (bytes32[] memory);

    /// @notice At most `count` pinned values of an OS measurement from position `start` (0-based), and how many are
    /// pinned in all.
    function getOsMeasurementsPage(OsMeasurement field, uint256 start, uint256 count)
        external
        view
        returns (bytes32[] memory values, uint256 total);

    /// @notice The release the app's guest agents should run: the latest activated (or rolled-back-to) compose
    /// hash, the block of the event with its URI ({composeHashUriBlock}; zero once the owner removed it) and when it
    /// was set. All zero before the first release.
    function currentRelease() external view returns (bytes32 composeHash, uint64 uriBlock, uint64 setAt);

    /// @notice The id of the proposal of `kind` with `value`.
    function proposalId(ChangeKind kind, bytes32 value) external pure returns (bytes32);

    /// @notice One proposal, by id.
    function getProposal(bytes32 id) external view returns (ProposalView memory);

    /// @notice Every open proposal (waiting, ready or expired; voided ones once upgrades are disabled): at most
    /// {MAX_OPEN_PROPOSALS}, so a bounded cost (URIs are in the events, not in storage).
    function getProposals() external view returns (ProposalView[] memory);
}
