// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title Malicious ERC-20 for reentrancy tests (test only, never deploy)
/// @author FlexChain
/// @notice An ERC-20 that, once armed, calls back into a contract (the escrow) from inside its next token
///         transfer with calldata chosen by the test. The callback's revert bubbles up, so a blocked attack makes
///         the outer call revert with the escrow's `ReentrancyGuardReentrantCall` error.
contract ReentrantToken is ERC20 {
    /// @notice The contract called back.
    address public target;
    /// @notice The calldata sent to `target` during the next transfer (e.g. a complete, valid `settleCycle`).
    bytes public attackData;
    /// @notice Whether the next transfer calls back (reset once it fires).
    bool public armed;

    /// @notice Deploys the token with a fixed name and symbol.
    constructor() ERC20("Reentrant Token", "REENT") {}

    /// @notice Mints test tokens to anyone (test only).
    /// @param to Recipient.
    /// @param amount Amount to mint.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Arms the token: its next transfer sends `data` to `target_`.
    /// @param target_ The contract to call back.
    /// @param data The calldata.
    function armCall(address target_, bytes calldata data) external {
        target = target_;
        attackData = data;
        armed = true;
    }

    /// @notice Moves the tokens, then fires the armed callback once.
    /// @param from Sender.
    /// @param to Recipient.
    /// @param value Amount.
    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (!armed) return;
        armed = false;
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, bytes memory result) = target.call(attackData);
        if (!ok) {
            // solhint-disable-next-line no-inline-assembly
            assembly ("memory-safe") {
                revert(add(result, 0x20), mload(result))
            }
        }
    }
}
