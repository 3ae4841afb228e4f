// Shared test helpers (no tests here).
const { ethers } = require("hardhat");
const { time } = require("@nomicfoundation/hardhat-network-helpers");

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

const DAY = 24n * 3600n;

const ADMIN_DELAY = 2n * DAY; // seconds a new admin waits before it can accept the role
const REFUND_DELAYS = [3600n, 400n * DAY]; // refundAfter bounds: 1 hour to 400 days after the lock

/**
 * Deploys FlexEuro (6 decimals like EURC, or `decimals`, 18 like EURe) and FlexSettlement with a distinct account per
 * role (admin, pauser, registrar, settler; so every role check is meaningful), registers the three CPOs as payees,
 * funds the two DSOs with 10,000 tEUR each and has them approve the escrow. `refundAfter` is one day ahead of the
 * chain clock.
 */
async function deployEscrow(decimals = 6) {
  const [deployer, admin, settler, dso, cpo, stranger, dso2, cpo2, cpo3, pauser, registrar] = await ethers.getSigners();
  const token = await ethers.deployContract("FlexEuro", [decimals], deployer);
  const UNIT = 10n ** BigInt(decimals);
  const settlement = await ethers.deployContract(
    "FlexSettlement",
    [await token.getAddress(), ADMIN_DELAY, admin.address, pauser.address, registrar.address, settler.address, ...REFUND_DELAYS],
    deployer,
  );
  const settlementAddress = await settlement.getAddress();
  await settlement.connect(registrar).registerPayees([cpo.address, cpo2.address, cpo3.address]);
  for (const holder of [dso, dso2]) {
    await token.mint(holder.address, 10_000n * UNIT);
    await token.connect(holder).approve(settlementAddress, ethers.MaxUint256);
  }
  const refundAfter = BigInt(await time.latest()) + DAY;
  return {
    token, settlement, settlementAddress, deployer, admin, pauser, registrar, settler, dso, cpo, stranger, dso2, cpo2, cpo3,
    refundAfter,
  };
}



const CONSENT_TYPES = {
  Consent: [
    { name: "requestHash", type: "bytes32" },
    { name: "maxAmount", type: "uint256" },
    { name: "deadline", type: "uint256" },
    { name: "nonce", type: "uint256" },
  ],
};
const FAR_DEADLINE = 2n ** 40n; // year 36812
let lastNonce = 0n;

/**
 * Signs a DSO's consent (EIP-712 in the escrow's domain) with `dso`'s key and returns the `Consent` tuple lockCycle
 * takes. `options`: requestHash, deadline, nonce, amount (drawn; default maxAmount), chainId and verifyingContract
 * (to forge consents for another domain).
 */
async function signConsent(escrow, dso, maxAmount, options = {}) {
  const domain = {
    name: "FlexSettlement",
    version: "1",
    chainId: options.chainId ?? (await ethers.provider.getNetwork()).chainId,
    verifyingContract: options.verifyingContract ?? (await escrow.getAddress()),
  };
  const value = {
    requestHash: options.requestHash ?? ethers.id("request"),
    maxAmount,
    deadline: options.deadline ?? FAR_DEADLINE,
    nonce: options.nonce ?? ++lastNonce,
  };
  const signature = await dso.signTypedData(domain, CONSENT_TYPES, value);
  return { ...value, amount: options.amount ?? maxAmount, signature };
}

/** The consents for a lock of `awards` from `dso` (null: none): one consent for exactly their total. */
async function consentsFor(escrow, dso, awards) {
  if (!dso) return [];
  return [await signConsent(escrow, dso, awards.reduce((sum, a) => sum + BigInt(a.amount), 0n))];
}
module.exports = { signPermit, deployEscrow, signConsent, consentsFor, ADMIN_DELAY, REFUND_DELAYS };
