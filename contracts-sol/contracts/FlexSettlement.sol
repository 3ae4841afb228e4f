// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";

/// @title FlexChain settlement escrow
/// @author FlexChain
/// @notice Holds a DSO's payment for a gate cycle's awards in escrow and releases it by fixed rules: at
///         settlement the market operator (SETTLER_ROLE) pays each CPO in proportion to verified delivery and
///         returns the rest to the DSO; if the cycle is never settled, anyone can return the whole amount to the
///         DSO once its refund deadline has passed.
/// @dev Trust model:
///      - Escrowed funds can only ever leave to a cycle's own DSO or CPOs. There is no admin withdrawal, sweep or
///        upgrade path; pausing blocks new locks and settlements but never refunds.
///      - The DSO consents per request: an EIP-712 signature (domain: this contract and chain id) over the request's
///        hash, a maximum amount, a deadline and a nonce. A consent is an allowance: `lockCycle` takes from the DSO
///        exactly the sum of the amounts drawn under the consents it is given, before their deadlines, and every
///        lock's draw under a nonce adds to what was drawn under it before, never past the signed maximum (a request
///        whose awards span several locks draws on its consent in each), so the settler key cannot take more than the
///        DSO authorised, however often it reuses the signature.
///      - Payees are registered wallets: REGISTRAR_ROLE lists a CPO's wallet after the CPO proved it holds the key
///        (FlexChain's wallet proof), and `lockCycle` refuses any award to an unlisted address, so the settler key
///        alone cannot direct a DSO's money to an address of its choosing.
///      - Admin, pauser, registrar and settler are four different accounts (an account never holds two of these
///        roles); the admin role changes hands only through OpenZeppelin's two-step transfer with a delay
///        (`AccessControlDefaultAdminRules`).
///      - A cycle id can be used exactly once, ever (no reuse after settlement or refund), so a retried off-chain
///        side effect can never lock or pay twice.
///      - `awardsHash` and `settlementHash` are Keccak-256 hashes of the canonical off-chain records, stored so
///        that anyone can check that the record and the payment agree.
///      - The token must be a plain ERC-20 (no fee on transfer, no rebasing); the amount locked is the amount
///        credited to this contract. A regulated token may refuse a transfer (EURC blocklists addresses): a payment
///        or refund it refuses is credited to the recipient as a claimable balance (`claim`), so one refused payee
///        never blocks the rest of a settlement.
///      - `refundAfter` must lie between `minRefundDelay` and `maxRefundDelay` seconds after the lock (set at
///        deployment), so funds are neither refundable before delivery can be verified nor locked indefinitely.
///      Batching: `lockCycle` escrows all awards of one DSO's batch with a single `transferFrom` and stores only a
///      commitment (`awardsHash`) to the award list; `settleCycle` re-supplies the list as calldata, checks it
///      against the commitment, pays each CPO and refunds the DSO the rest in one transfer. Award ids are derived
///      from the cycle id (`cycleAwardId`): a cycle id has its low 32 bits zero and numbers its awards in them.
contract FlexSettlement is AccessControlDefaultAdminRules, EIP712, Pausable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Role allowed to lock and settle cycles (the market operator's signer).
    bytes32 public constant SETTLER_ROLE = keccak256("SETTLER_ROLE");

    /// @notice Role allowed to pause and unpause locking and settlement.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    /// @notice Role allowed to register and deregister CPO payee wallets.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");

    /// @notice EIP-712 type of a DSO's consent to pay for one request.
    bytes32 public constant CONSENT_TYPEHASH =
        // solhint-disable-next-line gas-small-strings
        keccak256("Consent(bytes32 requestHash,uint256 maxAmount,uint256 deadline,uint256 nonce)");

    /// @notice Life-cycle of a cycle in escrow.
    /// @dev None = the id was never used; Locked = funds held; Settled and Refunded are final.
    enum CycleStatus {
        None,
        Locked,
        Settled,
        Refunded
    }


    /// @notice One award inside a gate cycle, as supplied to `lockCycle` and again to `settleCycle`.
    /// @dev The ABI encoding of `CycleAward[]` is what `awardsHash` commits to; do not reorder fields.
    ///      The award's id is not part of the struct: it is `cycleAwardId(cycleId, index)`.
    /// @param cpo The charge point operator to be paid for delivered flexibility.
    /// @param amount The amount escrowed for this award, in token base units.
    /// @param awardHash Keccak-256 hash of the canonical off-chain award record.
    struct CycleAward {
        address cpo;
        uint256 amount;
        bytes32 awardHash;
    }

    /// @notice A DSO's signed consent for one request, and what this lock draws under it.
    /// @dev The DSO signs the EIP-712 `Consent(requestHash, maxAmount, deadline, nonce)`; `amount` is not signed.
    /// @param requestHash Keccak-256 of the request's terms (defined off chain; FlexChain: README, DSO consent).
    /// @param maxAmount The most the DSO authorised for the request, in token base units.
    /// @param deadline Unix time (seconds) after which the consent cannot be used.
    /// @param nonce The DSO's nonce for this consent; what all locks draw under a nonce adds up to at most `maxAmount`.
    /// @param amount The amount this lock draws under the consent (with the earlier draws, at most `maxAmount`).
    /// @param signature The DSO's signature (65-byte ECDSA, or ERC-1271 for a contract wallet).
    struct Consent {
        bytes32 requestHash;
        uint256 maxAmount;
        uint256 deadline;
        uint256 nonce;
        uint256 amount;
        bytes signature;
    }

    /// @notice The on-chain record of one gate cycle (a batch of awards from one DSO).
    /// @dev Field order is part of the public ABI (returned by `getCycle`); do not reorder or repack.
    /// @param dso The DSO that paid the cycle's total and receives every refund.
    /// @param refundAfter Unix time (seconds) from which anyone can refund an unsettled cycle to the DSO.
    /// @param status The cycle's status .
    /// @param total The sum of the award amounts, locked in escrow.
    /// @param paid The sum paid to CPOs at settlement (zero until settled, and zero if refunded).
    /// @param awardsHash Keccak-256 of `abi.encode(awards)` (the `CycleAward[]` as one ABI parameter).
    struct Cycle {
        address dso;
        uint64 refundAfter;
        CycleStatus status;
        uint128 total;
        uint128 paid;
        bytes32 awardsHash;
    }

    /// @notice Mask of the id bits shared by a cycle and all its awards (the upper 224 bits).
    bytes32 public constant CYCLE_ID_MASK = ~bytes32(uint256(type(uint32).max));

    /// @notice Maximum number of awards in one cycle (award ids use the low 32 bits; 0 is the cycle itself).
    uint256 public constant MAX_CYCLE_AWARDS = type(uint32).max;

    /// @dev The settlement token; fixed at deployment.
    IERC20 private immutable _TOKEN;

    /// @dev Cycle records by cycle id.
    mapping(bytes32 cycleId => Cycle cycle) private _cycles;

    /// @dev Registered CPO payee wallets.
    mapping(address wallet => bool registered) private _payees;

    /// @dev What the locks drew so far under each consent nonce, by DSO, in token base units.
    mapping(address dso => mapping(uint256 nonce => uint256 drawn)) private _consentDrawn;

    /// @dev Amounts the token refused to deliver, by recipient, waiting for `claim`.
    mapping(address account => uint256 amount) private _claimable;

    /// @dev Least seconds between a lock and its `refundAfter`; fixed at deployment.
    uint64 private immutable _MIN_REFUND_DELAY;

    /// @dev Most seconds between a lock and its `refundAfter`; fixed at deployment.
    uint64 private immutable _MAX_REFUND_DELAY;

    /// @notice Emitted once per award when a cycle is settled, before `CycleSettled`.
    /// @param awardId The award's id (`cycleAwardId(cycleId, index)`).
    /// @param cpo The CPO that received `paid`.
    /// @param dso The DSO that received `refunded` (as part of the cycle's single refund).
    /// @param paid The amount paid to the CPO.
    /// @param refunded The award's share of the DSO's refund (its amount minus `paid`).
    /// @param settlementHash Keccak-256 hash of the off-chain settlement record.
    event AwardSettled(
        bytes32 indexed awardId,
        address indexed cpo,
        address indexed dso,
        uint256 paid,
        uint256 refunded,
        bytes32 settlementHash
    );

    /// @notice Emitted when the funds for a gate cycle's awards are locked in escrow.
    /// @param cycleId The cycle's unique id (low 32 bits zero).
    /// @param dso The DSO the total was pulled from.
    /// @param total The sum of the award amounts, in token base units.
    /// @param refundAfter Unix time from which the cycle can be refunded if unsettled.
    /// @param awardCount The number of awards; their ids are `cycleAwardId(cycleId, 0 .. awardCount - 1)`.
    /// @param awardsHash Keccak-256 of `abi.encode(awards)`, the commitment checked at settlement.
    event CycleLocked( // solhint-disable-line gas-indexed-events
        bytes32 indexed cycleId,
        address indexed dso,
        uint256 total,
        uint64 refundAfter,
        uint256 awardCount,
        bytes32 awardsHash
    );

    /// @notice Emitted once when a gate cycle is settled, after one `AwardSettled` per award.
    /// @param cycleId The cycle's id.
    /// @param dso The DSO that received `refunded` (in one transfer).
    /// @param paid The sum paid to the cycle's CPOs.
    /// @param refunded The amount returned to the DSO (cycle total minus `paid`).
    event CycleSettled(bytes32 indexed cycleId, address indexed dso, uint256 paid, uint256 refunded); // solhint-disable-line gas-indexed-events

    /// @notice Emitted when an expired, unsettled cycle is refunded in full to its DSO.
    /// @param cycleId The cycle's id.
    /// @param dso The DSO that received the refund.
    /// @param amount The amount refunded (the cycle's total).
    event CycleRefunded(bytes32 indexed cycleId, address indexed dso, uint256 amount); // solhint-disable-line gas-indexed-events

    /// @notice Emitted once per award when an expired cycle is refunded, before `CycleRefunded`.
    /// @param awardId The award's id (`cycleAwardId(cycleId, index)`).
    /// @param cpo The CPO that was not paid.
    /// @param dso The DSO that received the award's amount back.
    /// @param amount The award's amount.
    event AwardRefunded(bytes32 indexed awardId, address indexed cpo, address indexed dso, uint256 amount);

    /// @notice Emitted when the token refused a payment or refund: `amount` is credited to `account` to claim later.
    /// @param account The recipient the token refused.
    /// @param amount The amount credited.
    event PaymentCredited(address indexed account, uint256 amount); // solhint-disable-line gas-indexed-events

    /// @notice Emitted when an account claims its credited balance.
    /// @param account The account, which received `amount`.
    /// @param amount The amount paid out.
    event Claimed(address indexed account, uint256 amount); // solhint-disable-line gas-indexed-events

    /// @notice Emitted when a wallet is added to the payee list.
    /// @param wallet The CPO's wallet.
    event PayeeRegistered(address indexed wallet);

    /// @notice Emitted when a wallet is removed from the payee list.
    /// @param wallet The CPO's wallet.
    event PayeeDeregistered(address indexed wallet);

    /// @notice A required address argument was the zero address.
    error ZeroAddress();

    /// @notice The amount to lock was zero.
    error ZeroAmount();

    /// @notice The payout to the CPO is larger than the amount locked.
    /// @param awardId The award id.
    /// @param payout The requested payout.
    /// @param amount The amount locked for the award.
    error PayoutExceedsAmount(bytes32 awardId, uint256 payout, uint256 amount);

    /// @notice The cycle's refund deadline has not been reached yet.
    /// @param cycleId The cycle id.
    /// @param refundAfter Unix time from which the refund is allowed.
    error RefundNotDue(bytes32 cycleId, uint64 refundAfter);

    /// @notice A cycle id must have its low 32 bits zero (they number the cycle's awards).
    /// @param cycleId The rejected cycle id.
    error InvalidCycleId(bytes32 cycleId);

    /// @notice An award index is beyond what a cycle can hold (`MAX_CYCLE_AWARDS`).
    /// @param index The rejected 0-based index.
    error AwardIndexOutOfRange(uint256 index);

    /// @notice The cycle id has already been used (whatever the cycle's current status).
    /// @param cycleId The rejected cycle id.
    error CycleExists(bytes32 cycleId);

    /// @notice A cycle must contain at least one award.
    error EmptyCycle();

    /// @notice The award list, payouts and settlement hashes must have the same length.
    /// @param awards The number of awards supplied.
    /// @param payouts The number of payouts supplied.
    /// @param settlementHashes The number of settlement hashes supplied.
    error LengthMismatch(uint256 awards, uint256 payouts, uint256 settlementHashes);

    /// @notice The award list supplied at settlement is not the one committed at lock time.
    /// @param cycleId The cycle id.
    /// @param committed The stored `awardsHash`.
    /// @param supplied The hash of the supplied list.
    error AwardsMismatch(bytes32 cycleId, bytes32 committed, bytes32 supplied);

    /// @notice The cycle is not in the Locked status.
    /// @param cycleId The cycle id.
    /// @param status The cycle's current status (None if it was never locked).
    error CycleNotLocked(bytes32 cycleId, CycleStatus status);

    /// @notice An award names a wallet that is not on the payee list (or a deregistration names one that is not).
    /// @param wallet The unlisted wallet.
    error PayeeNotRegistered(address wallet);

    /// @notice A consent's signature was not made by the cycle's DSO.
    /// @param requestHash The consent's request hash.
    error InvalidConsentSignature(bytes32 requestHash);

    /// @notice A consent was used after its deadline.
    /// @param requestHash The consent's request hash.
    /// @param deadline The consent's deadline.
    error ConsentExpired(bytes32 requestHash, uint256 deadline);

    /// @notice A lock would draw more under a consent's nonce, with the earlier locks, than the consent's maximum.
    /// @param requestHash The consent's request hash.
    /// @param drawn The amount drawn under the nonce with this lock's draw.
    /// @param maxAmount The consent's maximum.
    error ConsentExceeded(bytes32 requestHash, uint256 drawn, uint256 maxAmount);

    /// @notice The amounts drawn under the consents do not add up to the cycle's total.
    /// @param total The sum of the award amounts.
    /// @param consented The sum of the consents' amounts.
    error ConsentMismatch(uint256 total, uint256 consented);

    /// @notice `refundAfter` is not within the deployment's bounds from now.
    /// @param refundAfter The rejected refund time.
    /// @param earliest The earliest acceptable refund time (now + `minRefundDelay`).
    /// @param latest The latest acceptable refund time (now + `maxRefundDelay`).
    error RefundAfterOutOfBounds(uint64 refundAfter, uint256 earliest, uint256 latest);

    /// @notice The caller has no credited balance to claim.
    /// @param account The caller.
    error NothingToClaim(address account);

    /// @notice The refund delay bounds are inverted (min above max).
    /// @param minDelay The minimum.
    /// @param maxDelay The maximum.
    error InvalidRefundDelays(uint64 minDelay, uint64 maxDelay);

    /// @notice An account may hold only one of the admin, pauser, registrar and settler roles.
    /// @param account The account.
    /// @param heldRole The role it already holds.
    error RoleConflict(address account, bytes32 heldRole);

    /// @notice Deploys the escrow for one settlement token with four distinct role holders.
    /// @param token_ The ERC-20 token used for all cycles (immutable).
    /// @param adminDelay Seconds a new default admin must wait before accepting the role.
    /// @param admin Receives DEFAULT_ADMIN_ROLE (manages the other roles).
    /// @param pauser Receives PAUSER_ROLE.
    /// @param registrar Receives REGISTRAR_ROLE (keeps the payee list).
    /// @param settler Receives SETTLER_ROLE (locks and settles cycles).
    /// @param minRefundDelay Least seconds between a lock and its `refundAfter`.
    /// @param maxRefundDelay Most seconds between a lock and its `refundAfter` (at least `minRefundDelay`).
    constructor(
        address token_,
        uint48 adminDelay,
        address admin,
        address pauser,
        address registrar,
        address settler,
        uint64 minRefundDelay,
        uint64 maxRefundDelay
    ) AccessControlDefaultAdminRules(adminDelay, admin) EIP712("FlexSettlement", "1") {
        if (token_ == address(0) || pauser == address(0) || registrar == address(0) || settler == address(0)) {
            revert ZeroAddress();
        }
        if (minRefundDelay > maxRefundDelay) revert InvalidRefundDelays(minRefundDelay, maxRefundDelay);
        _TOKEN = IERC20(token_);
        _MIN_REFUND_DELAY = minRefundDelay;
        _MAX_REFUND_DELAY = maxRefundDelay;
        _grantRole(PAUSER_ROLE, pauser);
        _grantRole(REGISTRAR_ROLE, registrar);
        _grantRole(SETTLER_ROLE, settler);
    }

    /// @notice Adds wallets to the payee list; wallets already listed are skipped (so a retry is harmless).
    /// @dev Only REGISTRAR_ROLE. Emits `PayeeRegistered` per newly listed wallet. Reverts with `ZeroAddress` for
    ///      the zero address.
    /// @param wallets The CPO wallets to list.
    function registerPayees(address[] calldata wallets) external onlyRole(REGISTRAR_ROLE) {
        uint256 count = wallets.length;
        for (uint256 i = 0; i < count; ++i) {
            address wallet = wallets[i];
            if (wallet == address(0)) revert ZeroAddress();
            if (!_payees[wallet]) {
                _payees[wallet] = true;
                emit PayeeRegistered(wallet);
            }
        }
    }

    /// @notice Removes a wallet from the payee list: no new cycle can pay it (cycles already locked still do).
    /// @dev Only REGISTRAR_ROLE. Reverts with `PayeeNotRegistered` if the wallet is not listed.
    /// @param wallet The wallet to remove.
    function deregisterPayee(address wallet) external onlyRole(REGISTRAR_ROLE) {
        if (!_payees[wallet]) revert PayeeNotRegistered(wallet);
        _payees[wallet] = false;
        emit PayeeDeregistered(wallet);
    }

    /// @notice Locks the total of a batch of awards from `dso` in escrow with one `transferFrom` and stores a
    ///         commitment to the award list.
    /// @dev Only SETTLER_ROLE, not while paused. Award `i` gets the id `cycleAwardId(cycleId, i)`. Reverts
    ///      with `InvalidCycleId` unless the low 32 bits of `cycleId` are zero, `CycleExists` if the cycle id
    ///      was ever used, `ZeroAddress` for a zero DSO, `EmptyCycle` for an empty list, and per award (in
    ///      list order) `PayeeNotRegistered` for a CPO wallet not on the payee list and `ZeroAmount` for a zero
    ///      amount, then `RefundAfterOutOfBounds` unless `refundAfter` is within the refund delay bounds from now,
    ///      then per consent (in order) `ConsentExpired`, `ConsentExceeded` (what was drawn under its nonce before plus
    ///      its amount is above its maximum) and `InvalidConsentSignature`, and `ConsentMismatch` unless the consents'
    ///      amounts add up to the total. Each consent's amount is then added to what was drawn under its nonce. A total above 2^128 - 1 reverts with SafeCast's `SafeCastOverflowedUintDowncast`. Per-award
    ///      lock events are deliberately not emitted (gas); `CycleLocked` carries the commitment.
    /// @param cycleId Unique id of the cycle (deterministic, derived off chain, low 32 bits zero).
    /// @param dso The paying DSO; the total is pulled from it.
    /// @param refundAfter Unix time (seconds) from which anyone may refund the cycle if it is unsettled.
    /// @param awards The cycle's awards (CPO, amount, award record hash), in a fixed order.
    /// @param consents The DSO's consents for the requests of these awards, with the amount drawn under each.
    function lockCycle(
        bytes32 cycleId,
        address dso,
        uint64 refundAfter,
        CycleAward[] calldata awards,
        Consent[] calldata consents
    ) external onlyRole(SETTLER_ROLE) whenNotPaused nonReentrant {
        _requireCycleId(cycleId);
        Cycle storage cycle = _cycles[cycleId];
        if (cycle.status != CycleStatus.None) revert CycleExists(cycleId);
        if (dso == address(0)) revert ZeroAddress();
        uint256 count = awards.length;
        if (count == 0) revert EmptyCycle();

        uint256 total = 0;
        for (uint256 i = 0; i < count; ++i) {
            CycleAward calldata award = awards[i];
            if (!_payees[award.cpo]) revert PayeeNotRegistered(award.cpo);
            if (award.amount == 0) revert ZeroAmount();
            total += award.amount;
        }
        _requireRefundAfterWithinBounds(refundAfter);
        uint256 consented = _useConsents(dso, consents);
        if (consented != total) revert ConsentMismatch(total, consented);
        bytes32 awardsHash = _hashAwards(awards);

        cycle.dso = dso;
        cycle.refundAfter = refundAfter;
        cycle.status = CycleStatus.Locked;
        cycle.total = SafeCast.toUint128(total);
        cycle.awardsHash = awardsHash;

        emit CycleLocked(cycleId, dso, total, refundAfter, count, awardsHash);
        _TOKEN.safeTransferFrom(dso, address(this), total);
    }

    /// @notice Settles a locked gate cycle: pays each CPO its payout and returns the rest of the cycle's
    ///         total to the DSO in one transfer.
    /// @dev Only SETTLER_ROLE, not while paused. `awards` must be exactly the list given to `lockCycle`
    ///      (same order and values), checked against the stored commitment. Emits one `AwardSettled` per
    ///      award (its `refunded` is that award's share of the DSO's single refund), then `CycleSettled`.
    ///      Zero transfers are skipped; state is updated before any transfer. Reverts with `CycleNotLocked`
    ///      unless the cycle is Locked (so it settles at most once), `LengthMismatch`, `AwardsMismatch`, and
    ///      `PayoutExceedsAmount` (with the award's id) if a payout is larger than its award's amount.
    /// @param cycleId The cycle to settle.
    /// @param awards The cycle's award list, exactly as locked.
    /// @param payouts Amount for each award's CPO (0 ..= the award's amount), in list order.
    /// @param settlementHashes Keccak-256 hash of each award's canonical off-chain settlement record.
    function settleCycle(
        bytes32 cycleId,
        CycleAward[] calldata awards,
        uint256[] calldata payouts,
        bytes32[] calldata settlementHashes
    ) external onlyRole(SETTLER_ROLE) whenNotPaused nonReentrant {
        Cycle storage cycle = _lockedCycle(cycleId);
        uint256 count = awards.length;
        if (payouts.length != count || settlementHashes.length != count) {
            revert LengthMismatch(count, payouts.length, settlementHashes.length);
        }
        bytes32 supplied = _hashAwards(awards);
        if (supplied != cycle.awardsHash) revert AwardsMismatch(cycleId, cycle.awardsHash, supplied);

        uint256 paid = _sumPayouts(cycleId, awards, payouts);
        // paid <= total (each payout is within its amount and the amounts sum to total), so it fits.
        uint256 refunded = cycle.total - paid;
        cycle.status = CycleStatus.Settled;
        cycle.paid = uint128(paid);
        address dso = cycle.dso;

        _payCycle(cycleId, dso, awards, payouts, settlementHashes);
        emit CycleSettled(cycleId, dso, paid, refunded);
        _transferOut(dso, refunded);
    }

    /// @notice Returns the full total of an unsettled gate cycle to its DSO once its deadline has passed.
    /// @dev Callable by anyone and also while paused, so escrowed funds can never be stuck. `awards` must be the
    ///      cycle's list as locked (the published records), so that one `AwardRefunded` per award tells each CPO on
    ///      chain that its award was not paid. Reverts with `CycleNotLocked` unless the cycle is Locked,
    ///      `RefundNotDue` before `refundAfter` and `AwardsMismatch` for another list.
    /// @param cycleId The cycle to refund.
    /// @param awards The cycle's award list, exactly as locked.
    function refundExpiredCycle(bytes32 cycleId, CycleAward[] calldata awards) external nonReentrant {
        Cycle storage cycle = _lockedCycle(cycleId);
        _requireRefundDue(cycleId, cycle.refundAfter);
        bytes32 supplied = _hashAwards(awards);
        if (supplied != cycle.awardsHash) revert AwardsMismatch(cycleId, cycle.awardsHash, supplied);

        cycle.status = CycleStatus.Refunded;
        address dso = cycle.dso;
        uint256 amount = cycle.total;

        uint256 count = awards.length;
        for (uint256 i = 0; i < count; ++i) {
            emit AwardRefunded(_cycleAwardId(cycleId, i), awards[i].cpo, dso, awards[i].amount);
        }
        emit CycleRefunded(cycleId, dso, amount);
        _transferOut(dso, amount);
    }

    /// @notice Pays the caller the balance credited to it when the token refused a payment or refund.
    /// @dev Callable also while paused (it is the recipient's own money). Reverts with `NothingToClaim` for a zero
    ///      balance; if the token still refuses the transfer, its error bubbles up and the balance stays credited.
    function claim() external nonReentrant {
        uint256 amount = _claimable[msg.sender];
        if (amount == 0) revert NothingToClaim(msg.sender);
        _claimable[msg.sender] = 0;
        emit Claimed(msg.sender, amount);
        _TOKEN.safeTransfer(msg.sender, amount);
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

    /// @notice What the locks drew so far from `dso` under consent nonce `nonce`.
    /// @param dso The DSO.
    /// @param nonce The nonce.
    /// @return The sum drawn, in token base units (zero for a nonce never drawn on).
    function consentDrawn(address dso, uint256 nonce) external view returns (uint256) {
        return _consentDrawn[dso][nonce];
    }

    /// @notice The EIP-712 digest a DSO signs for a consent (for wallets and off-chain checks).
    /// @param requestHash The request's hash.
    /// @param maxAmount The most the DSO authorises, in token base units.
    /// @param deadline Unix time after which the consent is void.
    /// @param nonce The DSO's nonce.
    /// @return The digest (`\x19\x01 || domainSeparator || structHash`, hashed).
    function consentDigest(bytes32 requestHash, uint256 maxAmount, uint256 deadline, uint256 nonce) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(CONSENT_TYPEHASH, requestHash, maxAmount, deadline, nonce)));
    }

    /// @notice The balance credited to `account` because the token refused a payment or refund to it.
    /// @param account The account.
    /// @return The amount it can `claim`, in token base units.
    function claimable(address account) external view returns (uint256) {
        return _claimable[account];
    }

    /// @notice The bounds of `refundAfter`, in seconds after the lock.
    /// @return minDelay The least delay.
    /// @return maxDelay The most delay.
    function refundDelayBounds() external view returns (uint64 minDelay, uint64 maxDelay) {
        return (_MIN_REFUND_DELAY, _MAX_REFUND_DELAY);
    }

    /// @notice Whether `wallet` is on the payee list.
    /// @param wallet The wallet.
    /// @return True if cycles may pay it.
    function isPayee(address wallet) external view returns (bool) {
        return _payees[wallet];
    }

    /// @notice Returns the stored record of a gate cycle (all fields zero and status None if unused).
    /// @param cycleId The cycle id.
    /// @return The cycle record.
    function getCycle(bytes32 cycleId) external view returns (Cycle memory) {
        return _cycles[cycleId];
    }

    /// @notice The award id of the award at `index` (0-based, in list order) of cycle `cycleId`:
    ///         `cycleId | (index + 1)`.
    /// @dev Reverts with `InvalidCycleId` unless the low 32 bits of `cycleId` are zero and with
    ///      `AwardIndexOutOfRange` if `index >= MAX_CYCLE_AWARDS`. The award's cycle is `awardId & CYCLE_ID_MASK`.
    /// @param cycleId The cycle id.
    /// @param index The award's position in the cycle's list.
    /// @return The award id used in `AwardSettled`.
    function cycleAwardId(bytes32 cycleId, uint256 index) external pure returns (bytes32) {
        _requireCycleId(cycleId);
        return _cycleAwardId(cycleId, index);
    }

    /// @notice Grants `role` unless `account` already holds another of the four roles (`RoleConflict`).
    /// @dev Applies to the constructor's grants, `grantRole` and the admin hand-over alike.
    /// @param role The role.
    /// @param account The account.
    /// @return granted Whether the role was newly granted.
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        bytes32[4] memory roles = [DEFAULT_ADMIN_ROLE, PAUSER_ROLE, REGISTRAR_ROLE, SETTLER_ROLE];
        for (uint256 i = 0; i < 4; ++i) {
            if (roles[i] != role && hasRole(roles[i], account)) revert RoleConflict(account, roles[i]);
        }
        return super._grantRole(role, account);
    }

    /// @notice Reverts with `PayoutExceedsAmount` if `payout` is larger than `amount`.
    /// @param awardId The award id (for the error).
    /// @param payout The requested payout.
    /// @param amount The award's locked amount.
    function _requirePayoutWithin(bytes32 awardId, uint256 payout, uint256 amount) internal pure {
        if (payout > amount) revert PayoutExceedsAmount(awardId, payout, amount);
    }

    /// @notice Reverts with `RefundNotDue` before `refundAfter`.
    /// @param id The cycle id (for the error).
    /// @param refundAfter The refund deadline (Unix seconds).
    function _requireRefundDue(bytes32 id, uint64 refundAfter) internal view {
        // solhint-disable-next-line not-rely-on-time
        if (block.timestamp < refundAfter) revert RefundNotDue(id, refundAfter);
    }

    /// @notice Transfers `amount` escrowed tokens to `to`, skipping zero amounts; if the token refuses (a
    ///         blocklisted recipient), credits `to` with the amount instead (`PaymentCredited`, then `claim`).
    /// @dev With `claim`, the only places tokens leave the escrow; every caller passes a cycle's own DSO or one of
    ///      its CPOs (refund amounts are never zero, since zero amounts cannot be locked).
    /// @param to The recipient (a cycle's CPO or DSO).
    /// @param amount The amount.
    function _transferOut(address to, uint256 amount) internal {
        if (amount == 0) return;
        if (!_TOKEN.trySafeTransfer(to, amount)) {
            _claimable[to] += amount;
            emit PaymentCredited(to, amount);
        }
    }

    /// @notice Checks each consent for `dso`, adds its amount to what was drawn under its nonce, and returns the sum
    ///         of the amounts drawn.
    /// @param dso The cycle's DSO, who must have signed every consent.
    /// @param consents The consents.
    /// @return consented The sum of their amounts.
    function _useConsents(address dso, Consent[] calldata consents) internal returns (uint256 consented) {
        uint256 count = consents.length;
        for (uint256 i = 0; i < count; ++i) {
            Consent calldata c = consents[i];
            // solhint-disable-next-line not-rely-on-time
            if (block.timestamp > c.deadline) revert ConsentExpired(c.requestHash, c.deadline);
            uint256 drawn = _consentDrawn[dso][c.nonce] + c.amount;
            if (drawn > c.maxAmount) revert ConsentExceeded(c.requestHash, drawn, c.maxAmount);
            bytes32 digest = consentDigest(c.requestHash, c.maxAmount, c.deadline, c.nonce);
            if (!SignatureChecker.isValidSignatureNowCalldata(dso, digest, c.signature)) {
                revert InvalidConsentSignature(c.requestHash);
            }
            _consentDrawn[dso][c.nonce] = drawn;
            consented += c.amount;
        }
    }

    /// @notice Reverts with `RefundAfterOutOfBounds` unless `refundAfter` lies within the refund delay bounds
    ///         from now.
    /// @param refundAfter The requested refund time (Unix seconds).
    function _requireRefundAfterWithinBounds(uint64 refundAfter) internal view {
        // solhint-disable-next-line not-rely-on-time
        uint256 earliest = block.timestamp + _MIN_REFUND_DELAY;
        // solhint-disable-next-line not-rely-on-time
        uint256 latest = block.timestamp + _MAX_REFUND_DELAY;
        if (refundAfter < earliest || refundAfter > latest) revert RefundAfterOutOfBounds(refundAfter, earliest, latest);
    }

    /// @notice Reverts with `InvalidCycleId` unless the low 32 bits of `cycleId` are zero.
    /// @param cycleId The cycle id.
    function _requireCycleId(bytes32 cycleId) internal pure {
        if (cycleId & ~CYCLE_ID_MASK != bytes32(0)) revert InvalidCycleId(cycleId);
    }

    /// @notice The id of the award at `index` in cycle `cycleId` (which must already be valid).
    /// @dev Reverts with `AwardIndexOutOfRange` if `index >= MAX_CYCLE_AWARDS`.
    /// @param cycleId A valid cycle id.
    /// @param index The 0-based position in the cycle's list.
    /// @return The award id `cycleId | (index + 1)`.
    function _cycleAwardId(bytes32 cycleId, uint256 index) internal pure returns (bytes32) {
        if (index > MAX_CYCLE_AWARDS - 1) revert AwardIndexOutOfRange(index);
        return cycleId | bytes32(index + 1);
    }

    /// @notice The commitment to a cycle's award list: `keccak256(abi.encode(awards))`.
    /// @param awards The award list.
    /// @return awardsHash The Keccak-256 hash.
    function _hashAwards(CycleAward[] calldata awards) internal pure returns (bytes32 awardsHash) {
        // Same bytes as abi.encode(awards) (offset 0x20, length, then 3 words per award), hashed straight
        // from a copy of the calldata. Dirty address bits cannot slip through: `lockCycle` reads every `cpo`
        // with Solidity's checked accessor (which reverts on them), so a committed list is always clean and
        // a list with dirty bits can never match it at settlement.
        // solhint-disable-next-line no-inline-assembly
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            let size := mul(awards.length, 0x60)
            mstore(ptr, 0x20)
            mstore(add(ptr, 0x20), awards.length)
            calldatacopy(add(ptr, 0x40), awards.offset, size)
            awardsHash := keccak256(ptr, add(size, 0x40))
        }
    }

    /// @notice The storage record of a cycle that must be Locked.
    /// @dev Reverts with `CycleNotLocked` otherwise.
    /// @param cycleId The cycle id.
    /// @return cycle The cycle's storage record.
    function _lockedCycle(bytes32 cycleId) internal view returns (Cycle storage cycle) {
        cycle = _cycles[cycleId];
        CycleStatus status = cycle.status;
        if (status != CycleStatus.Locked) revert CycleNotLocked(cycleId, status);
    }

    /// @notice Checks every payout against its award's amount and returns their sum.
    /// @dev Reverts with `PayoutExceedsAmount` (naming the award's id) for the first payout too large.
    /// @param cycleId The cycle id.
    /// @param awards The cycle's (verified) award list.
    /// @param payouts The payouts, same length as `awards`.
    /// @return paid The sum of the payouts.
    function _sumPayouts(
        bytes32 cycleId,
        CycleAward[] calldata awards,
        uint256[] calldata payouts
    ) internal pure returns (uint256 paid) {
        uint256 count = awards.length;
        for (uint256 i = 0; i < count; ++i) {
            uint256 payout = payouts[i];
            _requirePayoutWithin(_cycleAwardId(cycleId, i), payout, awards[i].amount);
            paid += payout;
        }
    }

    /// @notice Emits `AwardSettled` for every award of a cycle and pays each CPO its (non-zero) payout.
    /// @dev Called after the cycle's state is final; the DSO's refund is paid by the caller in one transfer.
    /// @param cycleId The cycle id.
    /// @param dso The cycle's DSO (for the events).
    /// @param awards The cycle's (verified) award list.
    /// @param payouts The (checked) payouts.
    /// @param settlementHashes The settlement record hashes.
    function _payCycle(
        bytes32 cycleId,
        address dso,
        CycleAward[] calldata awards,
        uint256[] calldata payouts,
        bytes32[] calldata settlementHashes
    ) internal {
        uint256 count = awards.length;
        for (uint256 i = 0; i < count; ++i) {
            CycleAward calldata award = awards[i];
            uint256 payout = payouts[i];
            address cpo = award.cpo;
            emit AwardSettled(_cycleAwardId(cycleId, i), cpo, dso, payout, award.amount - payout, settlementHashes[i]);
            _transferOut(cpo, payout);
        }
    }
}
