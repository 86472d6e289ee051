// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ReplicationRegistry} from "../../contracts/ReplicationRegistry.sol";
import {TimelockedAppAuth} from "../../contracts/TimelockedAppAuth.sol";
import {IAppAuth} from "../../contracts/interfaces/IAppAuth.sol";
import {IReplicationRegistry} from "../../contracts/interfaces/IReplicationRegistry.sol";

import {RegistrySetup} from "./utils/RegistrySetup.sol";
import {Test} from "./utils/Test.sol";

/// @notice Drives a registry and its policy at random: registrations with genuine and forged key chains, onboardings
/// signed by members and non-members, for the right domain and for foreign ones, attestation refreshes with up-to-date
/// and outdated TCBs, time passing, evictions by anyone, and the policy narrowing and widening. It keeps its own model
/// of who is a member and when each node last attested, updated only by calls that succeeded.
contract RegistryHandler is RegistrySetup {
    uint256 public constant KEY_COUNT = 8;
    address private constant STRANGER = address(0xBEEF);

    TimelockedAppAuth public immutable appAuth;
    ReplicationRegistry public immutable registry;
    ReplicationRegistry public immutable otherRegistry;
    uint64 public immutable period;

    mapping(address node => IAppAuth.AppBootInfo bootInfo) private _bootInfos;
    mapping(address node => bytes signature) private _lastRefreshSignature;
    mapping(address node => bytes quote) private _lastRefreshQuote;
    mapping(address node => string tcbStatus) private _lastRefreshTcb;

    // The model.
    mapping(address node => bool) public modelMember;
    mapping(address node => bool) public modelEvicted;
    mapping(address node => bool) public joinedThroughMember;
    mapping(address node => bool) public allowedWhenJoined;
    mapping(address node => bool) public kmsIssued;
    mapping(address node => uint256) public modelAttestedAt;
    uint256 public modelMemberCount;
    address public modelGenesis;

    // Things that must never happen.
    uint256 public foreignSignatureSuccesses;
    uint256 public forgedChainSuccesses;
    uint256 public unauthorizedEvictions;
    uint256 public staleAdmissions;
    uint256 public genesisResets;

    // Coverage of the campaign, to see it did something.
    uint256 public registrations;
    uint256 public onboardings;
    uint256 public refreshes;
    uint256 public evictions;

    constructor() {
        appAuth = _deployAppAuth(address(this));
        registry = _deployRegistry(appAuth);
        otherRegistry = _deployRegistry(appAuth);
        period = registry.ATTESTATION_PERIOD();
    }

    function nodeAt(uint256 index) public pure returns (address) {
        return _nodeAt(index);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Actions
    // ---------------------------------------------------------------------------------------------------------

    /// @param composeSeed Picks compose A or B.
    /// @param deviceSeed Picks device 1 or 2.
    /// @param fault 0: a compose hash never allowed; 1: a device never allowed; 2: an outdated TCB; 3: signed for
    /// another chain; 4: signed for another registry; 5: signed by another node's key; 6: its key chain ends in a
    /// rogue KMS root; 7: the chain is for another app; 8: the chain is another node's; 9: the chain is for another
    /// purpose; otherwise none.
    function register(uint256 nodeSeed, bool composeSeed, bool deviceSeed, uint8 fault) external {
        fault = fault % 16;
        uint256 index = nodeSeed % KEY_COUNT;
        uint256 key = _tableKey(index);
        address node = _nodeAt(index);
        IAppAuth.AppBootInfo memory info = _bootInfo(
            address(appAuth),
            fault == 0 ? COMPOSE_X : (composeSeed ? COMPOSE_B : COMPOSE_A),
            fault == 1 ? DEVICE_X : (deviceSeed ? DEVICE_2 : DEVICE_1),
            fault != 2
        );
        IReplicationRegistry.Attestation memory attestation = _attestation(node);
        bytes memory encryptionKey = _encryptionKey(node);

        bytes32 digest;
        if (fault == 4) {
            digest = otherRegistry.registrationDigest(node, encryptionKey, info, attestation);
        } else {
            uint256 here = block.chainid;
            if (fault == 3) vm.chainId(here + 1);
            digest = registry.registrationDigest(node, encryptionKey, info, attestation);
            vm.chainId(here);
        }
        if (fault == 5) key = _tableKey((index + 1) % KEY_COUNT);
        IReplicationRegistry.KeyChain memory chain = _keyChain(
            fault == 7 ? address(otherRegistry) : address(appAuth),
            fault == 8 ? (index + 1) % KEY_COUNT : index,
            fault == 6 ? ROGUE_KMS_ROOT : KMS_ROOT,
            fault == 9 ? "ethereum" : PURPOSE
        );

        try registry.register(node, encryptionKey, info, attestation, chain, signature(key, digest)) {
            if (fault >= 3 && fault <= 5) ++foreignSignatureSuccesses;
            if (fault >= 6 && fault <= 9) ++forgedChainSuccesses;
            else kmsIssued[node] = true;
            _bootInfos[node] = info;
            modelAttestedAt[node] = block.timestamp;
            ++registrations;
        } catch {}
    }

    /// @param upToDate Whether the refreshed TCB status is "UpToDate".
    /// @param fault 0: signed by another node's key; 1: the node's last successful refresh, replayed; otherwise none.
    function refresh(uint256 nodeSeed, bool upToDate, uint8 fault) external {
        fault = fault % 8;
        uint256 index = nodeSeed % KEY_COUNT;
        address node = _nodeAt(index);
        IReplicationRegistry.Attestation memory attestation = IReplicationRegistry.Attestation({
            quote: abi.encodePacked("refreshed quote of ", node, block.timestamp, refreshes),
            eventLog: ""
        });
        string memory tcbStatus = upToDate ? "UpToDate" : "OutOfDate";
        string[] memory advisoryIds = new string[](0);
        bytes memory sig;
        if (fault == 1) {
            sig = _lastRefreshSignature[node];
            if (sig.length == 0) return;
            attestation.quote = _lastRefreshQuote[node];
            tcbStatus = _lastRefreshTcb[node];
        } else {
            uint256 key = fault == 0 ? _tableKey((index + 1) % KEY_COUNT) : _tableKey(index);
            sig = signature(key, registry.refreshDigest(node, attestation, tcbStatus, advisoryIds));
        }
        try registry.refreshAttestation(node, attestation, tcbStatus, advisoryIds, sig) {
            if (fault <= 1) ++foreignSignatureSuccesses;
            _bootInfos[node].tcbStatus = tcbStatus;
            delete _bootInfos[node].advisoryIds;
            modelAttestedAt[node] = block.timestamp;
            _lastRefreshSignature[node] = sig;
            _lastRefreshQuote[node] = attestation.quote;
            _lastRefreshTcb[node] = tcbStatus;
            ++refreshes;
        } catch {}
    }

    /// @notice Time passes: up to 20 days, so attestations expire now and then.
    function elapse(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 0, 20 days));
    }

    function setGenesis(uint256 nodeSeed) external {
        address node = _nodeAt(nodeSeed % KEY_COUNT);
        bool allowed = _allowed(node);
        bool fresh = _fresh(node);
        try registry.setGenesis(node) {
            if (modelGenesis != address(0)) ++genesisResets;
            if (!fresh) ++staleAdmissions;
            modelGenesis = node;
            _join(node, allowed, true);
        } catch {}
    }

    /// @param nodeSeed Mostly a node waiting to be onboarded (if any); one time in four any of the keys.
    /// @param signerSeed Mostly a current member signs; one time in four any of the keys signs.
    /// @param fault 0: signed for another chain; 1: for another registry; 2: for another node; otherwise none.
    function onboard(uint256 nodeSeed, uint256 signerSeed, uint8 fault) external {
        fault = fault % 16;
        uint256 index = nodeSeed % KEY_COUNT;
        if (nodeSeed % 4 != 0) index = _firstWith(IReplicationRegistry.NodeStatus.Registered, index);
        address node = _nodeAt(index);
        uint256 signerIndex = signerSeed % KEY_COUNT;
        if (signerSeed % 4 != 0) signerIndex = _firstWith(IReplicationRegistry.NodeStatus.Member, signerSeed);
        address signer = _nodeAt(signerIndex);
        bytes memory ciphertext = abi.encode("secret for", node, "from", signer);
        bytes32 quoteHash = registry.getNode(node).quoteHash;

        bytes32 digest;
        if (fault == 1) {
            digest = otherRegistry.onboardingDigest(node, quoteHash, ciphertext);
        } else {
            uint256 here = block.chainid;
            if (fault == 0) vm.chainId(here + 1);
            address named = fault == 2 ? _nodeAt((index + 1) % KEY_COUNT) : node;
            digest = registry.onboardingDigest(named, quoteHash, ciphertext);
            vm.chainId(here);
        }

        bool signerIsMember = modelMember[signer] && signer != node;
        bool allowed = _allowed(node) && _allowed(signer);
        bool fresh = _fresh(node) && _fresh(signer);
        try registry.onboard(node, ciphertext, signature(_tableKey(signerIndex), digest)) {
            if (fault <= 2) ++foreignSignatureSuccesses;
            if (!fresh) ++staleAdmissions;
            _join(node, allowed, signerIsMember);
        } catch {}
    }

    /// @param nodeSeed Mostly a member (if any); one time in four any of the keys.
    /// @param who 0: the node itself; 1: the policy's owner; 2: a stranger; 3: another node.
    function evict(uint256 nodeSeed, uint8 who) external {
        uint256 index = nodeSeed % KEY_COUNT;
        if (nodeSeed % 4 != 0) index = _firstWith(IReplicationRegistry.NodeStatus.Member, index);
        address node = _nodeAt(index);
        // Keep the last member: a registry without members is dead for good, and the campaign with it.
        if (registry.memberCount() == 1 && registry.isMember(node)) return;
        bool allowed = _allowed(node);
        bool fresh = _fresh(node);
        who = who % 4;
        if (who == 0) vm.prank(node);
        if (who == 2) vm.prank(STRANGER);
        if (who == 3) vm.prank(_nodeAt((index + 1) % KEY_COUNT));
        try registry.evict(node) {
            if ((who == 2 || who == 3) && allowed && fresh) ++unauthorizedEvictions;
            modelMember[node] = false;
            modelEvicted[node] = true;
            --modelMemberCount;
            ++evictions;
        } catch {}
    }

    /// @notice Narrow or widen the policy. Narrowing is instant; widening is proposed, waits the notice and is
    /// activated.
    /// @param what 0/1: remove compose A/B; 2/3: remove device 1/2; 4: require an up-to-date TCB;
    /// 5/6: add compose A/B; 7/8: add device 1/2; 9: allow an outdated TCB; otherwise (half the calls) no change,
    /// so that the membership has time to grow between policy changes.
    function changePolicy(uint8 what) external {
        what = what % 20;
        if (what >= 10) return;
        if (what < 2) {
            try appAuth.removeComposeHash(what == 0 ? COMPOSE_A : COMPOSE_B) {} catch {}
        } else if (what < 4) {
            try appAuth.removeDevice(what == 2 ? DEVICE_1 : DEVICE_2) {} catch {}
        } else if (what == 4) {
            try appAuth.requireUpToDateTcb() {} catch {}
        } else if (what < 7) {
            addComposeHash(what == 5 ? COMPOSE_A : COMPOSE_B);
        } else if (what < 9) {
            bytes32 deviceId = what == 7 ? DEVICE_1 : DEVICE_2;
            try appAuth.proposeDevice(deviceId) {
                vm.warp(block.timestamp + NOTICE);
                appAuth.activateDevice(deviceId);
            } catch {}
        } else {
            try appAuth.proposeAllowOutdatedTcb() {
                vm.warp(block.timestamp + NOTICE);
                appAuth.activateAllowOutdatedTcb();
            } catch {}
        }
    }

    function addComposeHash(bytes32 composeHash) public {
        try appAuth.proposeComposeHash(composeHash, "https://example.org/compose.json") {
            vm.warp(block.timestamp + NOTICE);
            appAuth.activateComposeHash(composeHash);
        } catch {}
    }

    // ---------------------------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------------------------

    function _join(address node, bool allowed, bool throughMember) private {
        modelMember[node] = true;
        ++modelMemberCount;
        allowedWhenJoined[node] = allowed;
        joinedThroughMember[node] = throughMember;
        ++onboardings;
    }

    /// @dev The first key index from `seed` on (cyclically) whose node has `status`, or `seed`'s own index.
    function _firstWith(IReplicationRegistry.NodeStatus status, uint256 seed) private view returns (uint256) {
        for (uint256 i = 0; i < KEY_COUNT; ++i) {
            uint256 index = (seed % KEY_COUNT + i) % KEY_COUNT;
            if (registry.nodeStatus(_nodeAt(index)) == status) return index;
        }
        return seed % KEY_COUNT;
    }

    /// @dev Whether the policy allows the boot info this handler registered (and refreshed) for `node`.
    function _allowed(address node) private view returns (bool allowed) {
        if (registry.nodeStatus(node) == IReplicationRegistry.NodeStatus.None) return false;
        (allowed,) = appAuth.isAppAllowed(_bootInfos[node]);
    }

    /// @dev Whether `node`'s last attestation, in the model, is younger than the period.
    function _fresh(address node) private view returns (bool) {
        return modelAttestedAt[node] != 0 && block.timestamp < modelAttestedAt[node] + period;
    }
}

/// @notice Invariants of the registry under any sequence of calls the handler makes.
contract ReplicationRegistryInvariantTest is Test {
    RegistryHandler private handler;
    ReplicationRegistry private registry;

    function setUp() public {
        handler = new RegistryHandler();
        registry = handler.registry();
        handler.addComposeHash(keccak256("compose B")); // allowed after its notice
        handler.register(0, false, false, 15); // node 0 registers (compose A, device 1, up to date)
        handler.setGenesis(0);
        targetContract(address(handler));
    }

    /// hardhat-config: invariant.depth = 100
    /// @dev The registry's membership is exactly the model's: it changed only through calls that succeeded.
    function invariant_membershipMatchesTheModel() public view {
        assertEq(registry.memberCount(), handler.modelMemberCount(), "member count");
        for (uint256 i = 0; i < handler.KEY_COUNT(); ++i) {
            address node = handler.nodeAt(i);
            bool member = registry.isMember(node);
            assertTrue(member == handler.modelMember(node), "membership differs from the model");
            assertTrue(member == (registry.nodeStatus(node) == IReplicationRegistry.NodeStatus.Member), "status");
            if (handler.modelEvicted(node)) assertTrue(!member, "an evicted node came back");
        }
    }

    /// hardhat-config: invariant.depth = 100
    /// @dev No node is registered, a member or evicted without a key dstack's KMS issued to this app: every
    /// registration carried a chain to the bound KMS root, for this app, for the node's own key and the protocol's
    /// purpose. The genesis member is no exception.
    function invariant_noNodeWithoutAKmsIssuedKeyForThisApp() public view {
        assertEq(handler.forgedChainSuccesses(), 0, "a forged key chain was accepted");
        for (uint256 i = 0; i < handler.KEY_COUNT(); ++i) {
            address node = handler.nodeAt(i);
            if (registry.nodeStatus(node) != IReplicationRegistry.NodeStatus.None) {
                assertTrue(handler.kmsIssued(node), "a node without a KMS-issued key");
            }
        }
        if (registry.genesis() != address(0)) assertTrue(handler.kmsIssued(registry.genesis()), "genesis");
    }

    /// hardhat-config: invariant.depth = 100
    /// @dev Nobody joined, and no member onboarded anyone, on an attestation older than the period; the registry's
    /// record of each node's last attestation is the model's.
    function invariant_noAdmissionOnAnExpiredAttestation() public view {
        assertEq(handler.staleAdmissions(), 0, "admitted on an expired attestation");
        for (uint256 i = 0; i < handler.KEY_COUNT(); ++i) {
            address node = handler.nodeAt(i);
            if (registry.nodeStatus(node) == IReplicationRegistry.NodeStatus.None) continue;
            assertEq(registry.getNode(node).attestedAt, handler.modelAttestedAt(node), "attestedAt");
            assertEq(
                registry.attestationExpiresAt(node),
                handler.modelAttestedAt(node) + handler.period(),
                "attestation expiry"
            );
        }
    }

    /// hardhat-config: invariant.depth = 100
    /// @dev Members only ever grow through an onboarding signed by a then-member, or through the one genesis.
    function invariant_membersJoinOnlyThroughAMemberOrTheGenesis() public view {
        assertEq(handler.genesisResets(), 0, "genesis set twice");
        assertEq(registry.genesis(), handler.modelGenesis(), "genesis");
        address[] memory members = registry.getMembers(0, type(uint256).max);
        for (uint256 i = 0; i < members.length; ++i) {
            address member = members[i];
            assertTrue(handler.joinedThroughMember(member), "a member joined without a member's signature");
            address sponsor = registry.getNode(member).sponsor;
            if (member == registry.genesis()) {
                assertEq(sponsor, address(0), "genesis has no sponsor");
            } else {
                assertTrue(sponsor != address(0) && sponsor != member, "sponsor recorded");
            }
        }
    }

    /// hardhat-config: invariant.depth = 100
    /// @dev No member has boot info the policy denied at its onboarding (nor a sponsor the policy denied then).
    function invariant_noMemberWasDeniedWhenItJoined() public view {
        address[] memory members = registry.getMembers(0, type(uint256).max);
        for (uint256 i = 0; i < members.length; ++i) {
            assertTrue(handler.allowedWhenJoined(members[i]), "a member joined while the policy denied it");
        }
    }

    /// hardhat-config: invariant.depth = 100
    /// @dev Signatures made for another chain, another registry, another node or a spent nonce never work.
    function invariant_foreignSignaturesNeverWork() public view {
        assertEq(handler.foreignSignatureSuccesses(), 0, "a foreign signature was accepted");
    }

    /// hardhat-config: invariant.depth = 100
    /// @dev Only the member itself, the policy's owner, or anyone once the policy denies it or its attestation
    /// expired can remove a member.
    function invariant_strangersOnlyRemoveDeniedOrExpiredMembers() public view {
        assertEq(handler.unauthorizedEvictions(), 0, "a stranger removed an allowed, attested member");
    }
}
