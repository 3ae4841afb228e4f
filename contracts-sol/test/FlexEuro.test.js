const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture, time } = require("@nomicfoundation/hardhat-network-helpers");
const { signPermit } = require("./helpers");

const UNIT = 10n ** 6n; // 1 tEUR in base units

async function deployFlexEuro() {
  const [owner, alice, bob, spender] = await ethers.getSigners();
  const token = await ethers.deployContract("FlexEuro", [6], owner);
  await token.waitForDeployment();
  return { token, owner, alice, bob, spender };
}

describe("FlexEuro", function () {
  describe("metadata", function () {
    it("has the name, symbol and 6 decimals of a EURC-like test token", async function () {
      const { token } = await loadFixture(deployFlexEuro);
      expect(await token.name()).to.equal("FlexChain Test Euro");
      expect(await token.symbol()).to.equal("tEUR");
      expect(await token.decimals()).to.equal(6n);
      expect(await token.totalSupply()).to.equal(0n);
    });

    it("has the decimals it is deployed with: 18 like EURe", async function () {
      const [owner, alice] = await ethers.getSigners();
      const token = await ethers.deployContract("FlexEuro", [18], owner);
      expect(await token.decimals()).to.equal(18n);
      // 10^24 units (1,000,000 tEUR) is far beyond 64 bits; the token counts it exactly.
      await token.mint(alice.address, 10n ** 24n);
      expect(await token.balanceOf(alice.address)).to.equal(10n ** 24n);
    });

    it("makes the deployer the owner", async function () {
      const { token, owner } = await loadFixture(deployFlexEuro);
      expect(await token.owner()).to.equal(owner.address);
    });

    it("exposes an EIP-712 domain named after the token, version 1", async function () {
      const { token } = await loadFixture(deployFlexEuro);
      const domain = await token.eip712Domain();
      expect(domain.name).to.equal("FlexChain Test Euro");
      expect(domain.version).to.equal("1");
      expect(domain.chainId).to.equal(31337n);
      expect(domain.verifyingContract).to.equal(await token.getAddress());
    });
  });

  describe("mint", function () {
    it("lets the owner mint to any account", async function () {
      const { token, alice } = await loadFixture(deployFlexEuro);
      await expect(token.mint(alice.address, 1_000n * UNIT))
        .to.emit(token, "Transfer")
        .withArgs(ethers.ZeroAddress, alice.address, 1_000n * UNIT);
      expect(await token.balanceOf(alice.address)).to.equal(1_000n * UNIT);
      expect(await token.totalSupply()).to.equal(1_000n * UNIT);
    });

    it("reverts for anyone but the owner", async function () {
      const { token, alice } = await loadFixture(deployFlexEuro);
      await expect(token.connect(alice).mint(alice.address, UNIT))
        .to.be.revertedWithCustomError(token, "OwnableUnauthorizedAccount")
        .withArgs(alice.address);
    });

    it("reverts when minting to the zero address", async function () {
      const { token } = await loadFixture(deployFlexEuro);
      await expect(token.mint(ethers.ZeroAddress, UNIT))
        .to.be.revertedWithCustomError(token, "ERC20InvalidReceiver")
        .withArgs(ethers.ZeroAddress);
    });

    it("follows ownership transfers", async function () {
      const { token, owner, alice } = await loadFixture(deployFlexEuro);
      await token.transferOwnership(alice.address);
      await expect(token.mint(owner.address, UNIT)).to.be.revertedWithCustomError(token, "OwnableUnauthorizedAccount");
      await token.connect(alice).mint(alice.address, UNIT);
      expect(await token.balanceOf(alice.address)).to.equal(UNIT);
    });
  });

  describe("permit (EIP-2612)", function () {
    it("sets an allowance from an off-chain signature and bumps the nonce", async function () {
      const { token, alice, spender, bob } = await loadFixture(deployFlexEuro);
      await token.mint(alice.address, 100n * UNIT);
      const deadline = BigInt(await time.latest()) + 3600n;
      const sig = await signPermit(token, alice, spender, 40n * UNIT, deadline);

      // Anyone (here bob) can submit the permit; alice pays no gas.
      await expect(token.connect(bob).permit(alice.address, spender.address, 40n * UNIT, deadline, sig.v, sig.r, sig.s))
        .to.emit(token, "Approval")
        .withArgs(alice.address, spender.address, 40n * UNIT);
      expect(await token.allowance(alice.address, spender.address)).to.equal(40n * UNIT);
      expect(await token.nonces(alice.address)).to.equal(1n);

      await token.connect(spender).transferFrom(alice.address, bob.address, 40n * UNIT);
      expect(await token.balanceOf(bob.address)).to.equal(40n * UNIT);
    });

    it("rejects a replayed permit", async function () {
      const { token, alice, spender } = await loadFixture(deployFlexEuro);
      const deadline = BigInt(await time.latest()) + 3600n;
      const sig = await signPermit(token, alice, spender, UNIT, deadline);
      await token.permit(alice.address, spender.address, UNIT, deadline, sig.v, sig.r, sig.s);
      await expect(
        token.permit(alice.address, spender.address, UNIT, deadline, sig.v, sig.r, sig.s),
      ).to.be.revertedWithCustomError(token, "ERC2612InvalidSigner");
    });

    it("rejects a permit signed by someone other than the owner", async function () {
      const { token, alice, bob, spender } = await loadFixture(deployFlexEuro);
      const deadline = BigInt(await time.latest()) + 3600n;
      const sig = await signPermit(token, bob, spender, UNIT, deadline, { owner: alice.address });
      await expect(token.permit(alice.address, spender.address, UNIT, deadline, sig.v, sig.r, sig.s))
        .to.be.revertedWithCustomError(token, "ERC2612InvalidSigner")
        .withArgs(bob.address, alice.address);
    });

    it("rejects an expired permit", async function () {
      const { token, alice, spender } = await loadFixture(deployFlexEuro);
      const deadline = BigInt(await time.latest()) + 60n;
      const sig = await signPermit(token, alice, spender, UNIT, deadline);
      await time.increaseTo(deadline + 1n);
      await expect(token.permit(alice.address, spender.address, UNIT, deadline, sig.v, sig.r, sig.s))
        .to.be.revertedWithCustomError(token, "ERC2612ExpiredSignature")
        .withArgs(deadline);
    });
  });
});
