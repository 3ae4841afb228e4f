const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture, time } = require("@nomicfoundation/hardhat-network-helpers");
const { signPermit, deployEscrow } = require("./helpers");

const UNIT = 10n ** 6n; // 1 tEUR
const Status = { None: 0n, Locked: 1n, Settled: 2n, Refunded: 3n };
const SETTLER_ROLE = ethers.id("SETTLER_ROLE");
const PAUSER_ROLE = ethers.id("PAUSER_ROLE");
const DEFAULT_ADMIN_ROLE = ethers.ZeroHash;

const awardId = (label) => ethers.id(`award:${label}`);
const AWARD_HASH = ethers.id("award record");
const SETTLEMENT_HASH = ethers.id("settlement record");
const AMOUNT = 250n * UNIT;
const DAY = 24n * 3600n;

/** Distinct accounts per role so that every role check is meaningful (see helpers.deployEscrow). */
const deployFixture = deployEscrow;

/** The fixture plus one locked award `awardId("a")` of AMOUNT from dso to cpo. */
async function lockedFixture() {
  const f = await deployFixture();
  await f.settlement
    .connect(f.settler)
    .lockAward(awardId("a"), f.dso.address, f.cpo.address, AMOUNT, f.refundAfter, AWARD_HASH);
  return { ...f, id: awardId("a") };
}

/** Token Transfer events emitted by a transaction. */
async function transfersOf(tx, token) {
  const receipt = await tx.wait();
  const tokenAddress = (await token.getAddress()).toLowerCase();
  return receipt.logs
    .filter((log) => log.address.toLowerCase() === tokenAddress)
    .map((log) => token.interface.parseLog(log))
    .filter((parsed) => parsed && parsed.name === "Transfer")
    .map((parsed) => ({ from: parsed.args.from, to: parsed.args.to, value: parsed.args.value }));
}

describe("FlexSettlement", function () {
  describe("interface (the C# client is written against these exact signatures)", function () {
    it("has the agreed function, event and error signatures", async function () {
      const { settlement } = await loadFixture(deployFixture);
      const sig = (fragment) => fragment.format("sighash");
      const i = settlement.interface;
      expect(sig(i.getFunction("lockAward"))).to.equal("lockAward(bytes32,address,address,uint256,uint64,bytes32)");
      expect(sig(i.getFunction("settle"))).to.equal("settle(bytes32,uint256,bytes32)");
      expect(sig(i.getFunction("refundExpired"))).to.equal("refundExpired(bytes32)");
      expect(sig(i.getFunction("getAward"))).to.equal("getAward(bytes32)");
      expect(i.getFunction("getAward").outputs[0].format("sighash")).to.equal(
        "(address,address,uint256,uint64,uint8,bytes32,bytes32,uint256)",
      );
      expect(i.getFunction("getAward").outputs[0].components.map((c) => c.name)).to.deep.equal([
        "dso", "cpo", "amount", "refundAfter", "status", "awardHash", "settlementHash", "paid",
      ]);
      expect(sig(i.getFunction("token"))).to.equal("token()");
      expect(sig(i.getFunction("pause"))).to.equal("pause()");
      expect(sig(i.getFunction("unpause"))).to.equal("unpause()");
      expect(i.deploy.inputs.map((p) => p.type)).to.deep.equal(["address", "address", "address"]);

      expect(sig(i.getEvent("AwardLocked"))).to.equal("AwardLocked(bytes32,address,address,uint256,uint64,bytes32)");
      expect(i.getEvent("AwardLocked").inputs.map((p) => p.indexed)).to.deep.equal([true, true, true, false, false, false]);
      expect(sig(i.getEvent("AwardSettled"))).to.equal("AwardSettled(bytes32,address,address,uint256,uint256,bytes32)");
      expect(i.getEvent("AwardSettled").inputs.map((p) => p.name)).to.deep.equal([
        "awardId", "cpo", "dso", "paid", "refunded", "settlementHash",
      ]);
      expect(i.getEvent("AwardSettled").inputs.map((p) => p.indexed)).to.deep.equal([true, true, true, false, false, false]);
      expect(sig(i.getEvent("AwardRefunded"))).to.equal("AwardRefunded(bytes32,address,uint256)");
      expect(i.getEvent("AwardRefunded").inputs.map((p) => p.indexed)).to.deep.equal([true, true, false]);

      for (const [name, signature] of [
        ["ZeroAddress", "ZeroAddress()"],
        ["ZeroAmount", "ZeroAmount()"],
        ["AwardExists", "AwardExists(bytes32)"],
        ["AwardNotLocked", "AwardNotLocked(bytes32,uint8)"],
        ["PayoutExceedsAmount", "PayoutExceedsAmount(bytes32,uint256,uint256)"],
        ["RefundNotDue", "RefundNotDue(bytes32,uint64)"],
      ]) {
        expect(sig(i.getError(name))).to.equal(signature);
      }
    });

    it("has no state-changing function besides the escrow flow, pausing and role management", async function () {
      // Guards the rule that nobody can move escrowed funds anywhere but to the award's DSO or CPO:
      // a new withdrawal/sweep/upgrade function would have to be added here on purpose.
      const { settlement } = await loadFixture(deployFixture);
      const mutating = settlement.interface.fragments
        .filter((f) => f.type === "function" && !["view", "pure"].includes(f.stateMutability))
        .map((f) => f.name)
        .sort();
      // Issue 7 added the gate-cycle trio on purpose: lockCycle pulls only from the cycle's DSO, settleCycle
      // pays only the committed CPOs and that DSO, refundExpiredCycle pays only that DSO.
      expect(mutating).to.deep.equal(
        [
          "grantRole", "lockAward", "lockCycle", "pause", "refundExpired", "refundExpiredCycle", "renounceRole",
          "revokeRole", "settle", "settleCycle", "unpause",
        ].sort(),
      );
    });
  });

  describe("constructor", function () {
    it("stores the token and grants admin+pauser to admin and settler to settler", async function () {
      const { settlement, token, admin, settler } = await loadFixture(deployFixture);
      expect(await settlement.token()).to.equal(await token.getAddress());
      expect(await settlement.SETTLER_ROLE()).to.equal(SETTLER_ROLE);
      expect(await settlement.PAUSER_ROLE()).to.equal(PAUSER_ROLE);
      expect(await settlement.hasRole(DEFAULT_ADMIN_ROLE, admin.address)).to.equal(true);
      expect(await settlement.hasRole(PAUSER_ROLE, admin.address)).to.equal(true);
      expect(await settlement.hasRole(SETTLER_ROLE, admin.address)).to.equal(false);
      expect(await settlement.hasRole(SETTLER_ROLE, settler.address)).to.equal(true);
      expect(await settlement.hasRole(PAUSER_ROLE, settler.address)).to.equal(false);
      expect(await settlement.hasRole(DEFAULT_ADMIN_ROLE, settler.address)).to.equal(false);
      expect(await settlement.paused()).to.equal(false);
    });

    for (const [which, index] of [["token", 0], ["admin", 1], ["settler", 2]]) {
      it(`reverts ZeroAddress when ${which} is the zero address`, async function () {
        const { token, admin, settler } = await loadFixture(deployFixture);
        const args = [await token.getAddress(), admin.address, settler.address];
        args[index] = ethers.ZeroAddress;
        const factory = await ethers.getContractFactory("FlexSettlement");
        await expect(factory.deploy(...args)).to.be.revertedWithCustomError(factory, "ZeroAddress");
      });
    }
  });

  describe("lockAward", function () {
    it("pulls the amount from the DSO, stores the award and emits AwardLocked", async function () {
      const { settlement, settlementAddress, token, settler, dso, cpo, refundAfter } = await loadFixture(deployFixture);
      const id = awardId("lock");
      const tx = settlement.connect(settler).lockAward(id, dso.address, cpo.address, AMOUNT, refundAfter, AWARD_HASH);
      await expect(tx)
        .to.emit(settlement, "AwardLocked")
        .withArgs(id, dso.address, cpo.address, AMOUNT, refundAfter, AWARD_HASH);
      await expect(tx).to.changeTokenBalances(token, [dso, settlementAddress, cpo], [-AMOUNT, AMOUNT, 0n]);

      const award = await settlement.getAward(id);
      expect(award.dso).to.equal(dso.address);
      expect(award.cpo).to.equal(cpo.address);
      expect(award.amount).to.equal(AMOUNT);
      expect(award.refundAfter).to.equal(refundAfter);
      expect(award.status).to.equal(Status.Locked);
      expect(award.awardHash).to.equal(AWARD_HASH);
      expect(award.settlementHash).to.equal(ethers.ZeroHash);
      expect(award.paid).to.equal(0n);
    });

    it("reverts without allowance (ERC20InsufficientAllowance) and leaves no record", async function () {
      const { settlement, settlementAddress, token, settler, stranger, cpo, refundAfter } = await loadFixture(deployFixture);
      await token.mint(stranger.address, AMOUNT); // funded but never approved the escrow
      const id = awardId("no-allowance");
      await expect(settlement.connect(settler).lockAward(id, stranger.address, cpo.address, AMOUNT, refundAfter, AWARD_HASH))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance")
        .withArgs(settlementAddress, 0n, AMOUNT);
      expect((await settlement.getAward(id)).status).to.equal(Status.None);
    });

    it("reverts when the DSO's balance is too low (ERC20InsufficientBalance)", async function () {
      const { settlement, settlementAddress, token, settler, stranger, cpo, refundAfter } = await loadFixture(deployFixture);
      await token.connect(stranger).approve(settlementAddress, ethers.MaxUint256);
      await expect(
        settlement.connect(settler).lockAward(awardId("poor"), stranger.address, cpo.address, AMOUNT, refundAfter, AWARD_HASH),
      ).to.be.revertedWithCustomError(token, "ERC20InsufficientBalance");
    });

    it("works with an EIP-2612 permit instead of an approve transaction", async function () {
      const { settlement, settlementAddress, token, settler, stranger, cpo, refundAfter } = await loadFixture(deployFixture);
      await token.mint(stranger.address, AMOUNT);
      const deadline = BigInt(await time.latest()) + 3600n;
      const sig = await signPermit(token, stranger, settlementAddress, AMOUNT, deadline);
      // The operator submits the DSO's signed permit, then locks.
      await token.connect(settler).permit(stranger.address, settlementAddress, AMOUNT, deadline, sig.v, sig.r, sig.s);
      await expect(
        settlement.connect(settler).lockAward(awardId("permit"), stranger.address, cpo.address, AMOUNT, refundAfter, AWARD_HASH),
      ).to.changeTokenBalances(token, [stranger, settlementAddress], [-AMOUNT, AMOUNT]);
    });

    it("reverts ZeroAddress for a zero DSO or CPO", async function () {
      const { settlement, settler, dso, cpo, refundAfter } = await loadFixture(deployFixture);
      const s = settlement.connect(settler);
      await expect(s.lockAward(awardId("z1"), ethers.ZeroAddress, cpo.address, AMOUNT, refundAfter, AWARD_HASH))
        .to.be.revertedWithCustomError(settlement, "ZeroAddress");
      await expect(s.lockAward(awardId("z2"), dso.address, ethers.ZeroAddress, AMOUNT, refundAfter, AWARD_HASH))
        .to.be.revertedWithCustomError(settlement, "ZeroAddress");
    });

    it("reverts ZeroAmount for a zero amount", async function () {
      const { settlement, settler, dso, cpo, refundAfter } = await loadFixture(deployFixture);
      await expect(
        settlement.connect(settler).lockAward(awardId("zero"), dso.address, cpo.address, 0n, refundAfter, AWARD_HASH),
      ).to.be.revertedWithCustomError(settlement, "ZeroAmount");
    });

    it("reverts AwardExists for an id that is still locked", async function () {
      const { settlement, settler, dso2, cpo2, refundAfter, id } = await loadFixture(lockedFixture);
      await expect(settlement.connect(settler).lockAward(id, dso2.address, cpo2.address, 1n, refundAfter, AWARD_HASH))
        .to.be.revertedWithCustomError(settlement, "AwardExists")
        .withArgs(id);
    });

    it("reverts AwardExists for an id that was settled (an id is used once, ever)", async function () {
      const { settlement, settler, dso, cpo, refundAfter, id } = await loadFixture(lockedFixture);
      await settlement.connect(settler).settle(id, AMOUNT, SETTLEMENT_HASH);
      await expect(settlement.connect(settler).lockAward(id, dso.address, cpo.address, AMOUNT, refundAfter, AWARD_HASH))
        .to.be.revertedWithCustomError(settlement, "AwardExists")
        .withArgs(id);
    });

    it("reverts AwardExists for an id that was refunded (an id is used once, ever)", async function () {
      const { settlement, settler, dso, cpo, refundAfter, id } = await loadFixture(lockedFixture);
      await time.increaseTo(refundAfter);
      await settlement.refundExpired(id);
      await expect(
        settlement.connect(settler).lockAward(id, dso.address, cpo.address, AMOUNT, refundAfter + DAY, AWARD_HASH),
      )
        .to.be.revertedWithCustomError(settlement, "AwardExists")
        .withArgs(id);
    });

    it("checks the id before the other arguments (a retried lock reports AwardExists)", async function () {
      const { settlement, settler, refundAfter, id } = await loadFixture(lockedFixture);
      await expect(settlement.connect(settler).lockAward(id, ethers.ZeroAddress, ethers.ZeroAddress, 0n, refundAfter, AWARD_HASH))
        .to.be.revertedWithCustomError(settlement, "AwardExists");
    });

    for (const who of ["admin", "dso", "stranger"]) {
      it(`reverts AccessControlUnauthorizedAccount when called by the ${who}`, async function () {
        const f = await loadFixture(deployFixture);
        await expect(
          f.settlement.connect(f[who]).lockAward(awardId("x"), f.dso.address, f.cpo.address, AMOUNT, f.refundAfter, AWARD_HASH),
        )
          .to.be.revertedWithCustomError(f.settlement, "AccessControlUnauthorizedAccount")
          .withArgs(f[who].address, SETTLER_ROLE);
      });
    }

    it("reverts EnforcedPause while paused and works again after unpause", async function () {
      const { settlement, admin, settler, dso, cpo, refundAfter } = await loadFixture(deployFixture);
      await settlement.connect(admin).pause();
      const lock = () =>
        settlement.connect(settler).lockAward(awardId("p"), dso.address, cpo.address, AMOUNT, refundAfter, AWARD_HASH);
      await expect(lock()).to.be.revertedWithCustomError(settlement, "EnforcedPause");
      await settlement.connect(admin).unpause();
      await expect(lock()).to.emit(settlement, "AwardLocked");
    });
  });

  describe("settle", function () {
    const cases = [
      ["full payout", AMOUNT],
      ["partial payout", 173_456_789n],
      ["zero payout", 0n],
    ];
    for (const [label, payout] of cases) {
      it(`pays the exact split for a ${label} and emits the settlement hash`, async function () {
        const { settlement, settlementAddress, token, settler, dso, cpo, id } = await loadFixture(lockedFixture);
        const refunded = AMOUNT - payout;
        const tx = settlement.connect(settler).settle(id, payout, SETTLEMENT_HASH);
        await expect(tx)
          .to.emit(settlement, "AwardSettled")
          .withArgs(id, cpo.address, dso.address, payout, refunded, SETTLEMENT_HASH);
        await expect(tx).to.changeTokenBalances(token, [cpo, dso, settlementAddress], [payout, refunded, -AMOUNT]);

        // Zero transfers are skipped.
        const expected = [];
        if (payout > 0n) expected.push({ from: settlementAddress, to: cpo.address, value: payout });
        if (refunded > 0n) expected.push({ from: settlementAddress, to: dso.address, value: refunded });
        expect(await transfersOf(await tx, token)).to.deep.equal(expected);

        const award = await settlement.getAward(id);
        expect(award.status).to.equal(Status.Settled);
        expect(award.settlementHash).to.equal(SETTLEMENT_HASH);
        expect(award.paid).to.equal(payout);
        expect(award.amount).to.equal(AMOUNT);
        expect(award.awardHash).to.equal(AWARD_HASH);
      });
    }

    it("reverts PayoutExceedsAmount when the payout is larger than the locked amount", async function () {
      const { settlement, settler, id } = await loadFixture(lockedFixture);
      await expect(settlement.connect(settler).settle(id, AMOUNT + 1n, SETTLEMENT_HASH))
        .to.be.revertedWithCustomError(settlement, "PayoutExceedsAmount")
        .withArgs(id, AMOUNT + 1n, AMOUNT);
    });

    it("reverts AwardNotLocked(Settled) on a second settlement, even with another hash or payout", async function () {
      const { settlement, token, settler, cpo, id } = await loadFixture(lockedFixture);
      await settlement.connect(settler).settle(id, 100n * UNIT, SETTLEMENT_HASH);
      const cpoBalance = await token.balanceOf(cpo.address);
      await expect(settlement.connect(settler).settle(id, 100n * UNIT, SETTLEMENT_HASH))
        .to.be.revertedWithCustomError(settlement, "AwardNotLocked")
        .withArgs(id, Status.Settled);
      await expect(settlement.connect(settler).settle(id, AMOUNT, ethers.id("other")))
        .to.be.revertedWithCustomError(settlement, "AwardNotLocked")
        .withArgs(id, Status.Settled);
      expect(await token.balanceOf(cpo.address)).to.equal(cpoBalance);
      expect((await settlement.getAward(id)).settlementHash).to.equal(SETTLEMENT_HASH);
    });

    it("reverts AwardNotLocked(None) for an unknown id", async function () {
      const { settlement, settler } = await loadFixture(deployFixture);
      await expect(settlement.connect(settler).settle(awardId("unknown"), 0n, SETTLEMENT_HASH))
        .to.be.revertedWithCustomError(settlement, "AwardNotLocked")
        .withArgs(awardId("unknown"), Status.None);
    });

    it("reverts AwardNotLocked(Refunded) after a refund", async function () {
      const { settlement, settler, refundAfter, id } = await loadFixture(lockedFixture);
      await time.increaseTo(refundAfter);
      await settlement.refundExpired(id);
      await expect(settlement.connect(settler).settle(id, 0n, SETTLEMENT_HASH))
        .to.be.revertedWithCustomError(settlement, "AwardNotLocked")
        .withArgs(id, Status.Refunded);
    });

    it("still settles after the refund deadline if nobody has refunded yet", async function () {
      const { settlement, token, settler, cpo, refundAfter, id } = await loadFixture(lockedFixture);
      await time.increaseTo(refundAfter + DAY);
      await expect(settlement.connect(settler).settle(id, AMOUNT, SETTLEMENT_HASH)).to.changeTokenBalance(token, cpo, AMOUNT);
    });

    for (const who of ["admin", "dso", "cpo", "stranger"]) {
      it(`reverts AccessControlUnauthorizedAccount when called by the ${who}`, async function () {
        const f = await loadFixture(lockedFixture);
        await expect(f.settlement.connect(f[who]).settle(f.id, AMOUNT, SETTLEMENT_HASH))
          .to.be.revertedWithCustomError(f.settlement, "AccessControlUnauthorizedAccount")
          .withArgs(f[who].address, SETTLER_ROLE);
      });
    }

    it("follows role changes made by the admin", async function () {
      const { settlement, admin, settler, stranger, id } = await loadFixture(lockedFixture);
      await settlement.connect(admin).grantRole(SETTLER_ROLE, stranger.address);
      await settlement.connect(admin).revokeRole(SETTLER_ROLE, settler.address);
      await expect(settlement.connect(settler).settle(id, 0n, SETTLEMENT_HASH)).to.be.revertedWithCustomError(
        settlement,
        "AccessControlUnauthorizedAccount",
      );
      await expect(settlement.connect(stranger).settle(id, 0n, SETTLEMENT_HASH)).to.emit(settlement, "AwardSettled");
    });

    it("reverts EnforcedPause while paused and settles after unpause", async function () {
      const { settlement, admin, settler, id } = await loadFixture(lockedFixture);
      await settlement.connect(admin).pause();
      await expect(settlement.connect(settler).settle(id, AMOUNT, SETTLEMENT_HASH)).to.be.revertedWithCustomError(
        settlement,
        "EnforcedPause",
      );
      await settlement.connect(admin).unpause();
      await expect(settlement.connect(settler).settle(id, AMOUNT, SETTLEMENT_HASH)).to.emit(settlement, "AwardSettled");
    });
  });

  describe("refundExpired", function () {
    it("reverts RefundNotDue before the deadline (time.increaseTo)", async function () {
      const { settlement, stranger, refundAfter, id } = await loadFixture(lockedFixture);
      await time.increaseTo(refundAfter - 3600n);
      await expect(settlement.connect(stranger).refundExpired(id))
        .to.be.revertedWithCustomError(settlement, "RefundNotDue")
        .withArgs(id, refundAfter);
    });

    it("reverts one second before the deadline and refunds exactly at it", async function () {
      const { settlement, stranger, refundAfter, id } = await loadFixture(lockedFixture);
      await time.setNextBlockTimestamp(refundAfter - 1n);
      await expect(settlement.connect(stranger).refundExpired(id)).to.be.revertedWithCustomError(settlement, "RefundNotDue");
      await time.setNextBlockTimestamp(refundAfter);
      await expect(settlement.connect(stranger).refundExpired(id)).to.emit(settlement, "AwardRefunded");
    });

    it("lets anyone refund the full amount to the DSO after the deadline", async function () {
      const { settlement, settlementAddress, token, stranger, dso, cpo, refundAfter, id } = await loadFixture(lockedFixture);
      await time.increaseTo(refundAfter + 1n);
      const tx = settlement.connect(stranger).refundExpired(id);
      await expect(tx).to.emit(settlement, "AwardRefunded").withArgs(id, dso.address, AMOUNT);
      await expect(tx).to.changeTokenBalances(token, [dso, settlementAddress, cpo, stranger], [AMOUNT, -AMOUNT, 0n, 0n]);
      const award = await settlement.getAward(id);
      expect(award.status).to.equal(Status.Refunded);
      expect(award.paid).to.equal(0n);
      expect(award.settlementHash).to.equal(ethers.ZeroHash);
    });

    it("works while paused, so escrowed funds are never stuck", async function () {
      const { settlement, token, admin, dso, stranger, refundAfter, id } = await loadFixture(lockedFixture);
      await settlement.connect(admin).pause();
      await time.increaseTo(refundAfter);
      await expect(settlement.connect(stranger).refundExpired(id)).to.changeTokenBalance(token, dso, AMOUNT);
    });

    it("reverts AwardNotLocked for an unknown, settled or already refunded award", async function () {
      const { settlement, settler, dso, cpo, refundAfter, id } = await loadFixture(lockedFixture);
      await expect(settlement.refundExpired(awardId("unknown")))
        .to.be.revertedWithCustomError(settlement, "AwardNotLocked")
        .withArgs(awardId("unknown"), Status.None);

      await settlement.connect(settler).lockAward(awardId("b"), dso.address, cpo.address, AMOUNT, refundAfter, AWARD_HASH);
      await settlement.connect(settler).settle(awardId("b"), 1n, SETTLEMENT_HASH);
      await time.increaseTo(refundAfter);
      await expect(settlement.refundExpired(awardId("b")))
        .to.be.revertedWithCustomError(settlement, "AwardNotLocked")
        .withArgs(awardId("b"), Status.Settled);

      await settlement.refundExpired(id);
      await expect(settlement.refundExpired(id))
        .to.be.revertedWithCustomError(settlement, "AwardNotLocked")
        .withArgs(id, Status.Refunded);
    });
  });

  describe("pause / unpause", function () {
    it("lets only the pauser pause and unpause, emitting Paused/Unpaused", async function () {
      const { settlement, admin } = await loadFixture(deployFixture);
      await expect(settlement.connect(admin).pause()).to.emit(settlement, "Paused").withArgs(admin.address);
      expect(await settlement.paused()).to.equal(true);
      await expect(settlement.connect(admin).unpause()).to.emit(settlement, "Unpaused").withArgs(admin.address);
      expect(await settlement.paused()).to.equal(false);
    });

    for (const who of ["settler", "dso", "stranger"]) {
      it(`reverts AccessControlUnauthorizedAccount for pause/unpause by the ${who}`, async function () {
        const f = await loadFixture(deployFixture);
        await expect(f.settlement.connect(f[who]).pause())
          .to.be.revertedWithCustomError(f.settlement, "AccessControlUnauthorizedAccount")
          .withArgs(f[who].address, PAUSER_ROLE);
        await f.settlement.connect(f.admin).pause();
        await expect(f.settlement.connect(f[who]).unpause())
          .to.be.revertedWithCustomError(f.settlement, "AccessControlUnauthorizedAccount")
          .withArgs(f[who].address, PAUSER_ROLE);
      });
    }

    it("reverts EnforcedPause when pausing twice and ExpectedPause when unpausing while running", async function () {
      const { settlement, admin } = await loadFixture(deployFixture);
      await expect(settlement.connect(admin).unpause()).to.be.revertedWithCustomError(settlement, "ExpectedPause");
      await settlement.connect(admin).pause();
      await expect(settlement.connect(admin).pause()).to.be.revertedWithCustomError(settlement, "EnforcedPause");
    });

    it("lets the admin grant the pauser role to another account", async function () {
      const { settlement, admin, stranger } = await loadFixture(deployFixture);
      await settlement.connect(admin).grantRole(PAUSER_ROLE, stranger.address);
      await expect(settlement.connect(stranger).pause()).to.emit(settlement, "Paused");
    });
  });

  describe("getAward", function () {
    it("returns an all-zero record with status None for an unused id", async function () {
      const { settlement } = await loadFixture(deployFixture);
      const award = await settlement.getAward(awardId("never"));
      expect(award.dso).to.equal(ethers.ZeroAddress);
      expect(award.cpo).to.equal(ethers.ZeroAddress);
      expect(award.amount).to.equal(0n);
      expect(award.refundAfter).to.equal(0n);
      expect(award.status).to.equal(Status.None);
      expect(award.awardHash).to.equal(ethers.ZeroHash);
      expect(award.settlementHash).to.equal(ethers.ZeroHash);
      expect(award.paid).to.equal(0n);
    });

    it("returns the stored record in field order and keeps awards independent", async function () {
      const { settlement, settler, dso, cpo, dso2, cpo2, refundAfter, id } = await loadFixture(lockedFixture);
      const other = awardId("other");
      await settlement.connect(settler).lockAward(other, dso2.address, cpo2.address, 7n, refundAfter + 5n, ethers.id("h2"));
      await settlement.connect(settler).settle(other, 3n, ethers.id("s2"));
      expect([...(await settlement.getAward(id))]).to.deep.equal([
        dso.address, cpo.address, AMOUNT, refundAfter, Status.Locked, AWARD_HASH, ethers.ZeroHash, 0n,
      ]);
      expect([...(await settlement.getAward(other))]).to.deep.equal([
        dso2.address, cpo2.address, 7n, refundAfter + 5n, Status.Settled, ethers.id("h2"), ethers.id("s2"), 3n,
      ]);
    });
  });

  describe("accounting", function () {
    it("holds exactly the sum of the still-locked amounts through a mixed sequence", async function () {
      const { settlement, settlementAddress, token, settler, dso, cpo, dso2, cpo2, refundAfter } =
        await loadFixture(deployFixture);
      const s = settlement.connect(settler);
      await s.lockAward(awardId(1), dso.address, cpo.address, 100n, refundAfter, AWARD_HASH);
      await s.lockAward(awardId(2), dso2.address, cpo2.address, 200n, refundAfter + DAY, AWARD_HASH);
      await s.lockAward(awardId(3), dso.address, cpo2.address, 300n, refundAfter, AWARD_HASH);
      expect(await token.balanceOf(settlementAddress)).to.equal(600n);
      await s.settle(awardId(2), 150n, SETTLEMENT_HASH);
      expect(await token.balanceOf(settlementAddress)).to.equal(400n);
      await time.increaseTo(refundAfter);
      await settlement.refundExpired(awardId(1));
      expect(await token.balanceOf(settlementAddress)).to.equal(300n);
      await s.settle(awardId(3), 300n, SETTLEMENT_HASH);
      expect(await token.balanceOf(settlementAddress)).to.equal(0n);
      expect(await token.balanceOf(cpo2.address)).to.equal(450n);
    });
  });

  describe("reentrancy (malicious token calling back during transfers)", function () {
    /**
     * Escrow on a ReentrantToken. The token itself holds SETTLER_ROLE so that the role check cannot be
     * what stops its callbacks: only the reentrancy guard stands in the way.
     */
    async function reentrantFixture() {
      const [, admin, settler, dso, cpo, stranger] = await ethers.getSigners();
      const evil = await ethers.deployContract("ReentrantToken");
      const evilAddress = await evil.getAddress();
      const settlement = await ethers.deployContract("FlexSettlement", [evilAddress, admin.address, settler.address]);
      const settlementAddress = await settlement.getAddress();
      await settlement.connect(admin).grantRole(SETTLER_ROLE, evilAddress);
      await evil.mint(dso.address, 10_000n);
      await evil.connect(dso).approve(settlementAddress, ethers.MaxUint256);
      const refundAfter = BigInt(await time.latest()) + DAY;
      // Two locked awards: "victim" is the one the callback targets, "outer" the one being processed.
      for (const label of ["victim", "outer"]) {
        await settlement.connect(settler).lockAward(awardId(label), dso.address, cpo.address, 1_000n, refundAfter, AWARD_HASH);
      }
      return { evil, settlement, settlementAddress, admin, settler, dso, cpo, stranger, refundAfter };
    }
    const Attack = { None: 0, Settle: 1, RefundExpired: 2, LockAward: 3 };

    async function expectUnchanged(f) {
      expect(await f.evil.balanceOf(f.settlementAddress)).to.equal(2_000n);
      expect((await f.settlement.getAward(awardId("victim"))).status).to.equal(Status.Locked);
      expect((await f.settlement.getAward(awardId("outer"))).status).to.equal(Status.Locked);
    }

    it("the unarmed token settles normally (control)", async function () {
      const f = await loadFixture(reentrantFixture);
      await f.evil.arm(f.settlementAddress, Attack.None, ethers.ZeroHash, 0n);
      await expect(f.settlement.connect(f.settler).settle(awardId("outer"), 400n, SETTLEMENT_HASH))
        .to.emit(f.settlement, "AwardSettled");
    });

    it("blocks settle -> settle", async function () {
      const f = await loadFixture(reentrantFixture);
      await f.evil.arm(f.settlementAddress, Attack.Settle, awardId("victim"), 1_000n);
      await expect(f.settlement.connect(f.settler).settle(awardId("outer"), 400n, SETTLEMENT_HASH))
        .to.be.revertedWithCustomError(f.settlement, "ReentrancyGuardReentrantCall");
      await expectUnchanged(f);
    });

    it("blocks settle -> refundExpired", async function () {
      const f = await loadFixture(reentrantFixture);
      await time.increaseTo(f.refundAfter);
      await f.evil.arm(f.settlementAddress, Attack.RefundExpired, awardId("victim"), 0n);
      await expect(f.settlement.connect(f.settler).settle(awardId("outer"), 0n, SETTLEMENT_HASH))
        .to.be.revertedWithCustomError(f.settlement, "ReentrancyGuardReentrantCall");
      await expectUnchanged(f);
    });

    it("blocks refundExpired -> refundExpired (same and other award)", async function () {
      const f = await loadFixture(reentrantFixture);
      await time.increaseTo(f.refundAfter);
      for (const target of ["victim", "outer"]) {
        await f.evil.arm(f.settlementAddress, Attack.RefundExpired, awardId(target), 0n);
        await expect(f.settlement.connect(f.stranger).refundExpired(awardId("outer")))
          .to.be.revertedWithCustomError(f.settlement, "ReentrancyGuardReentrantCall");
        await expectUnchanged(f);
      }
    });

    it("blocks refundExpired -> settle", async function () {
      const f = await loadFixture(reentrantFixture);
      await time.increaseTo(f.refundAfter);
      await f.evil.arm(f.settlementAddress, Attack.Settle, awardId("victim"), 1_000n);
      await expect(f.settlement.connect(f.stranger).refundExpired(awardId("outer")))
        .to.be.revertedWithCustomError(f.settlement, "ReentrancyGuardReentrantCall");
      await expectUnchanged(f);
    });

    it("blocks lockAward -> settle of the award being locked", async function () {
      const f = await loadFixture(reentrantFixture);
      const id = awardId("new");
      await f.evil.arm(f.settlementAddress, Attack.Settle, id, 500n);
      await expect(f.settlement.connect(f.settler).lockAward(id, f.dso.address, f.cpo.address, 500n, f.refundAfter, AWARD_HASH))
        .to.be.revertedWithCustomError(f.settlement, "ReentrancyGuardReentrantCall");
      expect((await f.settlement.getAward(id)).status).to.equal(Status.None);
      await expectUnchanged(f);
    });

    it("blocks lockAward -> lockAward", async function () {
      const f = await loadFixture(reentrantFixture);
      await f.evil.arm(f.settlementAddress, Attack.LockAward, awardId("nested"), 1n);
      await expect(
        f.settlement.connect(f.settler).lockAward(awardId("new"), f.dso.address, f.cpo.address, 500n, f.refundAfter, AWARD_HASH),
      ).to.be.revertedWithCustomError(f.settlement, "ReentrancyGuardReentrantCall");
      await expectUnchanged(f);
    });
  });
});
