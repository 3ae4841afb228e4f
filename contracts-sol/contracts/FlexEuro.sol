// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title FlexChain Test Euro (tEUR)
/// @author FlexChain
/// @notice A euro stablecoin stand-in for local development and tests only. It has the decimals it is deployed
///         with: 6 like EURC (the default deployment) or 18 like EURe. It supports EIP-2612 permits, and only its
///         owner can mint. It has no value and must never be used as a real payment token.
contract FlexEuro is ERC20, ERC20Permit, Ownable {
    /// @notice The decimals of the token's display unit, fixed at deployment.
    uint8 private immutable _DECIMALS;

    /// @notice Deploys the token; the deployer becomes the owner (the only account allowed to mint).
    /// @param decimals_ The decimals of the display unit (6 like EURC, 18 like EURe).
    constructor(uint8 decimals_) ERC20("FlexChain Test Euro", "tEUR") ERC20Permit("FlexChain Test Euro") Ownable(msg.sender) {
        _DECIMALS = decimals_;
    }

    /// @notice Creates `amount` base units (10^-decimals tEUR each) and credits them to `to`.
    /// @dev Restricted to the owner; reverts with `OwnableUnauthorizedAccount` otherwise and with
    ///      `ERC20InvalidReceiver` if `to` is the zero address.
    /// @param to The account that receives the new tokens.
    /// @param amount The number of base units to mint.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    /// @notice The number of decimals of the token's display unit, as deployed.
    /// @return The decimals given to the constructor.
    function decimals() public view override returns (uint8) {
        return _DECIMALS;
    }
}
