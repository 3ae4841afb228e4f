// Regulated tokens (EURC blocklists addresses): a payment or refund the token refuses is credited as a claimable
// balance and the rest of the batch is paid; refund bounds; one AwardRefunded per award.
const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture, time } = require("@nomicfoundation/hardhat-network-helpers");
const { consentsFor, ADMIN_DELAY, REFUND_DELAYS } = require("./helpers");

const UNIT = 10n ** 6n;
const DAY = 24n * 3600n;
const LOW32 = 0xffffffffn;
const cycleIdOf = (label) => ethers.toBeHex(BigInt(ethers.id(`cycle:${label}`)) & ~LOW32, 32);
const awardIdAt = (cycleId, index) => ethers.toBeHex(BigInt(cycleId) | BigInt(index + 1), 32);
const hashes = (n) => Array.from({ length: n }, (_, i) => ethers.id(`settlement ${i}`));

/** The escrow on a blocklisting token, three listed CPOs and one DSO (funded, approved), one cycle locked. */
async function blocklistFixture() {
  const [deployer, admin, settler, dso, cpo, stranger, cpo2, cpo3, pauser, registrar] = await ethers.getSigners();
  const token = await ethers.deployContract("BlocklistToken", [], deployer);
  const settlement = await ethers.deployContract("FlexSettlement", [
    await token.getAddress(), ADMIN_DELAY, admin.address, pauser.address, registrar.address, settler.address, ...REFUND_DELAYS,
  ]);
  const settlementAddress = await settlement.getAddress();
  await settlement.connect(registrar).registerPayees([cpo.address, cpo2.address, cpo3.address]);
  await token.mint(dso.address, 10_000n * UNIT);
  await token.connect(dso).approve(settlementAddress, ethers.MaxUint256);
  const refundAfter = BigInt(await time.latest()) + DAY;
  const awards = [
    { cpo: cpo.address, amount: 100n * UNIT, awardHash: ethers.id("a0") },
    { cpo: cpo2.address, amount: 50n * UNIT, awardHash: ethers.id("a1") },
    { cpo: cpo3.address, amount: 30n * UNIT, awardHash: ethers.id("a2") },
  ];
  const cycleId = cycleIdOf("blocked");
  await settlement.connect(settler).lockCycle(cycleId, dso.address, refundAfter, awards, await consentsFor(settlement, dso, awards));
  return { token, settlement, settlementAddress, deployer, settler, pauser, dso, cpo, cpo2, cpo3, stranger, awards, cycleId, refundAfter };
}

describe("FlexSettlement with a regulated (blocklisting) token", function () {
  it("credits a refused CPO payment as claimable and pays the rest of the batch", async function () {
    const { token, settlement, settlementAddress, settler, dso, cpo, cpo2, cpo3, awards, cycleId } = await loadFixture(blocklistFixture);
    await token.blocklist(cpo2.address);
    const payouts = [80n * UNIT, 50n * UNIT, 30n * UNIT];

    const tx = settlement.connect(settler).settleCycle(cycleId, awards, payouts, hashes(3));

    await expect(tx).to.changeTokenBalances(token, [cpo, cpo2, cpo3, dso, settlementAddress], [80n * UNIT, 0n, 30n * UNIT, 20n * UNIT, -130n * UNIT]);
    await expect(tx).to.emit(settlement, "PaymentCredited").withArgs(cpo2.address, 50n * UNIT);
    await expect(tx).to.emit(settlement, "AwardSettled").withArgs(awardIdAt(cycleId, 1), cpo2.address, dso.address, 50n * UNIT, 0n, hashes(3)[1]);
    expect(await settlement.claimable(cpo2.address)).to.equal(50n * UNIT);
    expect((await settlement.getCycle(cycleId)).paid).to.equal(160n * UNIT);
    expect(await token.balanceOf(settlementAddress)).to.equal(50n * UNIT);
  });

  it("lets the CPO claim once the token accepts it again, also while paused, and only once", async function () {
    const { token, settlement, settler, pauser, cpo2, awards, cycleId } = await loadFixture(blocklistFixture);
    await token.blocklist(cpo2.address);
    await settlement.connect(settler).settleCycle(cycleId, awards, [0n, 50n * UNIT, 0n], hashes(3));

    await expect(settlement.connect(cpo2).claim()).to.be.revertedWithCustomError(token, "Blocklisted").withArgs(cpo2.address);
    expect(await settlement.claimable(cpo2.address)).to.equal(50n * UNIT);

    await token.unblocklist(cpo2.address);
    await settlement.connect(pauser).pause();
    const claim = settlement.connect(cpo2).claim();
    await expect(claim).to.emit(settlement, "Claimed").withArgs(cpo2.address, 50n * UNIT);
    await expect(claim).to.changeTokenBalance(token, cpo2, 50n * UNIT);
    expect(await settlement.claimable(cpo2.address)).to.equal(0n);
    await expect(settlement.connect(cpo2).claim()).to.be.revertedWithCustomError(settlement, "NothingToClaim").withArgs(cpo2.address);
  });

  it("credits a refused DSO refund at settlement and at expiry", async function () {
    const { token, settlement, settler, dso, awards, cycleId, refundAfter } = await loadFixture(blocklistFixture);
    await token.blocklist(dso.address);
    await expect(settlement.connect(settler).settleCycle(cycleId, awards, [100n * UNIT, 0n, 0n], hashes(3)))
      .to.emit(settlement, "PaymentCredited")
      .withArgs(dso.address, 80n * UNIT);

    await token.unblocklist(dso.address);
    const other = cycleIdOf("other");
    await settlement.connect(settler).lockCycle(other, dso.address, refundAfter, awards, await consentsFor(settlement, dso, awards));
    await token.blocklist(dso.address);
    await time.increaseTo(refundAfter);
    await expect(settlement.refundExpiredCycle(other, awards)).to.emit(settlement, "PaymentCredited").withArgs(dso.address, 180n * UNIT);
    expect(await settlement.claimable(dso.address)).to.equal(260n * UNIT);
  });

  it("emits one AwardRefunded per award (so each CPO sees it on chain) and refuses another list", async function () {
    const { settlement, dso, stranger, awards, cycleId, refundAfter } = await loadFixture(blocklistFixture);
    await time.increaseTo(refundAfter);
    const forged = awards.map((a, i) => (i === 0 ? { ...a, amount: a.amount - 1n } : a));
    await expect(settlement.connect(stranger).refundExpiredCycle(cycleId, forged)).to.be.revertedWithCustomError(settlement, "AwardsMismatch");

    const receipt = await (await settlement.connect(stranger).refundExpiredCycle(cycleId, awards)).wait();
    const events = receipt.logs.map((l) => settlement.interface.parseLog(l)).filter(Boolean);
    expect(events.map((e) => e.name)).to.deep.equal(["AwardRefunded", "AwardRefunded", "AwardRefunded", "CycleRefunded"]);
    for (const [i, e] of events.slice(0, 3).entries()) {
      expect([...e.args]).to.deep.equal([awardIdAt(cycleId, i), awards[i].cpo, dso.address, awards[i].amount]);
    }
  });

  it("accepts refundAfter exactly at both bounds and refuses one second outside either", async function () {
    const { settlement, settler, dso, awards } = await loadFixture(blocklistFixture);
    const [minDelay, maxDelay] = await settlement.refundDelayBounds();
    expect([minDelay, maxDelay]).to.deep.equal(REFUND_DELAYS);
    const s = settlement.connect(settler);
    // Each lock is mined in the next block, one second after the latest.
    for (const [label, delay, ok] of [["min-1", minDelay - 1n, false], ["min", minDelay, true], ["max", maxDelay, true], ["max+1", maxDelay + 1n, false]]) {
      const now = BigInt(await time.latest()) + 1n;
      await time.setNextBlockTimestamp(now);
      const lock = s.lockCycle(cycleIdOf(label), dso.address, now + delay, awards, await consentsFor(s, dso, awards));
      if (ok) await expect(lock).to.emit(settlement, "CycleLocked");
      else {
        await expect(lock)
          .to.be.revertedWithCustomError(settlement, "RefundAfterOutOfBounds")
          .withArgs(now + delay, now + minDelay, now + maxDelay);
      }
    }
  });

  it("refuses inverted refund delay bounds at deployment", async function () {
    const { token, deployer } = await loadFixture(blocklistFixture);
    const [, admin, settler, , , , , , pauser, registrar] = await ethers.getSigners();
    const factory = await ethers.getContractFactory("FlexSettlement");
    await expect(
      factory.connect(deployer).deploy(await token.getAddress(), ADMIN_DELAY, admin.address, pauser.address, registrar.address, settler.address, DAY + 1n, DAY),
    )
      .to.be.revertedWithCustomError(factory, "InvalidRefundDelays")
      .withArgs(DAY + 1n, DAY);
  });
});
