// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ITimelockedAppAuth} from "../../../contracts/interfaces/ITimelockedAppAuth.sol";

/// @title AppStage1
/// @notice Whether a dstack app is Stage 1 ("DevProof") right now, for a contract that relies on what the app signs:
/// its AppAuth is the audited `TimelockedAppAuth` code, its notice is at least the relying contract's minimum (or
/// upgrades are disabled for good), and no widening change is open that could take effect.
/// @dev Everything is read through `ITimelockedAppAuth`'s public views (`upgradesDisabled`, `noticePeriod`,
/// `getProposals`), in this one library, so that a new version of the AppAuth needs only this file adapted. The
/// code hash pins the AppAuth's code: the contract is not upgradeable, so code that answers these views honestly
/// today answers them honestly for good, and a contract that only claims the views (or dstack's instantly changeable
/// `DstackApp`) has another code hash.
library AppStage1 {
    /// @notice The app's AppAuth is not the audited TimelockedAppAuth code (a Stage-0 app, or no contract).
    /// @param app The app id (its AppAuth's address).
    /// @param codehash The code hash found there.
    /// @param expected The code hash of the audited TimelockedAppAuth.
    error AppStage1NotTimelocked(address app, bytes32 codehash, bytes32 expected);

    /// @notice The app's notice period is shorter than the minimum the relying contract declared.
    /// @param app The app id.
    /// @param notice Its notice period, in seconds.
    /// @param minNotice The declared minimum, in seconds.
    error AppStage1NoticeTooShort(address app, uint256 notice, uint256 minNotice);

    /// @notice A widening change of the app is open: it could take effect once its notice has run.
    /// @param app The app id.
    /// @param proposalId The open proposal.
    /// @param kind What it changes.
    /// @param readyAt When anyone may activate it.
    error AppStage1ChangePending(address app, bytes32 proposalId, ITimelockedAppAuth.ChangeKind kind, uint64 readyAt);

    /// @notice Reverts with the reason when `app` is not the audited TimelockedAppAuth (`expectedCodehash`).
    function requireTimelocked(address app, bytes32 expectedCodehash) internal view {
        if (app.codehash != expectedCodehash) revert AppStage1NotTimelocked(app, app.codehash, expectedCodehash);
    }

    /// @notice Reverts with the reason unless `app`, a TimelockedAppAuth, is Stage 1 now for a notice of at least
    /// `minNotice` with no widening change open.
    ///
    /// Requirements:
    ///
    /// - upgrades are disabled, or: the notice period is at least `minNotice` ({AppStage1NoticeTooShort}), and no
    ///   proposal is waiting or ready ({AppStage1ChangePending}); expired and voided ones can never take effect.
    function requireStage1(address app, uint256 minNotice) internal view {
        ITimelockedAppAuth auth = ITimelockedAppAuth(app);
        if (auth.upgradesDisabled()) return;
        uint256 notice = auth.noticePeriod();
        if (notice < minNotice) revert AppStage1NoticeTooShort(app, notice, minNotice);
        (bool pending, ITimelockedAppAuth.ProposalView memory open) = _openChange(auth);
        if (pending) revert AppStage1ChangePending(app, open.id, open.kind, open.readyAt);
    }

    /// @notice Whether {requireStage1} would pass.
    function isStage1(address app, uint256 minNotice) internal view returns (bool) {
        ITimelockedAppAuth auth = ITimelockedAppAuth(app);
        if (auth.upgradesDisabled()) return true;
        if (auth.noticePeriod() < minNotice) return false;
        (bool pending, ) = _openChange(auth);
        return !pending;
    }

    /// @dev The first proposal that is waiting or ready, if any.
    function _openChange(
        ITimelockedAppAuth auth
    ) private view returns (bool found, ITimelockedAppAuth.ProposalView memory proposal) {
        ITimelockedAppAuth.ProposalView[] memory open = auth.getProposals();
        for (uint256 i = 0; i < open.length; ++i) {
            ITimelockedAppAuth.ProposalState state = open[i].state;
            if (state == ITimelockedAppAuth.ProposalState.Waiting || state == ITimelockedAppAuth.ProposalState.Ready) {
                return (true, open[i]);
            }
        }
    }
}
