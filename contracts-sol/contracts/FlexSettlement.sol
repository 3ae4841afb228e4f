// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @title FlexChain settlement escrow
/// @author FlexChain
/// @notice Holds a DSO's payment for one flexibility award in escrow and releases it by fixed rules:
///         at settlement the market operator (SETTLER_ROLE) pays the CPO in proportion to verified
///         delivery and returns the rest to the DSO; if the award is never settled, anyone can return
///         the whole amount to the DSO once its refund deadline has passed.
/// @dev Trust model:
///      - Escrowed funds can only ever leave to the award's own DSO or CPO. There is no admin withdrawal,
///        sweep or upgrade path; pausing blocks new locks and settlements but never refunds.
///      - An award id can be used exactly once, ever (no reuse after settlement or refund), so a retried
///        off-chain side effect can never lock or pay twice.
///      - `awardHash` and `settlementHash` are the Keccak-256 hashes of the canonical off-chain records,
///        stored so that anyone can check that the record and the payment agree.
///      - The token must be a plain ERC-20 (no fee on transfer, no rebasing); the amount locked is the
///        amount credited to this contract.
///      - The settler can lock funds only from a DSO that has approved this contract; a DSO controls its
///        exposure through the allowance it grants.
///      Batch operations per gate cycle can be added beside the single-award functions by calling the
///      internal `_lock`, `_settle` and `_refund` helpers in a loop under one `nonReentrant` guard.
contract FlexSettlement is AccessControl, Pausable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Role allowed to lock and settle awards (the market operator's signer).
    bytes32 public constant SETTLER_ROLE = keccak256("SETTLER_ROLE");

    /// @notice Role allowed to pause and unpause locking and settlement.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    /// @notice Life-cycle of an award in escrow.
    /// @dev None = the id was never used; Locked = funds held; Settled and Refunded are final.
    enum AwardStatus {
        None,
        Locked,
        Settled,
        Refunded
    }

    /// @notice The on-chain record of one award.
    /// @dev Field order is part of the public ABI (returned by `getAward`); do not reorder or repack.
    /// @param dso The distribution system operator that pays (and receives any refund).
    /// @param cpo The charge point operator that is paid for delivered flexibility.
    /// @param amount The amount locked in escrow, in token base units.
    /// @param refundAfter Unix time (seconds) from which anyone can refund an unsettled award to the DSO.
    /// @param status The award's current status.
    /// @param awardHash Keccak-256 hash of the canonical off-chain award record.
    /// @param settlementHash Keccak-256 hash of the canonical off-chain settlement record (zero until settled).
    /// @param paid The amount paid to the CPO at settlement (zero until settled, and zero if refunded).
    struct Award { // solhint-disable-line gas-struct-packing
        address dso;
        address cpo;
        uint256 amount;
        uint64 refundAfter;
        AwardStatus status;
        bytes32 awardHash;
        bytes32 settlementHash;
        uint256 paid;
    }

    /// @dev The settlement token; fixed at deployment.
    IERC20 private immutable _TOKEN;

    /// @dev Award records by award id.
    mapping(bytes32 awardId => Award award) private _awards;

    /// @notice Emitted when funds for an award are locked in escrow.
    /// @param awardId The award's unique id.
    /// @param dso The DSO the funds were pulled from.
    /// @param cpo The CPO that can be paid at settlement.
    /// @param amount The amount locked, in token base units.
    /// @param refundAfter Unix time from which the award can be refunded if unsettled.
    /// @param awardHash Keccak-256 hash of the off-chain award record.
    event AwardLocked(
        bytes32 indexed awardId,
        address indexed dso,
        address indexed cpo,
        uint256 amount,
        uint64 refundAfter,
        bytes32 awardHash
    );

    /// @notice Emitted when an award is settled.
    /// @param awardId The award's unique id.
    /// @param cpo The CPO that received `paid`.
    /// @param dso The DSO that received `refunded`.
    /// @param paid The amount paid to the CPO.
    /// @param refunded The amount returned to the DSO (locked amount minus `paid`).
    /// @param settlementHash Keccak-256 hash of the off-chain settlement record.
    event AwardSettled(
        bytes32 indexed awardId,
        address indexed cpo,
        address indexed dso,
        uint256 paid,
        uint256 refunded,
        bytes32 settlementHash
    );

    /// @notice Emitted when an expired, unsettled award is refunded in full to its DSO.
    /// @param awardId The award's unique id.
    /// @param dso The DSO that received the refund.
    /// @param amount The amount refunded.
    /// @dev `amount` is deliberately not indexed: the event layout is fixed by the client ABI.
    event AwardRefunded(bytes32 indexed awardId, address indexed dso, uint256 amount); // solhint-disable-line gas-indexed-events

    /// @notice A required address argument was the zero address.
    error ZeroAddress();

    /// @notice The amount to lock was zero.
    error ZeroAmount();

    /// @notice The award id has already been used (whatever its current status).
    /// @param awardId The rejected award id.
    error AwardExists(bytes32 awardId);

    /// @notice The award is not in the Locked status.
    /// @param awardId The award id.
    /// @param status The award's current status (None if it was never locked).
    error AwardNotLocked(bytes32 awardId, AwardStatus status);

    /// @notice The payout to the CPO is larger than the amount locked.
    /// @param awardId The award id.
    /// @param payout The requested payout.
    /// @param amount The amount locked for the award.
    error PayoutExceedsAmount(bytes32 awardId, uint256 payout, uint256 amount);

    /// @notice The award's refund deadline has not been reached yet.
    /// @param awardId The award id.
    /// @param refundAfter Unix time from which the refund is allowed.
    error RefundNotDue(bytes32 awardId, uint64 refundAfter);

    /// @notice Deploys the escrow for one settlement token.
    /// @param token_ The ERC-20 token used for all awards (immutable).
    /// @param admin Receives DEFAULT_ADMIN_ROLE (manages roles) and PAUSER_ROLE.
    /// @param settler Receives SETTLER_ROLE (locks and settles awards).
    constructor(address token_, address admin, address settler) {
        if (token_ == address(0) || admin == address(0) || settler == address(0)) revert ZeroAddress();
        _TOKEN = IERC20(token_);
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        _grantRole(SETTLER_ROLE, settler);
    }

    /// @notice Locks `amount` tokens from `dso` in escrow for a new award.
    /// @dev Only SETTLER_ROLE, not while paused. The DSO must have approved this contract for at least
    ///      `amount`. Reverts with `AwardExists` if `awardId` was ever used, `ZeroAddress` if `dso` or `cpo`
    ///      is zero, `ZeroAmount` if `amount` is zero.
    /// @param awardId Unique id of the award (deterministic, derived off chain).
    /// @param dso The paying DSO; funds are pulled from it.
    /// @param cpo The CPO to be paid at settlement.
    /// @param amount Amount to lock, in token base units.
    /// @param refundAfter Unix time (seconds) from which anyone may refund the award if it is unsettled.
    /// @param awardHash Keccak-256 hash of the canonical off-chain award record.
    function lockAward(
        bytes32 awardId,
        address dso,
        address cpo,
        uint256 amount,
        uint64 refundAfter,
        bytes32 awardHash
    ) external onlyRole(SETTLER_ROLE) whenNotPaused nonReentrant {
        _lock(awardId, dso, cpo, amount, refundAfter, awardHash);
    }

    /// @notice Settles a locked award: pays `payout` to the CPO and the rest of the locked amount to the DSO.
    /// @dev Only SETTLER_ROLE, not while paused. State is updated before any transfer; zero transfers are
    ///      skipped. Reverts with `AwardNotLocked` unless the award is Locked (so an award settles at most
    ///      once) and with `PayoutExceedsAmount` if `payout` is larger than the locked amount.
    /// @param awardId The award to settle.
    /// @param payout Amount for the CPO (0 ..= locked amount), proportional to verified delivery.
    /// @param settlementHash Keccak-256 hash of the canonical off-chain settlement record.
    function settle(
        bytes32 awardId,
        uint256 payout,
        bytes32 settlementHash
    ) external onlyRole(SETTLER_ROLE) whenNotPaused nonReentrant {
        _settle(awardId, payout, settlementHash);
    }

    /// @notice Returns the full locked amount of an unsettled award to its DSO once its deadline has passed.
    /// @dev Callable by anyone and also while paused, so escrowed funds can never be stuck. Reverts with
    ///      `AwardNotLocked` unless the award is Locked and with `RefundNotDue` before `refundAfter`.
    /// @param awardId The award to refund.
    function refundExpired(bytes32 awardId) external nonReentrant {
        _refund(awardId);
    }

    /// @notice Pauses locking and settlement (refunds stay available).
    /// @dev Only PAUSER_ROLE; reverts with `EnforcedPause` if already paused.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Resumes locking and settlement.
    /// @dev Only PAUSER_ROLE; reverts with `ExpectedPause` if not paused.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /// @notice The ERC-20 token this escrow settles in.
    /// @return The token's address.
    function token() external view returns (address) {
        return address(_TOKEN);
    }

    /// @notice Returns the stored record of an award (all fields zero and status None if the id is unused).
    /// @param awardId The award id.
    /// @return The award record.
    function getAward(bytes32 awardId) external view returns (Award memory) {
        return _awards[awardId];
    }

    /// @notice Validates and records a new award, then pulls the funds from the DSO.
    /// @dev Callers apply the role, pause and reentrancy guards.
    /// @param awardId Unique id of the award.
    /// @param dso The paying DSO.
    /// @param cpo The CPO to be paid.
    /// @param amount Amount to lock.
    /// @param refundAfter Refund deadline (Unix seconds).
    /// @param awardHash Hash of the off-chain award record.
    function _lock(
        bytes32 awardId,
        address dso,
        address cpo,
        uint256 amount,
        uint64 refundAfter,
        bytes32 awardHash
    ) internal {
        if (_awards[awardId].status != AwardStatus.None) revert AwardExists(awardId);
        if (dso == address(0) || cpo == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();

        _awards[awardId] = Award({
            dso: dso,
            cpo: cpo,
            amount: amount,
            refundAfter: refundAfter,
            status: AwardStatus.Locked,
            awardHash: awardHash,
            settlementHash: bytes32(0),
            paid: 0
        });

        emit AwardLocked(awardId, dso, cpo, amount, refundAfter, awardHash);
        _TOKEN.safeTransferFrom(dso, address(this), amount);
    }

    /// @notice Settles a locked award: effects first, then the transfers.
    /// @dev Callers apply the role, pause and reentrancy guards.
    /// @param awardId The award to settle.
    /// @param payout Amount for the CPO.
    /// @param settlementHash Hash of the off-chain settlement record.
    function _settle(bytes32 awardId, uint256 payout, bytes32 settlementHash) internal {
        Award storage award = _awards[awardId];
        AwardStatus status = award.status;
        if (status != AwardStatus.Locked) revert AwardNotLocked(awardId, status);
        uint256 amount = award.amount;
        if (payout > amount) revert PayoutExceedsAmount(awardId, payout, amount);

        award.status = AwardStatus.Settled;
        award.settlementHash = settlementHash;
        award.paid = payout;
        address cpo = award.cpo;
        address dso = award.dso;
        uint256 refunded = amount - payout;

        emit AwardSettled(awardId, cpo, dso, payout, refunded, settlementHash);
        if (payout != 0) _TOKEN.safeTransfer(cpo, payout);
        if (refunded != 0) _TOKEN.safeTransfer(dso, refunded);
    }

    /// @notice Refunds an expired locked award in full: effects first, then the transfer.
    /// @dev Callers apply the reentrancy guard.
    /// @param awardId The award to refund.
    function _refund(bytes32 awardId) internal {
        Award storage award = _awards[awardId];
        AwardStatus status = award.status;
        if (status != AwardStatus.Locked) revert AwardNotLocked(awardId, status);
        uint64 refundAfter = award.refundAfter;
        // solhint-disable-next-line not-rely-on-time
        if (block.timestamp < refundAfter) revert RefundNotDue(awardId, refundAfter);

        award.status = AwardStatus.Refunded;
        address dso = award.dso;
        uint256 amount = award.amount;

        emit AwardRefunded(awardId, dso, amount);
        _TOKEN.safeTransfer(dso, amount);
    }
}
