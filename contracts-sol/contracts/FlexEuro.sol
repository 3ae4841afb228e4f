// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title FlexChain Test Euro (tEUR)
/// @author FlexChain
/// @notice A euro stablecoin stand-in for local development and tests only. It has 6 decimals like EURC,
///         supports EIP-2612 permits, and only its owner can mint. It has no value and must never be used
///         as a real payment token.
contract FlexEuro is ERC20, ERC20Permit, Ownable {
    /// @notice Deploys the token; the deployer becomes the owner (the only account allowed to mint).
    constructor() ERC20("FlexChain Test Euro", "tEUR") ERC20Permit("FlexChain Test Euro") Ownable(msg.sender) {}

    /// @notice Creates `amount` base units (10^-6 tEUR each) and credits them to `to`.
    /// @dev Restricted to the owner; reverts with `OwnableUnauthorizedAccount` otherwise and with
    ///      `ERC20InvalidReceiver` if `to` is the zero address.
    /// @param to The account that receives the new tokens.
    /// @param amount The number of base units to mint.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    /// @notice The number of decimals of the token's display unit: 6, like EURC.
    /// @return The constant 6.
    function decimals() public pure override returns (uint8) {
        return 6;
    }
}
