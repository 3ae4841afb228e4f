// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {FlexSettlement} from "../FlexSettlement.sol";

/// @title Malicious ERC-20 for reentrancy tests (test only, never deploy)
/// @author FlexChain
/// @notice An ERC-20 that, once armed, calls back into a FlexSettlement from inside a token transfer.
///         The callback's revert bubbles up, so a blocked attack makes the outer call revert with the
///         settlement's `ReentrancyGuardReentrantCall` error.
contract ReentrantToken is ERC20 {
    /// @notice Which settlement function the token calls back during its next transfer.
    enum Attack {
        None,
        Settle,
        RefundExpired,
        LockAward,
        RawCall
    }

    /// @notice The settlement contract to attack.
    FlexSettlement public target;
    /// @notice The attack to perform during the next transfer (reset once it fires).
    Attack public attack;
    /// @notice The award id used in the callback.
    bytes32 public attackAwardId;
    /// @notice The payout (for settle) or amount (for lockAward) used in the callback.
    uint256 public attackAmount;
    /// @notice The calldata sent to `target` by the RawCall attack (e.g. a complete, valid `settleCycle`).
    bytes public attackData;

    /// @notice Deploys the token with a fixed name and symbol.
    constructor() ERC20("Reentrant Token", "REENT") {}

    /// @notice Mints test tokens to anyone (test only).
    /// @param to Recipient.
    /// @param amount Amount to mint.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Arms the callback for the next transfer.
    /// @param target_ The settlement contract to call back into.
    /// @param attack_ The function to call.
    /// @param awardId The award id passed to that function.
    /// @param amount The payout (settle) or amount (lockAward) passed to that function.
    function arm(FlexSettlement target_, Attack attack_, bytes32 awardId, uint256 amount) external {
        target = target_;
        attack = attack_;
        attackAwardId = awardId;
        attackAmount = amount;
    }

    /// @notice Arms a RawCall callback: the next transfer calls `target_` with `data` (revert bubbles up).
    /// @param target_ The settlement contract to call back into.
    /// @param data The complete calldata of the callback.
    function armCall(FlexSettlement target_, bytes calldata data) external {
        target = target_;
        attack = Attack.RawCall;
        attackData = data;
    }

    /// @notice Performs the balance update, then fires the armed callback once (disarming first).
    /// @param from Sender.
    /// @param to Recipient.
    /// @param value Amount.
    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        Attack current = attack;
        if (current == Attack.None) return;
        attack = Attack.None;
        if (current == Attack.Settle) {
            target.settle(attackAwardId, attackAmount, keccak256("reentrant"));
        } else if (current == Attack.RefundExpired) {
            target.refundExpired(attackAwardId);
        } else if (current == Attack.LockAward) {
            target.lockAward(attackAwardId, from, to, attackAmount, 0, keccak256("reentrant"));
        } else {
            // solhint-disable-next-line avoid-low-level-calls
            (bool ok, bytes memory result) = address(target).call(attackData);
            if (!ok) {
                // solhint-disable-next-line no-inline-assembly
                assembly ("memory-safe") {
                    revert(add(result, 0x20), mload(result))
                }
            }
        }
    }
}
