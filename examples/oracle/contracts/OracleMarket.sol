// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {DstackSignatureChain} from "../../../contracts/lib/DstackSignatureChain.sol";
import {AppStage1} from "./AppStage1.sol";

/// @title OracleMarket
/// @notice A yes/no prediction market settled by a DevProof TEE oracle: a result counts only if it was signed by a key
/// that dstack's KMS issued to the oracle's app (the chain is checked against the root the KMS contract publishes now)
/// AND the app is Stage 1 at settlement: its AppAuth is the audited TimelockedAppAuth, its notice is at least the
/// market's minimum, and no widening change (new code, device, TCB rule, shorter notice) is open.
/// @dev Threat model: the oracle's developer is the adversary. A derived key belongs to the app, not to one release:
/// new code allowed tomorrow signs with the same key. So the market refuses to settle while a change is open, and
/// while the market is still open every staker may take their stake back ({exit}): the users' exit window is a rule
/// of this contract, not a promise. Once the change is activated, cancelled or expired, settlement resumes; whoever
/// stayed accepted the new code after the notice. After closing, nobody exits alone: the outcome may be known by then,
/// and the developer, who decides when a change is open, could otherwise hand losers (themselves included) a free way
/// out. A market not settled by its deadline can no longer be settled, and every staker takes their stake back.
///
/// A result is bound to this contract and chain (EIP-712 domain), to one market (its id and question) and to a time
/// at or after the market closed and not in the future, and a market settles once: a result cannot be replayed on
/// another market or twice. Trusted: dstack's KMS and the owner of its contract (who can rotate `kmsInfo`), Intel TDX,
/// the HTTPS source the oracle's compose file names, and the chain. Not covered: a change proposed while the notice
/// was short and activated after it was lengthened again (examples/oracle/README.md).
contract OracleMarket is EIP712, ReentrancyGuard {
    /// @notice The EIP-712 type the oracle signs (its type string is longer than 32 bytes by nature).
    bytes32 public constant RESULT_TYPEHASH =
        // solhint-disable-next-line gas-small-strings
        keccak256("Result(uint256 marketId,bytes32 question,bool outcome,uint64 observedAt)");
    /// @notice How long after closing an unsettled market lets stakers take their stakes back.
    uint256 public constant SETTLEMENT_DEADLINE = 30 days;

    struct Market {
        bytes32 question;
        uint64 closesAt;
        bool settled;
        bool outcome;
        uint256 yesStake;
        uint256 noStake;
    }

    /// @notice The oracle's app id: its TimelockedAppAuth.
    address public immutable oracleApp;
    /// @notice dstack's KMS contract, whose `kmsInfo()` publishes the root every chain must end in.
    address public immutable kms;
    /// @notice The shortest notice period of the oracle app this market accepts, in seconds.
    uint256 public immutable minNotice;
    /// @notice keccak256 of the `GetKey` purpose of the oracle's signing key.
    bytes32 public immutable purposeHash;

    uint256 private _marketCount;
    mapping(uint256 marketId => Market market) private _markets;
    mapping(uint256 marketId => mapping(address staker => uint256[2] stakes)) private _stakes;

    /// @notice A market was opened.
    /// @param marketId Its id.
    /// @param question What the oracle answers (the source's key for it).
    /// @param closesAt When staking ends; the result must be observed at or after it.
    event MarketCreated(uint256 indexed marketId, bytes32 indexed question, uint64 closesAt);
    /// @notice Someone staked on an outcome.
    /// @param marketId The market.
    /// @param staker Who.
    /// @param outcome On what.
    /// @param amount How much, in wei.
    event Staked(uint256 indexed marketId, address indexed staker, bool outcome, uint256 amount);
    /// @notice A verified result of the Stage-1 oracle settled a market.
    /// @param marketId The market.
    /// @param outcome The result.
    /// @param observedAt When the oracle observed it.
    /// @param signer The oracle's derived key.
    event MarketSettled(uint256 indexed marketId, bool outcome, uint64 observedAt, address signer);
    /// @notice A staker took their stakes back.
    /// @param marketId The market.
    /// @param staker Who.
    /// @param amount How much, in wei.
    event Exited(uint256 indexed marketId, address indexed staker, uint256 amount);
    /// @notice A staker was paid after settlement.
    /// @param marketId The market.
    /// @param staker Who.
    /// @param amount How much, in wei.
    event Claimed(uint256 indexed marketId, address indexed staker, uint256 amount);

    /// @notice No market has this id.
    error MarketUnknown(uint256 marketId);
    /// @notice The closing time is not in the future.
    error MarketClosesInThePast(uint64 closesAt, uint256 currentTime);
    /// @notice Staking ended at `closesAt`.
    error MarketClosed(uint256 marketId, uint64 closesAt);
    /// @notice A stake of zero.
    error MarketZeroStake();
    /// @notice The market is settled already.
    error MarketAlreadySettled(uint256 marketId);
    /// @notice The market is not settled yet.
    error MarketNotSettled(uint256 marketId);
    /// @notice The result was observed before the market closed, or claims a time in the future.
    error MarketResultOutOfTime(uint256 marketId, uint64 observedAt, uint64 closesAt, uint256 currentTime);
    /// @notice The result was signed by a key derived for another purpose.
    error MarketWrongPurpose(string purpose);
    /// @notice Exit is open only before closing while the oracle app is not Stage 1, or after the settlement deadline.
    error MarketExitClosed(uint256 marketId);
    /// @notice The settlement deadline has passed: the market can no longer settle; stakers exit.
    error MarketExpired(uint256 marketId, uint256 deadline);
    /// @notice Nothing to pay.
    error MarketNothingToPay(uint256 marketId, address staker);
    /// @notice A transfer of ether failed.
    error MarketTransferFailed(address to, uint256 amount);

    /// @param kms_ dstack's KMS contract.
    /// @param oracleApp_ The oracle's app id, a TimelockedAppAuth.
    /// @param appAuthCodehash The code hash of the audited TimelockedAppAuth build ({AppStage1.requireTimelocked}).
    /// @param minNotice_ The shortest notice the oracle app may have, in seconds.
    /// @param purpose The `GetKey` purpose of the oracle's signing key.
    constructor(
        address kms_,
        address oracleApp_,
        bytes32 appAuthCodehash,
        uint256 minNotice_,
        string memory purpose
    ) EIP712("DevProofOracleMarket", "1") {
        AppStage1.requireTimelocked(oracleApp_, appAuthCodehash);
        kms = kms_;
        oracleApp = oracleApp_;
        minNotice = minNotice_;
        purposeHash = keccak256(bytes(purpose));
    }

    /// @notice Open a market on `question`, closing at `closesAt`. Emits {MarketCreated}.
    ///
    /// Requirements:
    ///
    /// - `closesAt` is in the future; the oracle app is Stage 1 now ({AppStage1.requireStage1}).
    function createMarket(bytes32 question, uint64 closesAt) external returns (uint256 marketId) {
        if (closesAt <= block.timestamp) revert MarketClosesInThePast(closesAt, block.timestamp);
        AppStage1.requireStage1(oracleApp, minNotice);
        marketId = ++_marketCount;
        _markets[marketId] = Market({
            question: question,
            closesAt: closesAt,
            settled: false,
            outcome: false,
            yesStake: 0,
            noStake: 0
        });
        emit MarketCreated(marketId, question, closesAt);
    }

    /// @notice Stake the value sent on `outcome`. Emits {Staked}.
    ///
    /// Requirements:
    ///
    /// - the market exists and has not closed; a non-zero value; the oracle app is Stage 1 now (nobody stakes into
    ///   an open change).
    function stake(uint256 marketId, bool outcome) external payable {
        Market storage market = _market(marketId);
        if (block.timestamp >= market.closesAt) revert MarketClosed(marketId, market.closesAt);
        if (msg.value == 0) revert MarketZeroStake();
        AppStage1.requireStage1(oracleApp, minNotice);
        _stakes[marketId][msg.sender][outcome ? 1 : 0] += msg.value;
        if (outcome) market.yesStake += msg.value;
        else market.noStake += msg.value;
        emit Staked(marketId, msg.sender, outcome, msg.value);
    }

    /// @notice Settle a market with the oracle's signed result. Anyone may submit it. Emits {MarketSettled}.
    ///
    /// Requirements:
    ///
    /// - the market exists, is not settled, and its settlement deadline has not passed; `observedAt` is at or after
    ///   its closing time and not in the future;
    /// - the oracle app is Stage 1 now ({AppStage1.requireStage1}): otherwise the market waits, and stakers may exit;
    /// - `chain` was derived for this market's purpose, and `signature` is its derived key's signature of
    ///   {resultDigest}, with the chain up to the root the KMS contract publishes for the oracle app
    ///   ({DstackSignatureChain.verifySignedDigest}).
    function settle(
        uint256 marketId,
        bool outcome,
        uint64 observedAt,
        bytes calldata signature,
        DstackSignatureChain.KeyChain calldata chain
    ) external {
        Market storage market = _market(marketId);
        if (market.settled) revert MarketAlreadySettled(marketId);
        uint256 deadline = uint256(market.closesAt) + SETTLEMENT_DEADLINE;
        if (block.timestamp >= deadline) revert MarketExpired(marketId, deadline);
        if (observedAt < market.closesAt || observedAt > block.timestamp) {
            revert MarketResultOutOfTime(marketId, observedAt, market.closesAt, block.timestamp);
        }
        if (keccak256(bytes(chain.purpose)) != purposeHash) revert MarketWrongPurpose(chain.purpose);
        AppStage1.requireStage1(oracleApp, minNotice);
        address kmsRoot = DstackSignatureChain.kmsRootOf(kms);
        bytes32 digest = resultDigest(marketId, outcome, observedAt);
        address signer = DstackSignatureChain.verifySignedDigest(digest, signature, chain, oracleApp, kmsRoot);
        market.settled = true;
        market.outcome = outcome;
        emit MarketSettled(marketId, outcome, observedAt, signer);
    }

    /// @notice Take back every stake in an unsettled market: before it closes, while the oracle app is not Stage 1
    /// (a change is open, or its notice fell below the minimum); or once the settlement deadline has passed, when
    /// the market can no longer settle. Emits {Exited}.
    function exit(uint256 marketId) external nonReentrant {
        Market storage market = _market(marketId);
        if (market.settled) revert MarketAlreadySettled(marketId);
        bool open = block.timestamp < market.closesAt;
        bool late = block.timestamp >= uint256(market.closesAt) + SETTLEMENT_DEADLINE;
        if (!late && !(open && !AppStage1.isStage1(oracleApp, minNotice))) revert MarketExitClosed(marketId);
        uint256[2] storage stakes = _stakes[marketId][msg.sender];
        (uint256 no, uint256 yes) = (stakes[0], stakes[1]);
        if (no + yes == 0) revert MarketNothingToPay(marketId, msg.sender);
        delete _stakes[marketId][msg.sender];
        market.noStake -= no;
        market.yesStake -= yes;
        emit Exited(marketId, msg.sender, no + yes);
        _pay(msg.sender, no + yes);
    }

    /// @notice After settlement, pay a staker their share: winners split the pot pro rata; if nobody backed the
    /// outcome, everyone gets their stakes back. Emits {Claimed}.
    function claim(uint256 marketId) external nonReentrant {
        Market storage market = _market(marketId);
        if (!market.settled) revert MarketNotSettled(marketId);
        uint256[2] storage stakes = _stakes[marketId][msg.sender];
        uint256 winning = market.outcome ? market.yesStake : market.noStake;
        uint256 pot = market.yesStake + market.noStake;
        uint256 mine = stakes[market.outcome ? 1 : 0];
        uint256 amount = winning == 0 ? stakes[0] + stakes[1] : (mine * pot) / winning;
        if (amount == 0) revert MarketNothingToPay(marketId, msg.sender);
        delete _stakes[marketId][msg.sender];
        emit Claimed(marketId, msg.sender, amount);
        _pay(msg.sender, amount);
    }

    /// @notice The EIP-712 digest the oracle signs for a result of `marketId`.
    function resultDigest(uint256 marketId, bool outcome, uint64 observedAt) public view returns (bytes32) {
        bytes32 question = _markets[marketId].question;
        return _hashTypedDataV4(keccak256(abi.encode(RESULT_TYPEHASH, marketId, question, outcome, observedAt)));
    }

    /// @notice A market.
    function getMarket(uint256 marketId) external view returns (Market memory) {
        return _market(marketId);
    }

    /// @notice What `staker` has on no and on yes.
    function stakesOf(uint256 marketId, address staker) external view returns (uint256 no, uint256 yes) {
        uint256[2] storage stakes = _stakes[marketId][staker];
        return (stakes[0], stakes[1]);
    }

    /// @notice Whether the oracle app is Stage 1 now for this market's minimum notice.
    function oracleIsStage1() external view returns (bool) {
        return AppStage1.isStage1(oracleApp, minNotice);
    }

    function _market(uint256 marketId) private view returns (Market storage market) {
        market = _markets[marketId];
        if (market.closesAt == 0) revert MarketUnknown(marketId);
    }

    function _pay(address to, uint256 amount) private {
        (bool ok, ) = to.call{value: amount}("");
        if (!ok) revert MarketTransferFailed(to, amount);
    }
}
