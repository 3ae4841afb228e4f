// Shared test helpers (no tests here).
const { ethers } = require("hardhat");

/**
 * Signs an EIP-2612 permit for `token` with `signer`'s key and returns the split signature.
 * `options.owner` (default: the signer) and `options.nonce` (default: the owner's current nonce) allow
 * forging invalid permits in negative tests.
 */
async function signPermit(token, signer, spender, value, deadline, options = {}) {
  const owner = options.owner ?? signer.address;
  const { chainId } = await ethers.provider.getNetwork();
  const domain = {
    name: await token.name(),
    version: "1",
    chainId,
    verifyingContract: await token.getAddress(),
  };
  const types = {
    Permit: [
      { name: "owner", type: "address" },
      { name: "spender", type: "address" },
      { name: "value", type: "uint256" },
      { name: "nonce", type: "uint256" },
      { name: "deadline", type: "uint256" },
    ],
  };
  const message = {
    owner,
    spender: typeof spender === "string" ? spender : spender.address,
    value,
    nonce: options.nonce ?? (await token.nonces(owner)),
    deadline,
  };
  return ethers.Signature.from(await signer.signTypedData(domain, types, message));
}

module.exports = { signPermit };
