// SPDX-License-Identifier: MIT
// Test-suite conventions: Foundry test names, descriptive messages.
// solhint-disable func-name-mixedcase, gas-small-strings

pragma solidity ^0.8.24;

import {ReplicationRegistry} from "../../contracts/ReplicationRegistry.sol";
import {TimelockedAppAuth} from "../../contracts/TimelockedAppAuth.sol";
import {IAppAuth} from "../../contracts/interfaces/IAppAuth.sol";
import {IDstackKmsInfo} from "../../contracts/interfaces/IDstackKmsInfo.sol";
import {IReplicationRegistry} from "../../contracts/interfaces/IReplicationRegistry.sol";
import {DstackSignatureChain} from "../../contracts/lib/DstackSignatureChain.sol";
import {KmsStandIn} from "../../contracts/reference/KmsStandIn.sol";

import {RegistrySetup} from "./utils/RegistrySetup.sol";
import {Test} from "./utils/Test.sol";

/// @notice The registry's evidence rules, one case each: bound to one KMS root for life, only KMS-issued keys
/// register, the genesis member is held to that too, and attestations count for {ATTESTATION_PERIOD}.
contract ReplicationRegistryTest is Test, RegistrySetup {
    TimelockedAppAuth private appAuth;
    KmsStandIn private kms;
    ReplicationRegistry private registry;

    function setUp() public {
        appAuth = _deployAppAuth(address(this));
        kms = _deployKms(KMS_ROOT);
        registry = new ReplicationRegistry(appAuth, IDstackKmsInfo(address(kms)));
    }

    function _allowedInfo() private view returns (IAppAuth.AppBootInfo memory) {
        return _bootInfo(address(appAuth), COMPOSE_A, DEVICE_1, true);
    }

    // Key table -----------------------------------------------------------------------------------------------------

    function test_keyTable_holdsThePublicKeysOfThePrivateKeys() public view {
        for (uint256 i = 0; i < TABLE_KEYS; ++i) {
            assertEq(
                DstackSignatureChain.publicKeyAddress(_tablePublicKey(i)),
                vm.addr(_tableKey(i)),
                string.concat("table key ", vm.toString(i))
            );
        }
    }

    // constructor ---------------------------------------------------------------------------------------------------

    function test_constructor_bindsTheKmsAndTheRootItPublishes() public view {
        assertEq(address(registry.kms()), address(kms), "kms");
        assertEq(registry.kmsRoot(), vm.addr(_tableKey(KMS_ROOT)), "root");
        assertEq(registry.ATTESTATION_PERIOD(), 30 days, "period");
        assertEq(registry.NODE_KEY_PURPOSE(), PURPOSE, "purpose");
    }

    function test_constructor_revertsForAKmsWithoutCode() public {
        address nothing = makeAddr("no KMS here");
        vm.expectRevert(abi.encodeWithSelector(IReplicationRegistry.RegistryKmsInvalid.selector, nothing));
        new ReplicationRegistry(appAuth, IDstackKmsInfo(nothing));
    }

    function test_constructor_revertsForAContractWithoutKmsInfo() public {
        vm.expectRevert(abi.encodeWithSelector(IReplicationRegistry.RegistryKmsInvalid.selector, address(appAuth)));
        new ReplicationRegistry(appAuth, IDstackKmsInfo(address(appAuth)));
    }

    function test_constructor_revertsForAKmsThatPublishesNoRoot() public {
        KmsStandIn unset = new KmsStandIn(address(this));
        vm.expectRevert(abi.encodeWithSelector(IReplicationRegistry.RegistryKmsInvalid.selector, address(unset)));
        new ReplicationRegistry(appAuth, IDstackKmsInfo(address(unset)));
    }

    function test_constructor_revertsForARootThatIsNotAKey() public {
        KmsStandIn bad = new KmsStandIn(address(this));
        bytes memory notAKey = abi.encodePacked(bytes1(0x05), keccak256("x"));
        bad.setKmsInfo(KmsStandIn.KmsInfo({k256Pubkey: notAKey, caPubkey: "", quote: "", eventlog: ""}));
        vm.expectRevert(
            abi.encodeWithSelector(DstackSignatureChain.DstackSignatureChainInvalidPublicKey.selector, notAKey)
        );
        new ReplicationRegistry(appAuth, IDstackKmsInfo(address(bad)));
    }

    /// @dev The KMS's owner publishes another root after deployment: the registry keeps the one it was bound to, so a
    /// chain to the new root cannot register.
    function test_kmsRoot_isNotFollowedWhenTheKmsPublishesAnother() public {
        kms.setKmsInfo(
            KmsStandIn.KmsInfo({k256Pubkey: _tablePublicKey(ROGUE_KMS_ROOT), caPubkey: "", quote: "", eventlog: ""})
        );
        assertEq(registry.kmsRoot(), vm.addr(_tableKey(KMS_ROOT)), "the bound root");

        address node = _nodeAt(1);
        IAppAuth.AppBootInfo memory info = _allowedInfo();
        IReplicationRegistry.Attestation memory attestation = _attestation(node);
        bytes memory key = _encryptionKey(node);
        bytes memory sig = signature(_tableKey(1), registry.registrationDigest(node, key, info, attestation));
        IReplicationRegistry.KeyChain memory chain = _keyChain(address(appAuth), 1, ROGUE_KMS_ROOT, PURPOSE);
        vm.expectRevert(
            abi.encodeWithSelector(
                DstackSignatureChain.DstackSignatureChainKmsRootMismatch.selector,
                vm.addr(_tableKey(ROGUE_KMS_ROOT)),
                vm.addr(_tableKey(KMS_ROOT))
            )
        );
        registry.register(node, key, info, attestation, chain, sig);
    }

    // genesis -------------------------------------------------------------------------------------------------------

    /// @dev The owner cannot make an address the genesis member unless it registered, and registering takes a key
    /// chain to the KMS root: an EOA of the owner's, or a node whose chain leads elsewhere, is out of reach.
    function test_setGenesis_cannotPickANodeWithoutAKmsIssuedKey() public {
        address ownersKey = makeAddr("the owner's own key");
        vm.expectRevert(
            abi.encodeWithSelector(
                IReplicationRegistry.RegistryNodeNotRegistered.selector, ownersKey, IReplicationRegistry.NodeStatus.None
            )
        );
        registry.setGenesis(ownersKey);

        address node = _nodeAt(2);
        IAppAuth.AppBootInfo memory info = _allowedInfo();
        IReplicationRegistry.Attestation memory attestation = _attestation(node);
        bytes memory key = _encryptionKey(node);
        bytes memory sig = signature(_tableKey(2), registry.registrationDigest(node, key, info, attestation));
        IReplicationRegistry.KeyChain memory rogue = _keyChain(address(appAuth), 2, ROGUE_KMS_ROOT, PURPOSE);
        vm.expectRevert(
            abi.encodeWithSelector(
                DstackSignatureChain.DstackSignatureChainKmsRootMismatch.selector,
                vm.addr(_tableKey(ROGUE_KMS_ROOT)),
                registry.kmsRoot()
            )
        );
        registry.register(node, key, info, attestation, rogue, sig);
        vm.expectRevert(
            abi.encodeWithSelector(
                IReplicationRegistry.RegistryNodeNotRegistered.selector, node, IReplicationRegistry.NodeStatus.None
            )
        );
        registry.setGenesis(node);
    }

    function test_setGenesis_revertsOnceTheNodesAttestationExpired() public {
        address node = _register(registry, 3, _allowedInfo());
        uint64 attestedAt = uint64(block.timestamp);
        vm.warp(block.timestamp + 30 days);
        vm.expectRevert(
            abi.encodeWithSelector(
                IReplicationRegistry.RegistryAttestationExpired.selector, node, attestedAt, attestedAt + 30 days
            )
        );
        registry.setGenesis(node);
        _refresh(registry, 3, true, "fresh");
        registry.setGenesis(node);
        assertEq(registry.genesis(), node, "genesis after a refresh");
    }

    // refresh -------------------------------------------------------------------------------------------------------

    function test_refresh_recordsAnOutdatedTcbAndLetsAnyoneEvictTheMember() public {
        address genesis = _register(registry, 0, _allowedInfo());
        registry.setGenesis(genesis);
        address other = _register(registry, 1, _allowedInfo());
        registry.onboard(other, "secret", _onboardingSignature(registry, 0, other, "secret"));

        vm.warp(block.timestamp + 1 days);
        _refresh(registry, 1, false, "outdated");
        IReplicationRegistry.NodeRecord memory record = registry.getNode(other);
        assertEq(record.bootInfo.tcbStatus, "OutOfDate", "stored");
        assertEq(record.attestedAt, block.timestamp, "attested now");
        assertEq(record.refreshes, 1, "one refresh");
        (bool allowed, string memory reason) = registry.isNodeAllowed(other);
        assertFalse(allowed, "the policy denies it");
        assertEq(reason, "TCB status is not up to date", "with its reason");

        vm.prank(makeAddr("stranger"));
        registry.evict(other);
        assertFalse(registry.isMember(other), "evicted by a stranger");
    }

    function test_refresh_revertsForANodeThatNeverRegistered() public {
        address nobody = _nodeAt(4);
        IReplicationRegistry.Attestation memory attestation = _attestation(nobody);
        string[] memory none = new string[](0);
        vm.expectRevert(
            abi.encodeWithSelector(
                IReplicationRegistry.RegistryNodeCannotRefresh.selector, nobody, IReplicationRegistry.NodeStatus.None
            )
        );
        registry.refreshAttestation(nobody, attestation, "UpToDate", none, "");
    }

    function test_refresh_revertsWithoutAQuote() public {
        address node = _register(registry, 5, _allowedInfo());
        IReplicationRegistry.Attestation memory empty = IReplicationRegistry.Attestation({quote: "", eventLog: ""});
        string[] memory none = new string[](0);
        vm.expectRevert(abi.encodeWithSelector(IReplicationRegistry.RegistryQuoteEmpty.selector, node));
        registry.refreshAttestation(node, empty, "UpToDate", none, "");
    }

    // attestation period --------------------------------------------------------------------------------------------

    function test_onboard_revertsWhenTheNodesRegistrationIsOlderThanThePeriod() public {
        address genesis = _register(registry, 0, _allowedInfo());
        registry.setGenesis(genesis);
        address node = _register(registry, 6, _allowedInfo());
        uint64 attestedAt = uint64(block.timestamp);
        vm.warp(block.timestamp + 30 days);
        _refresh(registry, 0, true, "genesis stays fresh");
        bytes memory sig = _onboardingSignature(registry, 0, node, "secret");
        vm.expectRevert(
            abi.encodeWithSelector(
                IReplicationRegistry.RegistryAttestationExpired.selector, node, attestedAt, attestedAt + 30 days
            )
        );
        registry.onboard(node, "secret", sig);
    }

    function test_evict_recordsAttestationExpiredForAMemberThatStoppedRefreshing() public {
        address genesis = _register(registry, 0, _allowedInfo());
        registry.setGenesis(genesis);
        address node = _register(registry, 7, _allowedInfo());
        registry.onboard(node, "secret", _onboardingSignature(registry, 0, node, "secret"));
        vm.warp(block.timestamp + 30 days - 1);
        vm.prank(makeAddr("stranger"));
        vm.expectRevert(
            abi.encodeWithSelector(
                IReplicationRegistry.RegistryEvictionUnauthorized.selector, node, makeAddr("stranger")
            )
        );
        registry.evict(node);

        vm.warp(block.timestamp + 1);
        vm.expectEmit(true, true, true, true, address(registry));
        emit IReplicationRegistry.MemberEvicted(
            node, makeAddr("stranger"), IReplicationRegistry.EvictionCause.AttestationExpired, ""
        );
        vm.prank(makeAddr("stranger"));
        registry.evict(node);
    }
}
