// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title Blocklisting ERC-20 for tests (test only, never deploy)
/// @author FlexChain
/// @notice Like EURC, refuses any transfer from or to a blocklisted address (anyone may blocklist in this mock).
contract BlocklistToken is ERC20 {
    /// @notice Addresses the token refuses to move funds from or to.
    mapping(address account => bool blocked) public blocklisted;

    /// @notice The token refused to move funds from or to `account`.
    /// @param account The blocklisted address.
    error Blocklisted(address account);

    /// @notice Deploys the token with a fixed name and symbol.
    constructor() ERC20("Blocklist Euro", "BEUR") {}

    /// @notice Mints test tokens to anyone (test only).
    /// @param to Recipient.
    /// @param amount Amount to mint.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Blocklists `account`.
    /// @param account The address.
    function blocklist(address account) external {
        blocklisted[account] = true;
    }

    /// @notice Removes `account` from the blocklist.
    /// @param account The address.
    function unblocklist(address account) external {
        blocklisted[account] = false;
    }

    /// @notice Refuses blocklisted senders and recipients, then moves the tokens.
    /// @param from Sender.
    /// @param to Recipient.
    /// @param value Amount.
    function _update(address from, address to, uint256 value) internal override {
        if (blocklisted[from]) revert Blocklisted(from);
        if (blocklisted[to]) revert Blocklisted(to);
        super._update(from, to, value);
    }
}
