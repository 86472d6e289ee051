// SPDX-License-Identifier: MIT
// Test-suite conventions: Foundry test names (test_..., testFuzz_...), descriptive assertion messages, low-level
// calls where a test needs the raw outcome.
// solhint-disable func-name-mixedcase, gas-small-strings, avoid-low-level-calls

pragma solidity ^0.8.24;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {IERC165} from "@openzeppelin/contracts/utils/introspection/IERC165.sol";

import {TimelockedAppAuth} from "../../contracts/TimelockedAppAuth.sol";
import {IAppAuth} from "../../contracts/interfaces/IAppAuth.sol";
import {ITimelockedAppAuth} from "../../contracts/interfaces/ITimelockedAppAuth.sol";
import {AppAuthCalls} from "./utils/AppAuthCalls.sol";
import {Test} from "./utils/Test.sol";

/// @title TimelockedAppAuthTest
/// @notice Unit and fuzz tests of {TimelockedAppAuth}: widening changes wait the notice in force when they were
/// proposed and can be activated by anyone in `[readyAt, readyAt + GRACE_PERIOD)`; narrowing changes are instant
/// and owner-only; `isAppAllowed` answers exactly as dstack's `DstackApp` does.
contract TimelockedAppAuthTest is Test {
    uint256 internal constant START = 1_700_000_000;
    uint256 internal constant NOTICE = 7 days;
    uint256 internal constant MIN = 1 hours;
    uint256 internal constant MAX = 365 days;
    uint256 internal constant GRACE = 14 days;

    bytes32 internal constant GENESIS_HASH = keccak256("genesis app-compose.json");
    string internal constant GENESIS_URI = "ipfs://genesis";
    bytes32 internal constant NEW_HASH = keccak256("v2 app-compose.json");
    string internal constant NEW_URI = "https://example.org/v2/app-compose.json";
    bytes32 internal constant DEVICE_A = keccak256("device A");
    bytes32 internal constant DEVICE_B = keccak256("device B");
    bytes4 internal constant DSTACK_APP_AUTH_ID = 0x1e079198;
    bytes32 internal constant OS_A = keccak256("OS A");
    bytes32 internal constant OS_B = keccak256("OS B");

    TimelockedAppAuth internal auth;
    address internal owner;
    address internal keeper;
    address internal stranger;

    function setUp() public {
        owner = makeAddr("owner");
        keeper = makeAddr("keeper");
        stranger = makeAddr("stranger");
        vm.warp(START);
        auth = _deploy(NOTICE, true);
    }

    // =========================================================================================================
    // Constructor
    // =========================================================================================================

    function test_constructor_setsTheGenesisPolicyAndEmitsDstackEvents() public {
        bytes32[] memory devices = _one(DEVICE_A);
        vm.expectEmit(false, false, false, true);
        emit ITimelockedAppAuth.NoticePeriodChanged(0, NOTICE);
        // The genesis release's URI is in a ChangeProposed of the deployment block, as every release's is.
        vm.expectEmit(true, true, true, true);
        emit ITimelockedAppAuth.ChangeProposed(
            AppAuthCalls.id(ITimelockedAppAuth.ChangeKind.AddComposeHash, GENESIS_HASH),
            ITimelockedAppAuth.ChangeKind.AddComposeHash,
            GENESIS_HASH,
            uint64(START),
            uint64(START + GRACE),
            GENESIS_URI
        );
        vm.expectEmit(false, false, false, true);
        emit ITimelockedAppAuth.ComposeHashAdded(GENESIS_HASH);
        vm.expectEmit(true, false, false, true);
        emit ITimelockedAppAuth.CurrentReleaseSet(GENESIS_HASH, uint64(block.number));
        vm.expectEmit(false, false, false, true);
        emit ITimelockedAppAuth.DeviceAdded(DEVICE_A);
        vm.expectEmit(false, false, false, true);
        emit ITimelockedAppAuth.AllowAnyDeviceSet(false);
        vm.expectEmit(false, false, false, true);
        emit ITimelockedAppAuth.RequireTcbUpToDateSet(true);
        TimelockedAppAuth fresh = new TimelockedAppAuth(owner, NOTICE, GENESIS_HASH, GENESIS_URI, devices, false, true);

        assertEq(fresh.owner(), owner, "owner");
        assertEq(fresh.noticePeriod(), NOTICE, "notice");
        assertEq(fresh.getTimelock(), NOTICE, "getTimelock");
        assertTrue(fresh.allowedComposeHashes(GENESIS_HASH), "genesis hash allowed");
        assertEq(fresh.composeHashUriBlock(GENESIS_HASH), block.number, "genesis uri block");
        assertTrue(fresh.allowedDeviceIds(DEVICE_A), "device listed");
        assertFalse(fresh.allowAnyDevice(), "allowAnyDevice");
        assertTrue(fresh.requireTcbUpToDate(), "requireTcbUpToDate");
        assertFalse(fresh.upgradesDisabled(), "upgradesDisabled");
        (bytes32 hash, uint64 uriBlock, uint64 setAt) = fresh.currentRelease();
        assertEq(hash, GENESIS_HASH, "release hash");
        assertEq(uriBlock, block.number, "release uri block");
        assertEq(setAt, START, "release setAt");
        assertEq(fresh.getProposals().length, 0, "no proposals");
    }

    function test_constructor_withoutComposeHash_hasNoRelease() public {
        TimelockedAppAuth fresh = new TimelockedAppAuth(owner, NOTICE, bytes32(0), "", new bytes32[](0), true, false);
        (bytes32 hash, uint64 uriBlock, uint64 setAt) = fresh.currentRelease();
        assertEq(hash, bytes32(0), "release hash");
        assertEq(uriBlock, 0, "release uri block");
        assertEq(setAt, 0, "release setAt");
        assertEq(fresh.getComposeHashes().length, 0, "no hashes");
        assertEq(fresh.getDevices().length, 0, "no devices");
        assertTrue(fresh.allowAnyDevice(), "allowAnyDevice");
        assertFalse(fresh.requireTcbUpToDate(), "requireTcbUpToDate");
    }

    function test_constructor_revertsOnZeroOwner() public {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableInvalidOwner.selector, address(0)));
        new TimelockedAppAuth(address(0), NOTICE, GENESIS_HASH, GENESIS_URI, new bytes32[](0), false, true);
    }

    function test_constructor_revertsOnDuplicateDevice() public {
        bytes32[] memory devices = new bytes32[](2);
        devices[0] = DEVICE_A;
        devices[1] = DEVICE_A;
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.DeviceAlreadyAllowed.selector, DEVICE_A));
        new TimelockedAppAuth(owner, NOTICE, GENESIS_HASH, GENESIS_URI, devices, false, true);
    }

    function test_constructor_revertsOnComposeHashWithoutUri() public {
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.ComposeUriEmpty.selector, GENESIS_HASH));
        new TimelockedAppAuth(owner, NOTICE, GENESIS_HASH, "", new bytes32[](0), false, true);
    }

    function testFuzz_constructor_revertsWhenNoticeOutOfBounds(uint256 notice, bool below) public {
        notice = _outOfBounds(notice, below);
        vm.expectRevert(_outOfBoundsError(notice));
        new TimelockedAppAuth(owner, notice, GENESIS_HASH, GENESIS_URI, new bytes32[](0), false, true);
    }

    function testFuzz_constructor_acceptsAnyNoticeWithinBounds(uint256 notice) public {
        notice = bound(notice, MIN, MAX);
        TimelockedAppAuth fresh = _deploy(notice, true);
        assertEq(fresh.noticePeriod(), notice, "notice");
    }

    // =========================================================================================================
    // IAppAuth: the interface dstack's KMS calls
    // =========================================================================================================

    function test_supportsInterface_answersDstackAppAuthAndErc165() public view {
        assertEq(type(IAppAuth).interfaceId, DSTACK_APP_AUTH_ID, "IAppAuth interface id");
        assertEq(IAppAuth.isAppAllowed.selector, DSTACK_APP_AUTH_ID, "isAppAllowed selector");
        assertTrue(auth.supportsInterface(DSTACK_APP_AUTH_ID), "IAppAuth");
        assertTrue(auth.supportsInterface(type(ITimelockedAppAuth).interfaceId), "ITimelockedAppAuth");
        assertTrue(auth.supportsInterface(type(IERC165).interfaceId), "IERC165");
        assertFalse(auth.supportsInterface(0xffffffff), "0xffffffff");
    }

    function test_isAppAllowed_allowsAnAllowedHashOnAListedDeviceWithAnUpToDateTcb() public view {
        _assertAllowed(_boot(GENESIS_HASH, DEVICE_A, "UpToDate"), true, "");
    }

    function test_isAppAllowed_checksTheTcbFirst() public view {
        _assertAllowed(_boot(NEW_HASH, DEVICE_B, "OutOfDate"), false, "TCB status is not up to date");
    }

    function test_isAppAllowed_checksTheComposeHashBeforeTheDevice() public view {
        _assertAllowed(_boot(NEW_HASH, DEVICE_B, "UpToDate"), false, "Compose hash not allowed");
    }

    function test_isAppAllowed_refusesAnUnlistedDevice() public view {
        _assertAllowed(_boot(GENESIS_HASH, DEVICE_B, "UpToDate"), false, "Device not allowed");
    }

    function test_isAppAllowed_ignoresTheTcbWhenNotRequired() public {
        TimelockedAppAuth lax = _deploy(NOTICE, false);
        (bool allowed,) = lax.isAppAllowed(_boot(GENESIS_HASH, DEVICE_A, "OutOfDate"));
        assertTrue(allowed, "outdated TCB allowed when not required");
    }

    /// @dev A policy shape for {testFuzz_isAppAllowed_followsDstackCheckOrder}.
    struct PolicyShape {
        bool requireTcb;
        bool listHash;
        bool listDevice;
        bool anyDevice;
    }

    /// @dev Any boot info, any policy: the answer is dstack's DstackApp's, in its order and with its reasons.
    function testFuzz_isAppAllowed_followsDstackCheckOrder(
        IAppAuth.AppBootInfo memory boot,
        PolicyShape memory shape,
        bool upToDate
    ) public {
        if (upToDate) boot.tcbStatus = "UpToDate";
        TimelockedAppAuth policy = _deployShape(boot, shape);
        (bool expectedAllowed, string memory expectedReason) = _dstackVerdict(boot, shape);
        (bool allowed, string memory reason) = policy.isAppAllowed(boot);
        assertEq(allowed, expectedAllowed, "isAllowed");
        assertEq(reason, expectedReason, "reason");
    }

    function testFuzz_isAppAllowed_acceptsOnlyTheExactStringUpToDate(string memory tcbStatus) public view {
        (bool allowed, string memory reason) = auth.isAppAllowed(_boot(GENESIS_HASH, DEVICE_A, tcbStatus));
        bool exact = keccak256(bytes(tcbStatus)) == keccak256("UpToDate");
        assertEq(allowed, exact, "isAllowed");
        assertEq(reason, exact ? "" : "TCB status is not up to date", "reason");
    }

    // =========================================================================================================
    // Proposing
    // =========================================================================================================

    function test_proposeComposeHash_emitsChangeProposedWithReadyAtExpiryAndUri() public {
        bytes32 id = auth.proposalId(ITimelockedAppAuth.ChangeKind.AddComposeHash, NEW_HASH);
        uint64 readyAt = uint64(START + NOTICE);
        vm.expectEmit(true, true, true, true, address(auth));
        emit ITimelockedAppAuth.ChangeProposed(
            id, ITimelockedAppAuth.ChangeKind.AddComposeHash, NEW_HASH, readyAt, readyAt + uint64(GRACE), NEW_URI
        );
        vm.prank(owner);
        assertEq(auth.proposeComposeHash(NEW_HASH, NEW_URI), id, "returned id");
    }

    function test_proposeComposeHash_recordsAWaitingProposalThatAllowsNothingYet() public {
        bytes32 id = _proposeHash(NEW_HASH);
        ITimelockedAppAuth.ProposalView memory p = auth.getProposal(id);
        assertEq(p.id, id, "id");
        assertEq(uint256(p.kind), uint256(ITimelockedAppAuth.ChangeKind.AddComposeHash), "kind");
        assertEq(p.value, NEW_HASH, "value");
        assertEq(p.readyAt, START + NOTICE, "readyAt");
        assertEq(p.expiresAt, START + NOTICE + GRACE, "expiresAt");
        assertEq(uint256(p.state), uint256(ITimelockedAppAuth.ProposalState.Waiting), "state");
        assertEq(p.uriBlock, block.number, "uri block");
        ITimelockedAppAuth.ProposalView[] memory all = auth.getProposals();
        assertEq(all.length, 1, "one open proposal");
        assertEq(all[0].id, id, "listed id");
        assertFalse(auth.allowedComposeHashes(NEW_HASH), "not allowed before activation");
        (bool allowed,) = auth.isAppAllowed(_boot(NEW_HASH, DEVICE_A, "UpToDate"));
        assertFalse(allowed, "cannot boot before activation");
    }

    function test_proposalId_isTheHashOfKindAndValue() public view {
        for (uint8 k = 0; k <= uint8(ITimelockedAppAuth.ChangeKind.ShortenNotice); ++k) {
            ITimelockedAppAuth.ChangeKind kind = ITimelockedAppAuth.ChangeKind(k);
            assertEq(auth.proposalId(kind, NEW_HASH), AppAuthCalls.id(kind, NEW_HASH), "proposalId");
        }
    }

    function test_proposeComposeHash_revertsOnZeroHash() public {
        vm.prank(owner);
        vm.expectRevert(ITimelockedAppAuth.ComposeHashZero.selector);
        auth.proposeComposeHash(bytes32(0), NEW_URI);
    }

    function test_proposeComposeHash_revertsOnEmptyUri() public {
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.ComposeUriEmpty.selector, NEW_HASH));
        auth.proposeComposeHash(NEW_HASH, "");
    }

    function test_proposeComposeHash_revertsWhenAlreadyAllowed() public {
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.ComposeHashAlreadyAllowed.selector, GENESIS_HASH));
        auth.proposeComposeHash(GENESIS_HASH, NEW_URI);
    }

    function test_proposeComposeHash_revertsWhenAlreadyOpen_soTheTimerCannotBeReset() public {
        bytes32 id = _proposeHash(NEW_HASH);
        vm.warp(START + NOTICE); // ready: still open
        vm.prank(owner);
        vm.expectRevert(
            abi.encodeWithSelector(
                ITimelockedAppAuth.ProposalAlreadyOpen.selector,
                id,
                uint64(START + NOTICE),
                uint64(START + NOTICE + GRACE)
            )
        );
        auth.proposeComposeHash(NEW_HASH, "https://example.org/other-uri");
    }

    function test_proposeComposeHash_afterExpiry_startsAFreshNotice() public {
        bytes32 id = _proposeHash(NEW_HASH);
        vm.warp(START + NOTICE + GRACE);
        assertEq(uint256(auth.getProposal(id).state), uint256(ITimelockedAppAuth.ProposalState.Expired), "expired");
        uint64 readyAt = uint64(START + NOTICE + GRACE + NOTICE);
        vm.expectEmit(true, true, true, true, address(auth));
        emit ITimelockedAppAuth.ChangeProposed(
            id, ITimelockedAppAuth.ChangeKind.AddComposeHash, NEW_HASH, readyAt, readyAt + uint64(GRACE), "ipfs://v2-again"
        );
        vm.prank(owner);
        auth.proposeComposeHash(NEW_HASH, "ipfs://v2-again");
        ITimelockedAppAuth.ProposalView memory p = auth.getProposal(id);
        assertEq(p.readyAt, readyAt, "fresh readyAt");
        assertEq(p.uriBlock, block.number, "the new proposal's block");
        assertEq(auth.getProposals().length, 1, "still one open proposal");
    }

    function test_proposeDevice_revertsWhenAlreadyListed() public {
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.DeviceAlreadyAllowed.selector, DEVICE_A));
        auth.proposeDevice(DEVICE_A);
    }

    function test_proposeAllowAnyDevice_revertsWhenAlreadyAllowed() public {
        TimelockedAppAuth open = _deployAllowingAnyDevice();
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.AllowAnyDeviceUnchanged.selector, true));
        open.proposeAllowAnyDevice();
    }

    function test_proposeAllowOutdatedTcb_revertsWhenNotRequired() public {
        TimelockedAppAuth lax = _deploy(NOTICE, false);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.RequireTcbUpToDateUnchanged.selector, false));
        lax.proposeAllowOutdatedTcb();
    }

    function test_proposeNoticePeriod_revertsWhenNotShorter() public {
        vm.startPrank(owner);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.NoticePeriodNotShorter.selector, NOTICE, NOTICE));
        auth.proposeNoticePeriod(NOTICE);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.NoticePeriodNotShorter.selector, NOTICE + 1, NOTICE));
        auth.proposeNoticePeriod(NOTICE + 1);
        vm.stopPrank();
    }

    function test_propose_revertsForEveryKindOnceUpgradesAreDisabled() public {
        vm.startPrank(owner);
        auth.disableUpgrades();
        for (uint8 k = 0; k <= uint8(ITimelockedAppAuth.ChangeKind.ShortenNotice); ++k) {
            ITimelockedAppAuth.ChangeKind kind = ITimelockedAppAuth.ChangeKind(k);
            vm.expectRevert(ITimelockedAppAuth.UpgradesAreDisabled.selector);
            _rawCall(AppAuthCalls.propose(kind, _validValue(kind), NEW_URI));
        }
        vm.stopPrank();
    }

    // =========================================================================================================
    // Activating
    // =========================================================================================================

    function test_activate_revertsWhenNotReady() public {
        bytes32 id = _proposeHash(NEW_HASH);
        uint64 readyAt = uint64(START + NOTICE);
        vm.warp(readyAt - 1);
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.ProposalNotReady.selector, id, readyAt, readyAt - 1));
        auth.activateComposeHash(NEW_HASH);
    }

    function test_activate_atReadyAt_byAnyone_allowsTheHashAndMakesItTheRelease() public {
        bytes32 id = _proposeHash(NEW_HASH);
        vm.warp(START + NOTICE);
        vm.expectEmit(true, true, true, true, address(auth));
        emit ITimelockedAppAuth.ChangeActivated(id, ITimelockedAppAuth.ChangeKind.AddComposeHash, NEW_HASH, keeper);
        vm.expectEmit(false, false, false, true, address(auth));
        emit ITimelockedAppAuth.ComposeHashAdded(NEW_HASH);
        vm.expectEmit(true, false, false, true, address(auth));
        emit ITimelockedAppAuth.CurrentReleaseSet(NEW_HASH, uint64(block.number));
        vm.prank(keeper);
        auth.activateComposeHash(NEW_HASH);

        assertTrue(auth.allowedComposeHashes(NEW_HASH), "allowed");
        assertEq(auth.composeHashUriBlock(NEW_HASH), block.number, "uri block");
        (bytes32 hash, uint64 uriBlock, uint64 setAt) = auth.currentRelease();
        assertEq(hash, NEW_HASH, "release hash");
        assertEq(uriBlock, block.number, "release uri block");
        assertEq(setAt, START + NOTICE, "release setAt");
        assertEq(uint256(auth.getProposal(id).state), uint256(ITimelockedAppAuth.ProposalState.None), "consumed");
        assertEq(auth.getProposals().length, 0, "no open proposals");
        _assertAllowed(_boot(NEW_HASH, DEVICE_A, "UpToDate"), true, "");
    }

    function test_activate_oneSecondBeforeExpiry_succeeds() public {
        _proposeHash(NEW_HASH);
        vm.warp(START + NOTICE + GRACE - 1);
        auth.activateComposeHash(NEW_HASH);
        assertTrue(auth.allowedComposeHashes(NEW_HASH), "allowed");
    }

    function test_activate_revertsWhenExpired() public {
        bytes32 id = _proposeHash(NEW_HASH);
        uint64 expiresAt = uint64(START + NOTICE + GRACE);
        vm.warp(expiresAt);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.ProposalExpired.selector, id, expiresAt, expiresAt));
        auth.activateComposeHash(NEW_HASH);
    }

    function test_activate_revertsWhenNeverProposed() public {
        bytes32 id = auth.proposalId(ITimelockedAppAuth.ChangeKind.AddDevice, DEVICE_B);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.ProposalNotFound.selector, id));
        auth.activateDevice(DEVICE_B);
    }

    function test_activate_revertsWhenAlreadyActivated() public {
        bytes32 id = _proposeHash(NEW_HASH);
        vm.warp(START + NOTICE);
        auth.activateComposeHash(NEW_HASH);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.ProposalNotFound.selector, id));
        auth.activateComposeHash(NEW_HASH);
    }

    function test_activateDevice_listsTheDevice() public {
        vm.prank(owner);
        auth.proposeDevice(DEVICE_B);
        vm.warp(START + NOTICE);
        vm.expectEmit(false, false, false, true, address(auth));
        emit ITimelockedAppAuth.DeviceAdded(DEVICE_B);
        auth.activateDevice(DEVICE_B);
        assertTrue(auth.allowedDeviceIds(DEVICE_B), "listed");
        assertEq(auth.getDevices().length, 2, "two devices");
        _assertAllowed(_boot(GENESIS_HASH, DEVICE_B, "UpToDate"), true, "");
    }

    function test_activateAllowAnyDevice_allowsUnlistedDevices() public {
        vm.prank(owner);
        auth.proposeAllowAnyDevice();
        vm.warp(START + NOTICE);
        vm.expectEmit(false, false, false, true, address(auth));
        emit ITimelockedAppAuth.AllowAnyDeviceSet(true);
        auth.activateAllowAnyDevice();
        assertTrue(auth.allowAnyDevice(), "allowAnyDevice");
        assertFalse(auth.allowedDeviceIds(DEVICE_B), "the list itself is unchanged");
        _assertAllowed(_boot(GENESIS_HASH, DEVICE_B, "UpToDate"), true, "");
    }

    function test_activateAllowOutdatedTcb_stopsRequiringUpToDate() public {
        vm.prank(owner);
        auth.proposeAllowOutdatedTcb();
        vm.warp(START + NOTICE);
        vm.expectEmit(false, false, false, true, address(auth));
        emit ITimelockedAppAuth.RequireTcbUpToDateSet(false);
        auth.activateAllowOutdatedTcb();
        assertFalse(auth.requireTcbUpToDate(), "requireTcbUpToDate");
        _assertAllowed(_boot(GENESIS_HASH, DEVICE_A, "OutOfDate"), true, "");
    }

    function test_activateNoticePeriod_setsTheShorterNotice() public {
        vm.prank(owner);
        auth.proposeNoticePeriod(1 days);
        vm.warp(START + NOTICE);
        vm.expectEmit(false, false, false, true, address(auth));
        emit ITimelockedAppAuth.NoticePeriodChanged(NOTICE, 1 days);
        auth.activateNoticePeriod(1 days);
        assertEq(auth.noticePeriod(), 1 days, "notice");
        assertEq(auth.getTimelock(), 1 days, "getTimelock");
    }

    function test_readyAt_isNotShortenedByANoticeShortenedAfterTheProposal() public {
        vm.prank(owner);
        auth.proposeNoticePeriod(MIN);
        vm.warp(START + 1 days);
        bytes32 id = _proposeHash(NEW_HASH); // waits the 7 days in force now: ready at START + 8 days
        uint64 readyAt = uint64(START + 1 days + NOTICE);
        vm.warp(START + NOTICE);
        auth.activateNoticePeriod(MIN);
        assertEq(auth.getProposal(id).readyAt, readyAt, "readyAt unchanged");
        // Under the new 1-hour notice a fresh proposal would be ready now, this one is not.
        vm.warp(START + NOTICE + MIN);
        vm.expectRevert(
            abi.encodeWithSelector(ITimelockedAppAuth.ProposalNotReady.selector, id, readyAt, START + NOTICE + MIN)
        );
        auth.activateComposeHash(NEW_HASH);
    }

    function test_readyAt_isKeptWhenTheNoticeIsLengthened() public {
        bytes32 id = _proposeHash(NEW_HASH);
        vm.prank(owner);
        auth.lengthenNoticePeriod(30 days);
        assertEq(auth.getProposal(id).readyAt, START + NOTICE, "readyAt unchanged");
        vm.warp(START + NOTICE);
        auth.activateComposeHash(NEW_HASH);
        assertTrue(auth.allowedComposeHashes(NEW_HASH), "activated on its original schedule");
    }

    /// @dev For every kind of change, notice and timing: activation succeeds iff `readyAt <= t < expiresAt`, and
    /// otherwise reverts with the exact error and arguments; `getProposal` reports the matching state.
    function testFuzz_activate_succeedsOnlyWithinTheReadyWindow(
        uint8 kindSeed,
        uint256 notice,
        uint256 proposedAt,
        uint256 activateAt
    ) public {
        (TimelockedAppAuth policy, ITimelockedAppAuth.ChangeKind kind, uint64 readyAt) =
            _proposeOnFreshPolicy(kindSeed, notice, proposedAt);
        activateAt = bound(activateAt, vm.getBlockTimestamp(), uint256(readyAt) + 3 * GRACE);
        _assertActivationAt(policy, kind, activateAt);
    }

    /// @dev The same, one second either side of `readyAt` and of `expiresAt`, where off-by-one errors live.
    function testFuzz_activate_atTheEdgesOfTheReadyWindow(
        uint8 kindSeed,
        uint256 notice,
        uint256 proposedAt,
        uint8 edge
    ) public {
        (TimelockedAppAuth policy, ITimelockedAppAuth.ChangeKind kind, uint64 readyAt) =
            _proposeOnFreshPolicy(kindSeed, notice, proposedAt);
        uint256[4] memory edges = [uint256(readyAt) - 1, readyAt, readyAt + GRACE - 1, readyAt + GRACE];
        _assertActivationAt(policy, kind, edges[edge % 4]);
    }

    /// @dev An open proposal (waiting or ready) cannot be proposed again; an expired one can, with a fresh notice.
    function testFuzz_propose_cannotResetTheTimerOfAnOpenProposal(uint8 kindSeed, uint256 againAt) public {
        ITimelockedAppAuth.ChangeKind kind = ITimelockedAppAuth.ChangeKind(kindSeed % 5);
        bytes32 value = _validValue(kind);
        vm.startPrank(owner);
        _rawCall(AppAuthCalls.propose(kind, value, NEW_URI));
        bytes32 id = auth.proposalId(kind, value);
        uint64 readyAt = uint64(START + NOTICE);
        uint64 expiresAt = readyAt + uint64(GRACE);
        againAt = bound(againAt, START, expiresAt + GRACE);
        vm.warp(againAt);
        if (againAt < expiresAt) {
            vm.expectRevert(
                abi.encodeWithSelector(ITimelockedAppAuth.ProposalAlreadyOpen.selector, id, readyAt, expiresAt)
            );
            _rawCall(AppAuthCalls.propose(kind, value, NEW_URI));
            assertEq(auth.getProposal(id).readyAt, readyAt, "readyAt unchanged");
        } else {
            _rawCall(AppAuthCalls.propose(kind, value, NEW_URI));
            assertEq(auth.getProposal(id).readyAt, againAt + NOTICE, "fresh readyAt");
        }
        vm.stopPrank();
    }

    // =========================================================================================================
    // Cancelling
    // =========================================================================================================

    function test_cancel_removesTheProposalSoItCanNeverBeActivated() public {
        bytes32 id = _proposeHash(NEW_HASH);
        vm.expectEmit(true, true, true, true, address(auth));
        emit ITimelockedAppAuth.ChangeCancelled(id, ITimelockedAppAuth.ChangeKind.AddComposeHash, NEW_HASH);
        vm.prank(owner);
        auth.cancelComposeHash(NEW_HASH);
        assertEq(uint256(auth.getProposal(id).state), uint256(ITimelockedAppAuth.ProposalState.None), "state");
        assertEq(auth.getProposals().length, 0, "no open proposals");
        vm.warp(START + NOTICE);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.ProposalNotFound.selector, id));
        auth.activateComposeHash(NEW_HASH);
    }

    function test_cancel_thenProposeAgain_waitsAFreshNotice() public {
        _proposeHash(NEW_HASH);
        vm.warp(START + NOTICE - 1);
        vm.startPrank(owner);
        auth.cancelComposeHash(NEW_HASH);
        bytes32 id = auth.proposeComposeHash(NEW_HASH, NEW_URI);
        vm.stopPrank();
        assertEq(auth.getProposal(id).readyAt, START + 2 * NOTICE - 1, "fresh readyAt");
    }

    function test_cancel_revertsForEveryKindWhenNothingIsOpen() public {
        vm.startPrank(owner);
        for (uint8 k = 0; k <= uint8(ITimelockedAppAuth.ChangeKind.ShortenNotice); ++k) {
            ITimelockedAppAuth.ChangeKind kind = ITimelockedAppAuth.ChangeKind(k);
            bytes32 value = _validValue(kind);
            vm.expectRevert(
                abi.encodeWithSelector(ITimelockedAppAuth.ProposalNotFound.selector, auth.proposalId(kind, value))
            );
            _rawCall(AppAuthCalls.cancel(kind, value));
        }
        vm.stopPrank();
    }

    function test_cancel_worksForEveryKind() public {
        vm.startPrank(owner);
        for (uint8 k = 0; k <= uint8(ITimelockedAppAuth.ChangeKind.ShortenNotice); ++k) {
            ITimelockedAppAuth.ChangeKind kind = ITimelockedAppAuth.ChangeKind(k);
            bytes32 value = _validValue(kind);
            _rawCall(AppAuthCalls.propose(kind, value, NEW_URI));
            _rawCall(AppAuthCalls.cancel(kind, value));
            assertEq(auth.getProposal(auth.proposalId(kind, value)).readyAt, 0, "cancelled");
        }
        vm.stopPrank();
        assertEq(auth.getProposals().length, 0, "no open proposals");
    }

    // =========================================================================================================
    // Narrowing: instant, owner only
    // =========================================================================================================

    function test_removeComposeHash_isInstantAndKeepsTheReleasePointer() public {
        vm.expectEmit(false, false, false, true, address(auth));
        emit ITimelockedAppAuth.ComposeHashRemoved(GENESIS_HASH);
        vm.prank(owner);
        auth.removeComposeHash(GENESIS_HASH);
        assertFalse(auth.allowedComposeHashes(GENESIS_HASH), "not allowed");
        assertEq(auth.composeHashUriBlock(GENESIS_HASH), 0, "no uri block");
        assertEq(auth.getComposeHashes().length, 0, "no hashes");
        (bytes32 hash, uint64 uriBlock,) = auth.currentRelease();
        assertEq(hash, GENESIS_HASH, "release pointer kept, so agents see it is no longer allowed");
        assertEq(uriBlock, 0, "no release uri block");
        _assertAllowed(_boot(GENESIS_HASH, DEVICE_A, "UpToDate"), false, "Compose hash not allowed");
    }

    function test_removeComposeHash_revertsWhenNotAllowed() public {
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.ComposeHashNotAllowed.selector, NEW_HASH));
        auth.removeComposeHash(NEW_HASH);
    }

    function test_removeDevice_isInstant() public {
        vm.expectEmit(false, false, false, true, address(auth));
        emit ITimelockedAppAuth.DeviceRemoved(DEVICE_A);
        vm.prank(owner);
        auth.removeDevice(DEVICE_A);
        assertFalse(auth.allowedDeviceIds(DEVICE_A), "not listed");
        _assertAllowed(_boot(GENESIS_HASH, DEVICE_A, "UpToDate"), false, "Device not allowed");
    }

    function test_removeDevice_revertsWhenNotListed() public {
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.DeviceNotAllowed.selector, DEVICE_B));
        auth.removeDevice(DEVICE_B);
    }

    function test_restrictDevices_isInstant() public {
        TimelockedAppAuth open = _deployAllowingAnyDevice();
        vm.expectEmit(false, false, false, true, address(open));
        emit ITimelockedAppAuth.AllowAnyDeviceSet(false);
        vm.prank(owner);
        open.restrictDevices();
        assertFalse(open.allowAnyDevice(), "allowAnyDevice");
    }

    function test_restrictDevices_revertsWhenAlreadyRestricted() public {
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.AllowAnyDeviceUnchanged.selector, false));
        auth.restrictDevices();
    }

    function test_requireUpToDateTcb_isInstant() public {
        TimelockedAppAuth lax = _deploy(NOTICE, false);
        vm.expectEmit(false, false, false, true, address(lax));
        emit ITimelockedAppAuth.RequireTcbUpToDateSet(true);
        vm.prank(owner);
        lax.requireUpToDateTcb();
        assertTrue(lax.requireTcbUpToDate(), "requireTcbUpToDate");
    }

    function test_requireUpToDateTcb_revertsWhenAlreadyRequired() public {
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.RequireTcbUpToDateUnchanged.selector, true));
        auth.requireUpToDateTcb();
    }

    function test_lengthenNoticePeriod_isInstant() public {
        vm.expectEmit(false, false, false, true, address(auth));
        emit ITimelockedAppAuth.NoticePeriodChanged(NOTICE, 30 days);
        vm.prank(owner);
        auth.lengthenNoticePeriod(30 days);
        assertEq(auth.noticePeriod(), 30 days, "notice");
        assertEq(_proposeHashReadyAt(NEW_HASH), START + 30 days, "new proposals wait the longer notice");
    }

    function test_lengthenNoticePeriod_revertsWhenNotLonger() public {
        vm.startPrank(owner);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.NoticePeriodNotLonger.selector, NOTICE, NOTICE));
        auth.lengthenNoticePeriod(NOTICE);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.NoticePeriodNotLonger.selector, NOTICE - 1, NOTICE));
        auth.lengthenNoticePeriod(NOTICE - 1);
        vm.stopPrank();
    }

    /// @dev The bug this guards against: a shortening proposed while the notice was longer still lands after another
    /// shortening, so it LENGTHENS the notice; that lengthening is a promise to users like any other, and a shorter
    /// notice announced before it (here: 1 hour, announced under a 1-day notice) must not survive it.
    function test_activateNoticePeriod_thatLengthens_cancelsTheShorteningsBelowIt() public {
        vm.startPrank(owner);
        auth.proposeNoticePeriod(6 days);
        auth.proposeNoticePeriod(1 days);
        vm.stopPrank();
        vm.warp(START + NOTICE);
        auth.activateNoticePeriod(1 days);
        assertEq(auth.noticePeriod(), 1 days, "shortened to 1 day");
        vm.prank(owner);
        bytes32 oneHour = auth.proposeNoticePeriod(1 hours);

        bytes32 sixDays = auth.proposalId(ITimelockedAppAuth.ChangeKind.ShortenNotice, bytes32(uint256(6 days)));
        vm.expectEmit(true, true, true, true, address(auth));
        emit ITimelockedAppAuth.ChangeActivated(
            sixDays, ITimelockedAppAuth.ChangeKind.ShortenNotice, bytes32(uint256(6 days)), keeper
        );
        vm.expectEmit(false, false, false, true, address(auth));
        emit ITimelockedAppAuth.NoticePeriodChanged(1 days, 6 days);
        vm.expectEmit(true, true, true, true, address(auth));
        emit ITimelockedAppAuth.ChangeCancelled(
            oneHour, ITimelockedAppAuth.ChangeKind.ShortenNotice, bytes32(uint256(1 hours))
        );
        vm.prank(keeper);
        auth.activateNoticePeriod(6 days);

        assertEq(auth.noticePeriod(), 6 days, "lengthened to 6 days");
        assertEq(uint256(auth.getProposal(oneHour).state), uint256(ITimelockedAppAuth.ProposalState.None), "1h voided");
        assertEq(auth.getProposals().length, 0, "nothing open");
        vm.warp(START + NOTICE + 1 days);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.ProposalNotFound.selector, oneHour));
        auth.activateNoticePeriod(1 hours);
        assertEq(auth.noticePeriod(), 6 days, "the promised notice holds");
    }

    /// @dev A shortening that is still a shortening when it lands cancels nothing: the other open shortenings wait on.
    function test_activateNoticePeriod_thatShortens_keepsTheOtherShortenings() public {
        vm.startPrank(owner);
        bytes32 sixDays = auth.proposeNoticePeriod(6 days);
        auth.proposeNoticePeriod(1 days);
        vm.stopPrank();
        vm.warp(START + NOTICE);
        auth.activateNoticePeriod(6 days);
        assertEq(auth.getProposals().length, 1, "the 1-day shortening is still open");
        assertEq(uint256(auth.getProposal(sixDays).state), uint256(ITimelockedAppAuth.ProposalState.None), "consumed");
        auth.activateNoticePeriod(1 days);
        assertEq(auth.noticePeriod(), 1 days, "shortened again");
    }

    /// @dev Lengthening cancels exactly the open shortenings below the new notice, and no other proposal.
    function testFuzz_lengthenNoticePeriod_cancelsExactlyTheShorteningsBelowIt(uint256 longer, uint256 a, uint256 b)
        public
    {
        a = bound(a, MIN, NOTICE - 1);
        b = bound(b, MIN, NOTICE - 1);
        vm.assume(a != b);
        longer = bound(longer, NOTICE + 1, MAX);
        vm.startPrank(owner);
        bytes32 idA = auth.proposeNoticePeriod(a);
        bytes32 idB = auth.proposeNoticePeriod(b);
        bytes32 idHash = auth.proposeComposeHash(NEW_HASH, NEW_URI);
        auth.lengthenNoticePeriod(longer);
        vm.stopPrank();
        assertEq(auth.getProposal(idA).readyAt, 0, "shortening A cancelled");
        assertEq(auth.getProposal(idB).readyAt, 0, "shortening B cancelled");
        assertEq(auth.getProposal(idHash).readyAt, START + NOTICE, "other proposals keep their readyAt");
        assertEq(auth.getProposals().length, 1, "only the compose hash stays open");
    }

    // =========================================================================================================
    // Bounded proposals and URIs
    // =========================================================================================================

    function test_propose_atTheLimit_revertsWhileNoProposalHasExpired() public {
        uint256 limit = auth.MAX_OPEN_PROPOSALS();
        for (uint256 i = 0; i < limit; ++i) {
            _proposeHash(keccak256(abi.encode("release", i)));
        }
        vm.warp(START + NOTICE + GRACE - 1);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.TooManyOpenProposals.selector, limit));
        auth.proposeDevice(DEVICE_B);
        assertEq(auth.getProposals().length, limit, "nothing pruned, nothing added");
    }

    function test_propose_atTheLimit_prunesTheExpiredProposals() public {
        uint256 limit = auth.MAX_OPEN_PROPOSALS();
        bytes32 firstId = _proposeHash(keccak256(abi.encode("release", uint256(0))));
        vm.warp(START + 1 days);
        for (uint256 i = 1; i < limit; ++i) {
            _proposeHash(keccak256(abi.encode("release", i)));
        }
        vm.warp(START + NOTICE + GRACE); // only the first one has expired
        vm.expectEmit(true, true, true, true, address(auth));
        emit ITimelockedAppAuth.ChangeCancelled(
            firstId, ITimelockedAppAuth.ChangeKind.AddComposeHash, keccak256(abi.encode("release", uint256(0)))
        );
        vm.prank(owner);
        bytes32 deviceId = auth.proposeDevice(DEVICE_B);
        assertEq(auth.getProposals().length, limit, "one pruned, one added");
        assertEq(auth.getProposal(firstId).readyAt, 0, "the expired one is gone");
        assertEq(auth.getProposal(deviceId).readyAt, START + NOTICE + GRACE + NOTICE, "the new one waits");
        assertEq(auth.composeHashUriBlock(keccak256(abi.encode("release", uint256(0)))), 0, "its hash is not allowed");
    }

    /// @dev Whatever the owner proposes and whenever, at most MAX_OPEN_PROPOSALS are open, and a proposal is refused
    /// only when all of them are still waiting or ready.
    function testFuzz_propose_neverExceedsTheLimit(uint256[48] memory gaps) public {
        uint256 limit = auth.MAX_OPEN_PROPOSALS();
        for (uint256 i = 0; i < gaps.length; ++i) {
            vm.warp(vm.getBlockTimestamp() + bound(gaps[i], 0, 2 days));
            ITimelockedAppAuth.ProposalView[] memory open = auth.getProposals();
            bool anyExpired;
            for (uint256 j = 0; j < open.length; ++j) {
                if (open[j].state == ITimelockedAppAuth.ProposalState.Expired) anyExpired = true;
            }
            vm.prank(owner);
            (bool ok, bytes memory reason) = address(auth).call(
                abi.encodeCall(ITimelockedAppAuth.proposeComposeHash, (keccak256(abi.encode("r", i)), NEW_URI))
            );
            if (open.length < limit || anyExpired) {
                assertTrue(ok, "room was there or could be made");
            } else {
                assertEq(reason, abi.encodeWithSelector(ITimelockedAppAuth.TooManyOpenProposals.selector, limit), "err");
            }
            assertLe(auth.getProposals().length, limit, "never more than the limit");
        }
    }

    /// @dev The documented worst case of the views that return proposals: every proposal open (their URIs, even the
    /// longest, are in the events, not in what the views read).
    function test_getProposals_worstCase_costsUnderTwoMillionGas() public {
        uint256 limit = auth.MAX_OPEN_PROPOSALS();
        string memory uri = _uriOfLength(auth.MAX_URI_LENGTH());
        vm.startPrank(owner);
        for (uint256 i = 0; i < limit; ++i) {
            auth.proposeComposeHash(keccak256(abi.encode("release", i)), uri);
        }
        vm.stopPrank();
        uint256 before = gasleft();
        ITimelockedAppAuth.ProposalView[] memory open = auth.getProposals();
        uint256 used = before - gasleft();
        assertEq(open.length, limit, "all open");
        assertEq(open[limit - 1].uriBlock, block.number, "its uri's block");
        assertLe(used, 2_000_000, "getProposals worst case");
    }

    function test_proposeComposeHash_revertsOnTooLongUri() public {
        uint256 max = auth.MAX_URI_LENGTH();
        string memory tooLong = _uriOfLength(max + 1);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.ComposeUriTooLong.selector, max + 1, max));
        auth.proposeComposeHash(NEW_HASH, tooLong);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.ComposeUriTooLong.selector, max + 1, max));
        new TimelockedAppAuth(owner, NOTICE, NEW_HASH, tooLong, new bytes32[](0), false, true);
        uint64 readyAt = uint64(START + NOTICE);
        vm.expectEmit(true, true, true, true, address(auth));
        emit ITimelockedAppAuth.ChangeProposed(
            AppAuthCalls.id(ITimelockedAppAuth.ChangeKind.AddComposeHash, NEW_HASH),
            ITimelockedAppAuth.ChangeKind.AddComposeHash,
            NEW_HASH,
            readyAt,
            readyAt + uint64(GRACE),
            _uriOfLength(max)
        );
        vm.prank(owner);
        auth.proposeComposeHash(NEW_HASH, _uriOfLength(max));
    }

    // =========================================================================================================
    // Paged lists and release ages
    // =========================================================================================================

    function test_composeHashAllowedAt_isWhenTheHashBecameAllowed() public {
        assertEq(auth.composeHashAllowedAt(GENESIS_HASH), START, "genesis: the deployment");
        _proposeHash(NEW_HASH);
        vm.warp(START + NOTICE + 5);
        auth.activateComposeHash(NEW_HASH);
        assertEq(auth.composeHashAllowedAt(NEW_HASH), START + NOTICE + 5, "at activation");
        vm.prank(owner);
        auth.removeComposeHash(GENESIS_HASH);
        assertEq(auth.composeHashAllowedAt(GENESIS_HASH), 0, "zero once removed");
        assertEq(auth.composeHashAllowedAt(NEW_HASH), START + NOTICE + 5, "the moved entry keeps its date");
    }

    /// @dev Any page of the compose hashes is the matching slice of getComposeHashes, with each hash's date.
    function testFuzz_getComposeHashesPage_isASliceOfTheFullList(uint8 added, uint8 removed, uint256 start, uint256 count)
        public
    {
        added = uint8(bound(added, 0, 12));
        for (uint256 i = 0; i < added; ++i) {
            _proposeHash(keccak256(abi.encode("release", i)));
        }
        vm.warp(START + NOTICE);
        for (uint256 i = 0; i < added; ++i) {
            vm.warp(vm.getBlockTimestamp() + 1);
            auth.activateComposeHash(keccak256(abi.encode("release", i)));
        }
        removed = uint8(bound(removed, 0, added));
        vm.startPrank(owner);
        for (uint256 i = 0; i < removed; ++i) {
            auth.removeComposeHash(keccak256(abi.encode("release", i)));
        }
        vm.stopPrank();
        bytes32[] memory all = auth.getComposeHashes();
        start = bound(start, 0, all.length + 2);
        count = bound(count, 0, all.length + 2);
        (bytes32[] memory page, uint64[] memory allowedAt, uint256 total) = auth.getComposeHashesPage(start, count);
        assertEq(total, all.length, "total");
        uint256 expected = start >= all.length ? 0 : (count < all.length - start ? count : all.length - start);
        assertEq(page.length, expected, "page length");
        assertEq(allowedAt.length, expected, "dates length");
        for (uint256 i = 0; i < page.length; ++i) {
            assertEq(page[i], all[start + i], "slice");
            assertEq(allowedAt[i], auth.composeHashAllowedAt(page[i]), "date");
            assertTrue(allowedAt[i] != 0, "allowed hashes have a date");
        }
    }

    function testFuzz_getDevicesPage_isASliceOfTheFullList(uint256 start, uint256 count) public {
        bytes32[] memory devices = new bytes32[](5);
        for (uint256 i = 0; i < devices.length; ++i) {
            devices[i] = keccak256(abi.encode("device", i));
        }
        TimelockedAppAuth policy = new TimelockedAppAuth(owner, NOTICE, GENESIS_HASH, GENESIS_URI, devices, false, true);
        start = bound(start, 0, 8);
        count = bound(count, 0, 8);
        (bytes32[] memory page, uint256 total) = policy.getDevicesPage(start, count);
        assertEq(total, 5, "total");
        uint256 expected = start >= 5 ? 0 : (count < 5 - start ? count : 5 - start);
        assertEq(page.length, expected, "page length");
        for (uint256 i = 0; i < page.length; ++i) {
            assertEq(page[i], devices[start + i], "slice in listing order");
        }
    }

    function testFuzz_getOsMeasurementsPage_isASliceOfTheFullList(uint256 start, uint256 count) public {
        ITimelockedAppAuth.OsMeasurement field = ITimelockedAppAuth.OsMeasurement.OsImageHash;
        bytes32[] memory values = new bytes32[](4);
        for (uint256 i = 0; i < values.length; ++i) {
            values[i] = keccak256(abi.encode("os image", i));
        }
        vm.startPrank(owner);
        auth.pinOs(field, values[0]);
        for (uint256 i = 1; i < values.length; ++i) {
            auth.proposeOsMeasurement(field, values[i]);
        }
        vm.warp(block.timestamp + NOTICE);
        for (uint256 i = 1; i < values.length; ++i) {
            auth.activateOsMeasurement(field, values[i]);
        }
        vm.stopPrank();
        start = bound(start, 0, 6);
        count = bound(count, 0, 6);
        (bytes32[] memory page, uint256 total) = auth.getOsMeasurementsPage(field, start, count);
        assertEq(total, 4, "total");
        uint256 expected = start >= 4 ? 0 : (count < 4 - start ? count : 4 - start);
        assertEq(page.length, expected, "page length");
        for (uint256 i = 0; i < page.length; ++i) {
            assertEq(page[i], values[start + i], "slice in listing order");
        }
        (page, total) = auth.getOsMeasurementsPage(ITimelockedAppAuth.OsMeasurement.MrSystem, start, count);
        assertEq(total, 0, "the field not pinned lists nothing");
        assertEq(page.length, 0, "empty page");
    }

    // =========================================================================================================
    // Retiring older releases as part of an upgrade
    // =========================================================================================================

    function test_activateComposeHashAndRetire_allowsTheNewReleaseAndRetiresTheOldOnes() public {
        _proposeHash(NEW_HASH);
        vm.warp(START + NOTICE);
        vm.expectEmit(false, false, false, true, address(auth));
        emit ITimelockedAppAuth.ComposeHashAdded(NEW_HASH);
        vm.expectEmit(true, false, false, true, address(auth));
        emit ITimelockedAppAuth.CurrentReleaseSet(NEW_HASH, uint64(block.number));
        vm.expectEmit(false, false, false, true, address(auth));
        emit ITimelockedAppAuth.ComposeHashRemoved(GENESIS_HASH);
        vm.prank(owner);
        auth.activateComposeHashAndRetire(NEW_HASH, _one(GENESIS_HASH));

        bytes32[] memory hashes = auth.getComposeHashes();
        assertEq(hashes.length, 1, "only the new release");
        assertEq(hashes[0], NEW_HASH, "the new release");
        (bytes32 release, uint64 uriBlock,) = auth.currentRelease();
        assertEq(release, NEW_HASH, "current release");
        assertEq(uriBlock, block.number, "its uri's block");
        _assertAllowed(_boot(GENESIS_HASH, DEVICE_A, "UpToDate"), false, "Compose hash not allowed");
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.ComposeHashNotAllowed.selector, GENESIS_HASH));
        auth.rollBackTo(GENESIS_HASH);
    }

    /// @dev Bad input changes nothing: the proposal stays ready, and nothing is retired.
    function test_activateComposeHashAndRetire_revertsWholeOnABadRetiredHash() public {
        _proposeHash(NEW_HASH);
        vm.warp(START + NOTICE);
        bytes32[] memory retired = new bytes32[](2);
        retired[0] = GENESIS_HASH;
        retired[1] = DEVICE_A; // not an allowed compose hash
        vm.startPrank(owner);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.ComposeHashNotAllowed.selector, DEVICE_A));
        auth.activateComposeHashAndRetire(NEW_HASH, retired);
        retired[1] = GENESIS_HASH; // listed twice
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.ComposeHashNotAllowed.selector, GENESIS_HASH));
        auth.activateComposeHashAndRetire(NEW_HASH, retired);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.CannotRetireNewRelease.selector, NEW_HASH));
        auth.activateComposeHashAndRetire(NEW_HASH, _one(NEW_HASH));
        vm.stopPrank();
        assertTrue(auth.allowedComposeHashes(GENESIS_HASH), "nothing retired");
        assertFalse(auth.allowedComposeHashes(NEW_HASH), "nothing activated");
        assertEq(uint256(auth.getProposal(auth.proposalId(ITimelockedAppAuth.ChangeKind.AddComposeHash, NEW_HASH)).state),
            uint256(ITimelockedAppAuth.ProposalState.Ready), "still ready");
    }

    function test_activateComposeHashAndRetire_waitsTheNoticeLikeAnyActivation() public {
        bytes32 id = _proposeHash(NEW_HASH);
        vm.warp(START + NOTICE - 1);
        vm.prank(owner);
        vm.expectRevert(
            abi.encodeWithSelector(ITimelockedAppAuth.ProposalNotReady.selector, id, START + NOTICE, START + NOTICE - 1)
        );
        auth.activateComposeHashAndRetire(NEW_HASH, _one(GENESIS_HASH));
    }

    function testFuzz_proposeNoticePeriod_revertsWhenOutOfBounds(uint256 notice, bool below) public {
        notice = _outOfBounds(notice, below);
        vm.prank(owner);
        vm.expectRevert(_outOfBoundsError(notice));
        auth.proposeNoticePeriod(notice);
    }

    function testFuzz_lengthenNoticePeriod_revertsWhenOutOfBounds(uint256 notice, bool below) public {
        notice = _outOfBounds(notice, below);
        vm.prank(owner);
        vm.expectRevert(_outOfBoundsError(notice));
        auth.lengthenNoticePeriod(notice);
    }

    /// @dev Within the bounds, a shorter notice is proposed (and waits), a longer one applies at once, an equal one
    /// is refused both ways.
    function testFuzz_noticePeriod_withinBoundsShortensSlowlyAndLengthensAtOnce(uint256 notice) public {
        notice = bound(notice, MIN, MAX);
        vm.startPrank(owner);
        if (notice < NOTICE) {
            auth.proposeNoticePeriod(notice);
            assertEq(auth.noticePeriod(), NOTICE, "unchanged until activated");
            vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.NoticePeriodNotLonger.selector, notice, NOTICE));
            auth.lengthenNoticePeriod(notice);
        } else if (notice > NOTICE) {
            auth.lengthenNoticePeriod(notice);
            assertEq(auth.noticePeriod(), notice, "lengthened at once");
        } else {
            vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.NoticePeriodNotShorter.selector, notice, NOTICE));
            auth.proposeNoticePeriod(notice);
            vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.NoticePeriodNotLonger.selector, notice, NOTICE));
            auth.lengthenNoticePeriod(notice);
        }
        vm.stopPrank();
    }

    function test_rollBackTo_pointsTheReleaseAtAnAllowedHash() public {
        _proposeHash(NEW_HASH);
        vm.warp(START + NOTICE);
        auth.activateComposeHash(NEW_HASH);
        vm.warp(START + NOTICE + 1);
        vm.expectEmit(true, false, false, true, address(auth));
        emit ITimelockedAppAuth.CurrentReleaseSet(GENESIS_HASH, uint64(block.number));
        vm.prank(owner);
        auth.rollBackTo(GENESIS_HASH);
        (bytes32 hash, uint64 uriBlock, uint64 setAt) = auth.currentRelease();
        assertEq(hash, GENESIS_HASH, "release hash");
        assertEq(uriBlock, block.number, "release uri block");
        assertEq(setAt, START + NOTICE + 1, "release setAt");
    }

    function test_rollBackTo_revertsWhenNotAllowed() public {
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.ComposeHashNotAllowed.selector, NEW_HASH));
        auth.rollBackTo(NEW_HASH);
    }

    function test_rollBackTo_revertsWhenAlreadyCurrent() public {
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(ITimelockedAppAuth.AlreadyCurrentRelease.selector, GENESIS_HASH));
        auth.rollBackTo(GENESIS_HASH);
    }

    // =========================================================================================================
    // Disabling upgrades and ownership
    // =========================================================================================================

    function test_disableUpgrades_voidsOpenProposalsForGood() public {
        bytes32 id = _proposeHash(NEW_HASH);
        vm.expectEmit(false, false, false, true, address(auth));
        emit ITimelockedAppAuth.UpgradesDisabled();
        vm.prank(owner);
        auth.disableUpgrades();
        assertTrue(auth.upgradesDisabled(), "upgradesDisabled");
        assertEq(uint256(auth.getProposal(id).state), uint256(ITimelockedAppAuth.ProposalState.Voided), "voided");
        vm.warp(START + NOTICE);
        vm.expectRevert(ITimelockedAppAuth.UpgradesAreDisabled.selector);
        auth.activateComposeHash(NEW_HASH);
        assertFalse(auth.allowedComposeHashes(NEW_HASH), "never allowed");
    }

    function test_disableUpgrades_keepsNarrowingAndCancellingPossible() public {
        _proposeHash(NEW_HASH);
        vm.startPrank(owner);
        auth.disableUpgrades();
        auth.cancelComposeHash(NEW_HASH);
        auth.removeDevice(DEVICE_A);
        auth.removeComposeHash(GENESIS_HASH);
        auth.lengthenNoticePeriod(30 days);
        vm.stopPrank();
        assertEq(auth.getProposals().length, 0, "cancelled");
        assertEq(auth.getDevices().length, 0, "device removed");
        assertEq(auth.getComposeHashes().length, 0, "hash removed");
    }

    function test_disableUpgrades_revertsWhenAlreadyDisabled() public {
        vm.startPrank(owner);
        auth.disableUpgrades();
        vm.expectRevert(ITimelockedAppAuth.UpgradesAreDisabled.selector);
        auth.disableUpgrades();
        vm.stopPrank();
    }

    function test_renounceOwnership_disablesUpgradesFirst() public {
        _proposeHash(NEW_HASH);
        vm.expectEmit(false, false, false, true, address(auth));
        emit ITimelockedAppAuth.UpgradesDisabled();
        vm.expectEmit(true, true, false, true, address(auth));
        emit Ownable.OwnershipTransferred(owner, address(0));
        vm.prank(owner);
        auth.renounceOwnership();
        assertEq(auth.owner(), address(0), "owner");
        assertTrue(auth.upgradesDisabled(), "upgradesDisabled");
        vm.warp(START + NOTICE);
        vm.expectRevert(ITimelockedAppAuth.UpgradesAreDisabled.selector);
        auth.activateComposeHash(NEW_HASH);
    }

    function test_renounceOwnership_afterDisableUpgrades_stillRenounces() public {
        vm.startPrank(owner);
        auth.disableUpgrades();
        auth.renounceOwnership();
        vm.stopPrank();
        assertEq(auth.owner(), address(0), "owner");
    }

    function test_renounceOwnership_clearsThePendingOwner() public {
        vm.startPrank(owner);
        auth.transferOwnership(keeper);
        auth.renounceOwnership();
        vm.stopPrank();
        assertEq(auth.pendingOwner(), address(0), "pendingOwner");
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, keeper));
        auth.acceptOwnership();
    }

    function test_transferOwnership_takesEffectOnlyWhenAccepted() public {
        vm.expectEmit(true, true, false, true, address(auth));
        emit Ownable2Step.OwnershipTransferStarted(owner, keeper);
        vm.prank(owner);
        auth.transferOwnership(keeper);
        assertEq(auth.owner(), owner, "owner until accepted");
        assertEq(auth.pendingOwner(), keeper, "pendingOwner");

        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, keeper));
        auth.proposeDevice(DEVICE_B);

        vm.prank(keeper);
        auth.acceptOwnership();
        assertEq(auth.owner(), keeper, "new owner");
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, owner));
        auth.proposeDevice(DEVICE_B);
        vm.prank(keeper);
        auth.proposeDevice(DEVICE_B);
    }

    /// @dev Every owner-only function, with any arguments, reverts for any other caller before doing anything.
    function testFuzz_ownerOnlyFunctions_revertForAnyOtherCaller(
        address caller,
        bytes32 composeHash,
        bytes32 deviceId,
        uint256 notice,
        address newOwner,
        bytes32 osValue
    ) public {
        vm.assume(caller != owner);
        bytes[] memory calls = AppAuthCalls.ownerOnly(composeHash, deviceId, notice, NEW_URI, newOwner, osValue);
        for (uint256 i = 0; i < calls.length; ++i) {
            vm.prank(caller);
            vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, caller));
            _rawCall(calls[i]);
        }
    }

    /// @dev The same holds when the caller is the pending owner or the previous owner, the likeliest confusions.
    function test_ownerOnlyFunctions_revertForPendingAndPreviousOwners() public {
        vm.prank(owner);
        auth.transferOwnership(keeper);
        bytes[] memory calls = AppAuthCalls.ownerOnly(NEW_HASH, DEVICE_B, 1 days, NEW_URI, stranger, OS_A);
        for (uint256 i = 0; i < calls.length; ++i) {
            vm.prank(keeper);
            vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, keeper));
            _rawCall(calls[i]);
        }
        vm.prank(keeper);
        auth.acceptOwnership();
        for (uint256 i = 0; i < calls.length; ++i) {
            vm.prank(owner);
            vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, owner));
            _rawCall(calls[i]);
        }
    }

    function testFuzz_acceptOwnership_revertsForAnyoneButThePendingOwner(address caller) public {
        vm.assume(caller != keeper);
        vm.prank(owner);
        auth.transferOwnership(keeper);
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, caller));
        auth.acceptOwnership();
    }

    // =========================================================================================================
    // dstack's audit event: PolicyChanged(actor, keccak256(label), value, enabled) with every change in effect
    // =========================================================================================================

    function test_policyChanged_hasDstackSignatureAndTopic() public pure {
        assertEq(
            ITimelockedAppAuth.PolicyChanged.selector,
            keccak256("PolicyChanged(address,bytes32,bytes32,bool)"),
            "same topic as dstack's DstackApp"
        );
    }

    function test_policyChanged_constructorRecordsTheGenesisPolicyWithTheDeployerAsActor() public {
        bytes32[] memory devices = _one(DEVICE_A);
        address deployer = address(this);
        _expectPolicy(address(0), deployer, "notice-period", bytes32(NOTICE), true);
        _expectPolicy(address(0), deployer, "compose-hash", GENESIS_HASH, true);
        _expectPolicy(address(0), deployer, "device", DEVICE_A, true);
        _expectPolicy(address(0), deployer, "allow-any-device", bytes32(0), false);
        _expectPolicy(address(0), deployer, "require-tcb-up-to-date", bytes32(0), true);
        new TimelockedAppAuth(owner, NOTICE, GENESIS_HASH, GENESIS_URI, devices, false, true);
    }

    function test_policyChanged_activationsNameTheActivatorAndTheWidenedValue() public {
        vm.startPrank(owner);
        auth.proposeComposeHash(NEW_HASH, NEW_URI);
        auth.proposeDevice(DEVICE_B);
        auth.proposeAllowAnyDevice();
        auth.proposeAllowOutdatedTcb();
        auth.proposeNoticePeriod(1 days);
        vm.stopPrank();
        vm.warp(START + NOTICE);
        vm.startPrank(keeper);
        _expectPolicy(address(auth), keeper, "compose-hash", NEW_HASH, true);
        auth.activateComposeHash(NEW_HASH);
        _expectPolicy(address(auth), keeper, "device", DEVICE_B, true);
        auth.activateDevice(DEVICE_B);
        _expectPolicy(address(auth), keeper, "allow-any-device", bytes32(0), true);
        auth.activateAllowAnyDevice();
        _expectPolicy(address(auth), keeper, "require-tcb-up-to-date", bytes32(0), false);
        auth.activateAllowOutdatedTcb();
        _expectPolicy(address(auth), keeper, "notice-period", bytes32(uint256(1 days)), true);
        auth.activateNoticePeriod(1 days);
        vm.stopPrank();
    }

    function test_policyChanged_narrowingChangesNameTheOwnerAndTheNarrowedValue() public {
        vm.startPrank(owner);
        _expectPolicy(address(auth), owner, "compose-hash", GENESIS_HASH, false);
        auth.removeComposeHash(GENESIS_HASH);
        _expectPolicy(address(auth), owner, "device", DEVICE_A, false);
        auth.removeDevice(DEVICE_A);
        _expectPolicy(address(auth), owner, "notice-period", bytes32(uint256(30 days)), true);
        auth.lengthenNoticePeriod(30 days);
        _expectPolicy(address(auth), owner, "upgrades-disabled", bytes32(0), true);
        auth.disableUpgrades();
        vm.stopPrank();

        TimelockedAppAuth loose = _deployAllowingAnyDevice();
        vm.startPrank(owner);
        _expectPolicy(address(loose), owner, "allow-any-device", bytes32(0), false);
        loose.restrictDevices();
        _expectPolicy(address(loose), owner, "upgrades-disabled", bytes32(0), true);
        loose.renounceOwnership();
        vm.stopPrank();

        TimelockedAppAuth lax =
            new TimelockedAppAuth(owner, NOTICE, GENESIS_HASH, GENESIS_URI, _one(DEVICE_A), false, false);
        vm.prank(owner);
        _expectPolicy(address(lax), owner, "require-tcb-up-to-date", bytes32(0), true);
        lax.requireUpToDateTcb();
    }

    function test_policyChanged_activateAndRetireRecordsBothChanges() public {
        _proposeHash(NEW_HASH);
        vm.warp(START + NOTICE);
        vm.prank(owner);
        _expectPolicy(address(auth), owner, "compose-hash", NEW_HASH, true);
        _expectPolicy(address(auth), owner, "compose-hash", GENESIS_HASH, false);
        auth.activateComposeHashAndRetire(NEW_HASH, _one(GENESIS_HASH));
    }

    /// @dev A shortening that lands longer than the notice in force (proposed when the notice was longer still)
    /// records the notice it sets, like any other.
    function test_policyChanged_aShorteningThatLengthensRecordsTheNewNotice() public {
        vm.prank(owner);
        auth.proposeNoticePeriod(3 days);
        vm.warp(START + NOTICE);
        vm.prank(owner);
        auth.proposeNoticePeriod(2 hours);
        vm.warp(START + NOTICE + NOTICE);
        vm.prank(keeper);
        auth.activateNoticePeriod(2 hours);
        // 3 days was proposed first: ready since START + 7 days, still within its grace window.
        vm.prank(keeper);
        _expectPolicy(address(auth), keeper, "notice-period", bytes32(uint256(3 days)), true);
        auth.activateNoticePeriod(3 days);
    }

    /// @dev Whatever the change and whoever activates it, the activation records it with the activator.
    function testFuzz_policyChanged_everyActivationIsRecorded(uint8 kindSeed, uint256 notice, address activator)
        public
    {
        vm.assume(activator != address(0));
        (TimelockedAppAuth policy, ITimelockedAppAuth.ChangeKind kind, uint64 readyAt) =
            _proposeOnFreshPolicy(kindSeed, notice, START);
        vm.warp(readyAt);
        bytes32 value = _validValue(kind);
        (string memory label, bool enabled) = _policyLabel(kind);
        _expectPolicy(address(policy), activator, label, value, enabled);
        vm.prank(activator);
        (bool ok,) = address(policy).call(AppAuthCalls.activate(kind, value));
        assertTrue(ok, "activation succeeds");
    }

    // =========================================================================================================
    // OS pins
    // =========================================================================================================

    /// @dev With a field pinned to `pinned`, every other value of it is refused, after dstack's checks, and the other
    /// field stays free; pinning is instant and emits the dstack-style events with their PolicyChanged labels.
    function testFuzz_osPin_refusesEveryOtherValue(uint8 fieldSeed, bytes32 pinned, bytes32 other, bytes32 free)
        public
    {
        vm.assume(pinned != bytes32(0) && other != pinned);
        ITimelockedAppAuth.OsMeasurement field = ITimelockedAppAuth.OsMeasurement(fieldSeed % 2);
        bool mrSystem = field == ITimelockedAppAuth.OsMeasurement.MrSystem;
        vm.expectEmit(true, true, true, true, address(auth));
        if (mrSystem) emit ITimelockedAppAuth.MrSystemPinnedSet(true);
        else emit ITimelockedAppAuth.OsImageHashPinnedSet(true);
        vm.expectEmit(true, true, true, true, address(auth));
        emit ITimelockedAppAuth.PolicyChanged(
            owner, keccak256(mrSystem ? bytes("mr-system-pinned") : bytes("os-image-pinned")), bytes32(0), true
        );
        vm.expectEmit(true, true, true, true, address(auth));
        if (mrSystem) emit ITimelockedAppAuth.MrSystemAdded(pinned);
        else emit ITimelockedAppAuth.OsImageHashAdded(pinned);
        vm.expectEmit(true, true, true, true, address(auth));
        emit ITimelockedAppAuth.PolicyChanged(
            owner, keccak256(mrSystem ? bytes("mr-system") : bytes("os-image")), pinned, true
        );
        vm.prank(owner);
        auth.pinOs(field, pinned);

        IAppAuth.AppBootInfo memory boot = _boot(GENESIS_HASH, DEVICE_A, "UpToDate");
        (boot.mrSystem, boot.osImageHash) = mrSystem ? (pinned, free) : (free, pinned);
        _assertAllowed(boot, true, "");
        (boot.mrSystem, boot.osImageHash) = mrSystem ? (other, free) : (free, other);
        _assertAllowed(boot, false, "OS not allowed by the app");
        boot.composeHash = NEW_HASH;
        _assertAllowed(boot, false, "Compose hash not allowed");
    }

    /// @dev Values join only through proposals that waited; removing them, in any order, never reaches "any OS":
    /// the last one stays, and a value never pinned stays refused.
    function testFuzz_osPin_removalsNeverUnpin(uint8 fieldSeed, bytes32[4] memory values, uint256 order, bytes32 stray)
        public
    {
        ITimelockedAppAuth.OsMeasurement field = ITimelockedAppAuth.OsMeasurement(fieldSeed % 2);
        for (uint256 i = 0; i < values.length; ++i) {
            vm.assume(values[i] != bytes32(0) && values[i] != stray);
            for (uint256 j = 0; j < i; ++j) {
                vm.assume(values[i] != values[j]);
            }
        }
        vm.startPrank(owner);
        auth.pinOs(field, values[0]);
        for (uint256 i = 1; i < values.length; ++i) {
            auth.proposeOsMeasurement(field, values[i]);
            assertFalse(auth.allowedOsMeasurement(field, values[i]), "allowed before its notice");
        }
        vm.warp(block.timestamp + NOTICE);
        for (uint256 i = 1; i < values.length; ++i) {
            auth.activateOsMeasurement(field, values[i]);
        }
        uint256 left = values.length;
        order %= values.length;
        for (uint256 step = 0; step < values.length; ++step) {
            bytes32 value = values[(order + step) % values.length];
            if (left == 1) {
                vm.expectRevert(
                    abi.encodeWithSelector(ITimelockedAppAuth.CannotRemoveLastOsMeasurement.selector, field, value)
                );
                auth.removeOsMeasurement(field, value);
            } else {
                auth.removeOsMeasurement(field, value);
                --left;
                assertFalse(auth.allowedOsMeasurement(field, value), "removed value still allowed");
            }
            assertTrue(auth.osPinned(field), "unpinned by a removal");
            assertFalse(auth.allowedOsMeasurement(field, stray), "a value never pinned is allowed");
        }
        vm.stopPrank();
        assertEq(auth.getOsMeasurements(field).length, 1, "one value left");
    }

    /// @dev Unpinning waits the notice like any widening: not a second before `readyAt`, by anyone after.
    function testFuzz_osPin_unpinWaitsTheNotice(uint8 fieldSeed, uint256 early, bytes32 stray) public {
        ITimelockedAppAuth.OsMeasurement field = ITimelockedAppAuth.OsMeasurement(fieldSeed % 2);
        vm.assume(stray != OS_A);
        vm.startPrank(owner);
        auth.pinOs(field, OS_A);
        auth.proposeUnpinOs(field);
        vm.stopPrank();
        early = bound(early, 0, NOTICE - 1);
        vm.warp(START + early);
        bytes32 id = AppAuthCalls.id(AppAuthCalls.unpinOs(field), bytes32(0));
        vm.expectRevert(
            abi.encodeWithSelector(ITimelockedAppAuth.ProposalNotReady.selector, id, START + NOTICE, START + early)
        );
        vm.prank(stranger);
        auth.activateUnpinOs(field);
        assertFalse(auth.allowedOsMeasurement(field, stray), "unpinned early");
        vm.warp(START + NOTICE);
        vm.prank(stranger);
        auth.activateUnpinOs(field);
        assertTrue(auth.allowedOsMeasurement(field, stray), "still pinned after activation");
        assertEq(auth.getOsMeasurements(field).length, 0, "values kept after unpinning");
    }

    // =========================================================================================================
    // Helpers
    // =========================================================================================================

    /// @dev Expects dstack's audit event next (all topics and data checked); `emitter` zero: any emitter.
    function _expectPolicy(address emitter, address actor, string memory label, bytes32 value, bool enabled)
        internal
    {
        if (emitter == address(0)) vm.expectEmit(true, true, true, true);
        else vm.expectEmit(true, true, true, true, emitter);
        emit ITimelockedAppAuth.PolicyChanged(actor, keccak256(bytes(label)), value, enabled);
    }

    /// @dev dstack's label for what a widening change of `kind` sets, and the `enabled` it records.
    function _policyLabel(ITimelockedAppAuth.ChangeKind kind) internal pure returns (string memory, bool) {
        if (kind == ITimelockedAppAuth.ChangeKind.AddComposeHash) return ("compose-hash", true);
        if (kind == ITimelockedAppAuth.ChangeKind.AddDevice) return ("device", true);
        if (kind == ITimelockedAppAuth.ChangeKind.AllowAnyDevice) return ("allow-any-device", true);
        if (kind == ITimelockedAppAuth.ChangeKind.AllowOutdatedTcb) return ("require-tcb-up-to-date", false);
        return ("notice-period", true);
    }

    function _deploy(uint256 notice, bool requireTcb) internal returns (TimelockedAppAuth) {
        return new TimelockedAppAuth(owner, notice, GENESIS_HASH, GENESIS_URI, _one(DEVICE_A), false, requireTcb);
    }

    function _deployAllowingAnyDevice() internal returns (TimelockedAppAuth) {
        return new TimelockedAppAuth(owner, NOTICE, GENESIS_HASH, GENESIS_URI, new bytes32[](0), true, true);
    }

    function _proposeHash(bytes32 hash) internal returns (bytes32 id) {
        vm.prank(owner);
        id = auth.proposeComposeHash(hash, NEW_URI);
    }

    function _proposeHashReadyAt(bytes32 hash) internal returns (uint256) {
        return auth.getProposal(_proposeHash(hash)).readyAt;
    }

    function _uriOfLength(uint256 length) internal pure returns (string memory) {
        bytes memory uri = new bytes(length);
        for (uint256 i = 0; i < length; ++i) {
            uri[i] = "a";
        }
        return string(uri);
    }

    function _one(bytes32 value) internal pure returns (bytes32[] memory list) {
        list = new bytes32[](1);
        list[0] = value;
    }

    function _boot(bytes32 composeHash, bytes32 deviceId, string memory tcbStatus)
        internal
        view
        returns (IAppAuth.AppBootInfo memory boot)
    {
        boot.appId = address(auth);
        boot.composeHash = composeHash;
        boot.instanceId = address(0xC0FFEE);
        boot.deviceId = deviceId;
        boot.tcbStatus = tcbStatus;
    }

    function _assertAllowed(IAppAuth.AppBootInfo memory boot, bool expected, string memory expectedReason)
        internal
        view
    {
        (bool allowed, string memory reason) = auth.isAppAllowed(boot);
        assertEq(allowed, expected, "isAllowed");
        assertEq(reason, expectedReason, "reason");
    }

    /// @dev Deploys a policy with a fuzzed notice at a fuzzed time and proposes a valid change of a fuzzed kind.
    function _proposeOnFreshPolicy(uint8 kindSeed, uint256 notice, uint256 proposedAt)
        internal
        returns (TimelockedAppAuth policy, ITimelockedAppAuth.ChangeKind kind, uint64 readyAt)
    {
        kind = ITimelockedAppAuth.ChangeKind(kindSeed % 5);
        // Shortening needs a notice above the minimum to shorten from.
        notice = bound(notice, kind == ITimelockedAppAuth.ChangeKind.ShortenNotice ? MIN + 1 : MIN, MAX);
        proposedAt = bound(proposedAt, 1, 2 ** 40);
        vm.warp(proposedAt);
        policy = _deploy(notice, true);
        vm.prank(owner);
        (bool ok,) = address(policy).call(AppAuthCalls.propose(kind, _validValue(kind), NEW_URI));
        assertTrue(ok, "proposal succeeds");
        readyAt = uint64(proposedAt + notice);
    }

    /// @dev At `activateAt`, the proposal's view and an activation by the keeper behave as the window says.
    function _assertActivationAt(TimelockedAppAuth policy, ITimelockedAppAuth.ChangeKind kind, uint256 activateAt)
        internal
    {
        bytes32 value = _validValue(kind);
        bytes32 id = AppAuthCalls.id(kind, value);
        ITimelockedAppAuth.ProposalView memory p = policy.getProposal(id);
        assertEq(p.readyAt, vm.getBlockTimestamp() + policy.noticePeriod(), "readyAt == proposedAt + notice");
        assertEq(p.expiresAt, p.readyAt + GRACE, "expiresAt == readyAt + grace");
        bool inWindow = activateAt >= p.readyAt && activateAt < p.expiresAt;
        vm.warp(activateAt);

        ITimelockedAppAuth.ProposalState expectedState = activateAt < p.readyAt
            ? ITimelockedAppAuth.ProposalState.Waiting
            : inWindow ? ITimelockedAppAuth.ProposalState.Ready : ITimelockedAppAuth.ProposalState.Expired;
        assertEq(uint256(policy.getProposal(id).state), uint256(expectedState), "state");

        if (activateAt < p.readyAt) {
            vm.expectRevert(
                abi.encodeWithSelector(ITimelockedAppAuth.ProposalNotReady.selector, id, p.readyAt, activateAt)
            );
        } else if (!inWindow) {
            vm.expectRevert(
                abi.encodeWithSelector(ITimelockedAppAuth.ProposalExpired.selector, id, p.expiresAt, activateAt)
            );
        } else {
            vm.expectEmit(true, true, true, true, address(policy));
            emit ITimelockedAppAuth.ChangeActivated(id, kind, value, keeper);
        }
        vm.prank(keeper);
        (bool ok,) = address(policy).call(AppAuthCalls.activate(kind, value));
        assertEq(_isInEffect(policy, kind, value), inWindow, "change in effect iff activated in the window");
        if (inWindow) {
            assertTrue(ok, "activation succeeds in the window");
            assertEq(uint256(policy.getProposal(id).state), uint256(ITimelockedAppAuth.ProposalState.None), "consumed");
        }
    }

    /// @dev A policy that allows `boot`'s compose hash and lists its device only when `shape` says so.
    function _deployShape(IAppAuth.AppBootInfo memory boot, PolicyShape memory shape)
        internal
        returns (TimelockedAppAuth)
    {
        bytes32 allowedHash = shape.listHash ? boot.composeHash : keccak256(abi.encode(boot.composeHash));
        bytes32 listedDevice = shape.listDevice ? boot.deviceId : keccak256(abi.encode(boot.deviceId));
        string memory uri = allowedHash == bytes32(0) ? "" : GENESIS_URI;
        return new TimelockedAppAuth(
            owner, NOTICE, allowedHash, uri, _one(listedDevice), shape.anyDevice, shape.requireTcb
        );
    }

    /// @dev dstack's DstackApp.isAppAllowed, restated: TCB, then compose hash, then device.
    function _dstackVerdict(IAppAuth.AppBootInfo memory boot, PolicyShape memory shape)
        internal
        pure
        returns (bool, string memory)
    {
        if (shape.requireTcb && keccak256(bytes(boot.tcbStatus)) != keccak256("UpToDate")) {
            return (false, "TCB status is not up to date");
        }
        // Zero is never a compose hash, so it is never allowed.
        if (!shape.listHash || boot.composeHash == bytes32(0)) return (false, "Compose hash not allowed");
        if (!shape.anyDevice && !shape.listDevice) return (false, "Device not allowed");
        return (true, "");
    }

    /// @dev A value that a fresh {_deploy}ed policy accepts for a proposal of `kind`.
    function _validValue(ITimelockedAppAuth.ChangeKind kind) internal pure returns (bytes32) {
        if (kind == ITimelockedAppAuth.ChangeKind.AddComposeHash) return NEW_HASH;
        if (kind == ITimelockedAppAuth.ChangeKind.AddDevice) return DEVICE_B;
        if (kind == ITimelockedAppAuth.ChangeKind.ShortenNotice) return bytes32(MIN);
        return bytes32(0);
    }

    function _isInEffect(TimelockedAppAuth policy, ITimelockedAppAuth.ChangeKind kind, bytes32 value)
        internal
        view
        returns (bool)
    {
        if (kind == ITimelockedAppAuth.ChangeKind.AddComposeHash) return policy.allowedComposeHashes(value);
        if (kind == ITimelockedAppAuth.ChangeKind.AddDevice) return policy.allowedDeviceIds(value);
        if (kind == ITimelockedAppAuth.ChangeKind.AllowAnyDevice) return policy.allowAnyDevice();
        if (kind == ITimelockedAppAuth.ChangeKind.AllowOutdatedTcb) return !policy.requireTcbUpToDate();
        return policy.noticePeriod() == uint256(value);
    }

    /// @dev Calls `auth` with `data` (under any active prank), bubbling up a revert so `expectRevert` sees it.
    function _rawCall(bytes memory data) internal {
        Address.functionCall(address(auth), data);
    }

    function _outOfBounds(uint256 notice, bool below) internal pure returns (uint256) {
        return below ? bound(notice, 0, MIN - 1) : bound(notice, MAX + 1, type(uint256).max);
    }

    function _outOfBoundsError(uint256 notice) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ITimelockedAppAuth.NoticePeriodOutOfBounds.selector, notice, MIN, MAX);
    }
}
