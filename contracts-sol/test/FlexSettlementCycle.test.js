// Gate-cycle escrow of FlexSettlement: lockCycle / settleCycle / refundExpiredCycle, the ids and the commitment,
// the views for wallet holders, reentrancy and the gas targets.
const { expect } = require("chai");
const hre = require("hardhat");
const { loadFixture, time } = require("@nomicfoundation/hardhat-network-helpers");
const { deployEscrow, consentsFor, ADMIN_DELAY, REFUND_DELAYS } = require("./helpers");

const { ethers } = hre;
const UNIT = 10n ** 6n; // 1 tEUR
const Status = { None: 0n, Locked: 1n, Settled: 2n, Refunded: 3n };
const SETTLER_ROLE = ethers.id("SETTLER_ROLE");
const DAY = 24n * 3600n;
const LOW32 = 0xffffffffn;
const MAX_CYCLE_AWARDS = LOW32;
const AWARD_HASH = ethers.id("award record");

/** A cycle id: any 32-byte value with its low 32 bits cleared. */
const cycleIdOf = (label) => ethers.toBeHex(BigInt(ethers.id(`cycle:${label}`)) & ~LOW32, 32);
/** The id of the award at 0-based `index` of cycle `cycleId` (the contract's rule). */
const awardIdAt = (cycleId, index) => ethers.toBeHex(BigInt(cycleId) | BigInt(index + 1), 32);
/** The commitment the C# side must build: keccak256 of abi.encode(CycleAward[]). */
const awardsHashOf = (awards) =>
  ethers.keccak256(
    ethers.AbiCoder.defaultAbiCoder().encode(
      ["tuple(address cpo,uint256 amount,bytes32 awardHash)[]"],
      [awards.map((a) => [a.cpo, a.amount, a.awardHash])],
    ),
  );
const settlementHashes = (n, tag = "") => Array.from({ length: n }, (_, i) => ethers.id(`settlement ${tag} ${i}`));

async function deployFixture() {
  const base = await deployEscrow();
  const { cpo, cpo2, cpo3 } = base;
  // cpo appears twice: a CPO may win several awards in one gate cycle.
  const awards = [
    { cpo: cpo.address, amount: 100n * UNIT, awardHash: ethers.id("award 0") },
    { cpo: cpo2.address, amount: 250n * UNIT, awardHash: ethers.id("award 1") },
    { cpo: cpo3.address, amount: 40n * UNIT, awardHash: ethers.id("award 2") },
    { cpo: cpo.address, amount: 10n * UNIT, awardHash: ethers.id("award 3") },
  ];
  const total = awards.reduce((sum, a) => sum + a.amount, 0n);
  return { ...base, awards, total };
}

/** The fixture plus cycle `cycleIdOf("c")` locked with `awards` from dso. */
async function lockedFixture() {
  const f = await deployFixture();
  const cycleId = cycleIdOf("c");
  await f.settlement.connect(f.settler).lockCycle(cycleId, f.dso.address, f.refundAfter, f.awards, await consentsFor(f.settlement, f.dso, f.awards));
  return { ...f, cycleId };
}

/** Parsed logs of one contract in a transaction, in order. */
async function logsOf(tx, contract) {
  const receipt = await (await tx).wait();
  const address = (await contract.getAddress()).toLowerCase();
  return receipt.logs
    .filter((log) => log.address.toLowerCase() === address)
    .map((log) => contract.interface.parseLog(log))
    .filter(Boolean);
}

async function transfersOf(tx, token) {
  return (await logsOf(tx, token))
    .filter((p) => p.name === "Transfer")
    .map((p) => ({ from: p.args.from, to: p.args.to, value: p.args.value }));
}

describe("FlexSettlement gate cycles", function () {
  describe("interface (the C# client builds against these exact signatures)", function () {
    it("has the agreed cycle function, event and error signatures", async function () {
      const { settlement } = await loadFixture(deployFixture);
      const i = settlement.interface;
      const sig = (fragment) => fragment.format("sighash");
      const AWARDS = "(address,uint256,bytes32)[]";
      const CONSENTS = "(bytes32,uint256,uint256,uint256,uint256,bytes)[]";
      expect(sig(i.getFunction("lockCycle"))).to.equal(`lockCycle(bytes32,address,uint64,${AWARDS},${CONSENTS})`);
      expect(i.getFunction("lockCycle").inputs[4].arrayChildren.components.map((c) => c.name)).to.deep.equal([
        "requestHash", "maxAmount", "deadline", "nonce", "amount", "signature",
      ]);
      expect(sig(i.getFunction("consentDrawn"))).to.equal("consentDrawn(address,uint256)");
      expect(sig(i.getFunction("consentDigest"))).to.equal("consentDigest(bytes32,uint256,uint256,uint256)");
      expect(i.getFunction("lockCycle").inputs[3].arrayChildren.components.map((c) => c.name)).to.deep.equal([
        "cpo", "amount", "awardHash",
      ]);
      expect(sig(i.getFunction("settleCycle"))).to.equal(`settleCycle(bytes32,${AWARDS},uint256[],bytes32[])`);
      expect(sig(i.getFunction("refundExpiredCycle"))).to.equal(`refundExpiredCycle(bytes32,${AWARDS})`);
      expect(sig(i.getFunction("getCycle"))).to.equal("getCycle(bytes32)");
      expect(i.getFunction("getCycle").outputs[0].format("sighash")).to.equal(
        "(address,uint64,uint8,uint128,uint128,bytes32)",
      );
      expect(i.getFunction("getCycle").outputs[0].components.map((c) => c.name)).to.deep.equal([
        "dso", "refundAfter", "status", "total", "paid", "awardsHash",
      ]);
      expect(sig(i.getFunction("cycleAwardId"))).to.equal("cycleAwardId(bytes32,uint256)");
      expect(sig(i.getFunction("CYCLE_ID_MASK"))).to.equal("CYCLE_ID_MASK()");
      expect(sig(i.getFunction("MAX_CYCLE_AWARDS"))).to.equal("MAX_CYCLE_AWARDS()");

      expect(sig(i.getEvent("CycleLocked"))).to.equal("CycleLocked(bytes32,address,uint256,uint64,uint256,bytes32)");
      expect(i.getEvent("CycleLocked").inputs.map((p) => p.indexed)).to.deep.equal([true, true, false, false, false, false]);
      expect(sig(i.getEvent("CycleSettled"))).to.equal("CycleSettled(bytes32,address,uint256,uint256)");
      expect(i.getEvent("CycleSettled").inputs.map((p) => p.indexed)).to.deep.equal([true, true, false, false]);
      expect(sig(i.getEvent("CycleRefunded"))).to.equal("CycleRefunded(bytes32,address,uint256)");
      expect(i.getEvent("CycleRefunded").inputs.map((p) => p.indexed)).to.deep.equal([true, true, false]);

      for (const [name, signature] of [
        ["InvalidCycleId", "InvalidCycleId(bytes32)"],
        ["AwardIndexOutOfRange", "AwardIndexOutOfRange(uint256)"],
        ["CycleExists", "CycleExists(bytes32)"],
        ["EmptyCycle", "EmptyCycle()"],
        ["LengthMismatch", "LengthMismatch(uint256,uint256,uint256)"],
        ["AwardsMismatch", "AwardsMismatch(bytes32,bytes32,bytes32)"],
        ["CycleNotLocked", "CycleNotLocked(bytes32,uint8)"],
      ]) {
        expect(sig(i.getError(name))).to.equal(signature);
      }
    });
  });

  describe("ids: cycleAwardId, CYCLE_ID_MASK, MAX_CYCLE_AWARDS", function () {
    it("derives award ids as cycleId | (index + 1)", async function () {
      const { settlement } = await loadFixture(deployFixture);
      const c = cycleIdOf("ids");
      expect(await settlement.CYCLE_ID_MASK()).to.equal(ethers.toBeHex(ethers.MaxUint256 & ~LOW32, 32));
      expect(await settlement.MAX_CYCLE_AWARDS()).to.equal(MAX_CYCLE_AWARDS);
      expect(await settlement.cycleAwardId(c, 0)).to.equal(awardIdAt(c, 0));
      expect(await settlement.cycleAwardId(c, 41)).to.equal(ethers.toBeHex(BigInt(c) + 42n, 32));
      expect(await settlement.cycleAwardId(c, MAX_CYCLE_AWARDS - 1n)).to.equal(ethers.toBeHex(BigInt(c) | LOW32, 32));
      expect(await settlement.cycleAwardId(ethers.ZeroHash, 0)).to.equal(ethers.toBeHex(1n, 32));
    });

    it("reverts AwardIndexOutOfRange from MAX_CYCLE_AWARDS on", async function () {
      const { settlement } = await loadFixture(deployFixture);
      for (const index of [MAX_CYCLE_AWARDS, MAX_CYCLE_AWARDS + 1n, ethers.MaxUint256]) {
        await expect(settlement.cycleAwardId(cycleIdOf("ids"), index))
          .to.be.revertedWithCustomError(settlement, "AwardIndexOutOfRange")
          .withArgs(index);
      }
    });

    it("reverts InvalidCycleId when any of the low 32 bits is set", async function () {
      const { settlement } = await loadFixture(deployFixture);
      for (const low of [1n, 0x80000000n, LOW32]) {
        const bad = ethers.toBeHex(BigInt(cycleIdOf("ids")) | low, 32);
        await expect(settlement.cycleAwardId(bad, 0)).to.be.revertedWithCustomError(settlement, "InvalidCycleId").withArgs(bad);
      }
    });
  });

  describe("lockCycle", function () {
    it("pulls the total from the DSO in one transfer, stores the commitment and emits CycleLocked only", async function () {
      const { settlement, settlementAddress, token, settler, dso, cpo, refundAfter, awards, total } =
        await loadFixture(deployFixture);
      const c = cycleIdOf("lock");
      const tx = settlement.connect(settler).lockCycle(c, dso.address, refundAfter, awards, await consentsFor(settlement, dso, awards));
      const hash = awardsHashOf(awards);
      await expect(tx).to.emit(settlement, "CycleLocked").withArgs(c, dso.address, total, refundAfter, awards.length, hash);
      await expect(tx).to.changeTokenBalances(token, [dso, settlementAddress, cpo], [-total, total, 0n]);
      expect(await transfersOf(tx, token)).to.deep.equal([{ from: dso.address, to: settlementAddress, value: total }]);
      expect((await logsOf(tx, settlement)).map((p) => p.name)).to.deep.equal(["CycleLocked"]);

      const cycle = await settlement.getCycle(c);
      expect([...cycle]).to.deep.equal([dso.address, refundAfter, Status.Locked, total, 0n, hash]);
      expect(cycle.awardsHash).to.equal(hash);
    });

    it("commits to keccak256(abi.encode(awards)), sensitive to every field and the order", async function () {
      const { settlement, settler, dso, refundAfter, awards } = await loadFixture(deployFixture);
      const variants = [
        awards,
        [...awards].reverse(),
        awards.map((a, i) => (i === 2 ? { ...a, amount: a.amount + 1n } : a)),
        awards.slice(0, 1),
      ];
      const hashes = [];
      for (const [k, list] of variants.entries()) {
        const c = cycleIdOf(`commit ${k}`);
        await settlement.connect(settler).lockCycle(c, dso.address, refundAfter, list, await consentsFor(settlement, dso, list));
        const stored = (await settlement.getCycle(c)).awardsHash;
        expect(stored).to.equal(awardsHashOf(list));
        hashes.push(stored);
      }
      expect(new Set(hashes).size).to.equal(variants.length);
    });

    it("matches the published test vector for the commitment and the award ids (README)", async function () {
      const { settlement, settler, registrar, dso, refundAfter } = await loadFixture(deployFixture);
      await settlement.connect(registrar).registerPayees([ethers.toBeHex(0xc1, 20), ethers.toBeHex(0xc2, 20)]);
      const awards = [
        { cpo: "0x00000000000000000000000000000000000000C1", amount: 1_500_000n, awardHash: ethers.id("award record 1") },
        { cpo: "0x00000000000000000000000000000000000000c2", amount: 250n, awardHash: ethers.id("award record 2") },
      ];
      const c = ethers.toBeHex(BigInt(ethers.id("cycle 2026-11-22T10:00Z")) & ~LOW32, 32);
      expect(c).to.equal("0xe3bd1e38646d80521d882c61b2e53eacb20f861015d35366f3a32cea00000000");
      await settlement.connect(settler).lockCycle(c, dso.address, refundAfter, awards, await consentsFor(settlement, dso, awards));
      expect((await settlement.getCycle(c)).awardsHash).to.equal(
        "0xb959da4dafdbbf0d5f184f20c53706476663f698d161bf846b4ab81098ab928a",
      );
      expect(await settlement.cycleAwardId(c, 1)).to.equal(
        "0xe3bd1e38646d80521d882c61b2e53eacb20f861015d35366f3a32cea00000002",
      );
    });

    for (const who of ["admin", "dso", "cpo", "stranger"]) {
      it(`reverts AccessControlUnauthorizedAccount when called by the ${who}`, async function () {
        const f = await loadFixture(deployFixture);
        await expect(f.settlement.connect(f[who]).lockCycle(cycleIdOf("x"), f.dso.address, f.refundAfter, f.awards, await consentsFor(f.settlement, f.dso, f.awards)))
          .to.be.revertedWithCustomError(f.settlement, "AccessControlUnauthorizedAccount")
          .withArgs(f[who].address, SETTLER_ROLE);
      });
    }

    it("reverts EnforcedPause while paused and locks after unpause", async function () {
      const { settlement, pauser, settler, dso, refundAfter, awards } = await loadFixture(deployFixture);
      await settlement.connect(pauser).pause();
      const s = settlement.connect(settler);
      await expect(s.lockCycle(cycleIdOf("p"), dso.address, refundAfter, awards, await consentsFor(s, dso, awards))).to.be.revertedWithCustomError(
        settlement,
        "EnforcedPause",
      );
      await settlement.connect(pauser).unpause();
      await expect(s.lockCycle(cycleIdOf("p"), dso.address, refundAfter, awards, await consentsFor(s, dso, awards))).to.emit(settlement, "CycleLocked");
    });

    it("reverts InvalidCycleId when the low 32 bits of the cycle id are not zero", async function () {
      const { settlement, settler, dso, refundAfter, awards } = await loadFixture(deployFixture);
      const bad = ethers.toBeHex(BigInt(cycleIdOf("bad")) | 7n, 32);
      await expect(settlement.connect(settler).lockCycle(bad, dso.address, refundAfter, awards, await consentsFor(settlement, dso, awards)))
        .to.be.revertedWithCustomError(settlement, "InvalidCycleId")
        .withArgs(bad);
    });

    it("reverts CycleExists for a locked, settled or refunded cycle id, before checking anything else", async function () {
      const { settlement, settler, dso, dso2, refundAfter, awards, cycleId } = await loadFixture(lockedFixture);
      const s = settlement.connect(settler);
      await expect(s.lockCycle(cycleId, dso.address, refundAfter, awards, await consentsFor(s, dso, awards)))
        .to.be.revertedWithCustomError(settlement, "CycleExists")
        .withArgs(cycleId);
      await expect(s.lockCycle(cycleId, ethers.ZeroAddress, refundAfter, [], await consentsFor(s, null, [])))
        .to.be.revertedWithCustomError(settlement, "CycleExists")
        .withArgs(cycleId);

      await s.settleCycle(cycleId, awards, awards.map(() => 0n), settlementHashes(awards.length));
      await expect(s.lockCycle(cycleId, dso2.address, refundAfter, awards.slice(1), await consentsFor(s, dso2, awards.slice(1))))
        .to.be.revertedWithCustomError(settlement, "CycleExists")
        .withArgs(cycleId);

      const r = cycleIdOf("refunded");
      await s.lockCycle(r, dso.address, refundAfter, awards, await consentsFor(s, dso, awards));
      await time.increaseTo(refundAfter);
      await settlement.refundExpiredCycle(r, awards);
      await expect(s.lockCycle(r, dso.address, refundAfter + DAY, awards, await consentsFor(s, dso, awards)))
        .to.be.revertedWithCustomError(settlement, "CycleExists")
        .withArgs(r);
    });

    it("reverts ZeroAddress for a zero DSO and EmptyCycle for an empty list", async function () {
      const { settlement, settler, dso, refundAfter, awards } = await loadFixture(deployFixture);
      const s = settlement.connect(settler);
      await expect(s.lockCycle(cycleIdOf("z"), ethers.ZeroAddress, refundAfter, awards, await consentsFor(s, null, awards))).to.be.revertedWithCustomError(
        settlement,
        "ZeroAddress",
      );
      await expect(s.lockCycle(cycleIdOf("z"), dso.address, refundAfter, [], await consentsFor(s, dso, []))).to.be.revertedWithCustomError(
        settlement,
        "EmptyCycle",
      );
    });

    it("reverts PayeeNotRegistered for a zero CPO and ZeroAmount for a zero amount anywhere in the list", async function () {
      const { settlement, settler, dso, refundAfter, awards } = await loadFixture(deployFixture);
      const s = settlement.connect(settler);
      const zeroCpo = awards.map((a, i) => (i === 3 ? { ...a, cpo: ethers.ZeroAddress } : a));
      await expect(s.lockCycle(cycleIdOf("z"), dso.address, refundAfter, zeroCpo, await consentsFor(s, dso, zeroCpo)))
        .to.be.revertedWithCustomError(settlement, "PayeeNotRegistered")
        .withArgs(ethers.ZeroAddress);
      const zeroAmount = awards.map((a, i) => (i === 1 ? { ...a, amount: 0n } : a));
      await expect(s.lockCycle(cycleIdOf("z"), dso.address, refundAfter, zeroAmount, await consentsFor(s, dso, zeroAmount))).to.be.revertedWithCustomError(
        settlement,
        "ZeroAmount",
      );
      expect((await settlement.getCycle(cycleIdOf("z"))).status).to.equal(Status.None);
    });

    it("reverts without allowance (ERC20InsufficientAllowance) and leaves no record", async function () {
      const { settlement, settlementAddress, token, settler, stranger, refundAfter, awards, total } =
        await loadFixture(deployFixture);
      await token.mint(stranger.address, total);
      const c = cycleIdOf("no-allowance");
      await expect(settlement.connect(settler).lockCycle(c, stranger.address, refundAfter, awards, await consentsFor(settlement, stranger, awards)))
        .to.be.revertedWithCustomError(token, "ERC20InsufficientAllowance")
        .withArgs(settlementAddress, 0n, total);
      expect((await settlement.getCycle(c)).status).to.equal(Status.None);
    });

    it("reverts SafeCastOverflowedUintDowncast when the total does not fit in 128 bits", async function () {
      const { settlement, settler, dso, cpo, refundAfter } = await loadFixture(deployFixture);
      const half = 2n ** 127n;
      const awards = [
        { cpo: cpo.address, amount: half, awardHash: AWARD_HASH },
        { cpo: cpo.address, amount: half, awardHash: AWARD_HASH },
      ];
      await expect(settlement.connect(settler).lockCycle(cycleIdOf("big"), dso.address, refundAfter, awards, await consentsFor(settlement, dso, awards)))
        .to.be.revertedWithCustomError(settlement, "SafeCastOverflowedUintDowncast")
        .withArgs(128, 2n ** 128n);
    });

    it("reverts (no reason) on a CPO address with dirty upper bits in the calldata", async function () {
      const { settlement, settlementAddress, settler, dso, refundAfter, awards } = await loadFixture(deployFixture);
      const data = settlement.interface.encodeFunctionData("lockCycle", [cycleIdOf("dirty"), dso.address, refundAfter, awards, []]);
      // Head: selector + 5 words; then the awards array: length word, then award 0 (cpo word first).
      const cpoWordOffset = 2 + 2 * (4 + 6 * 32);
      const dirty = `${data.slice(0, cpoWordOffset)}ff${data.slice(cpoWordOffset + 2)}`;
      await expect(settler.sendTransaction({ to: settlementAddress, data: dirty })).to.be.revertedWithoutReason();
    });
  });

  describe("settleCycle", function () {
    const PAYOUTS = [100n * UNIT, 200n * UNIT, 0n, 10n * UNIT]; // full, partial, nothing, full

    it("pays each CPO, refunds the DSO once, emits AwardSettled per award then CycleSettled", async function () {
      const { settlement, settlementAddress, token, settler, dso, cpo, cpo2, cpo3, awards, total, cycleId } =
        await loadFixture(lockedFixture);
      const hashes = settlementHashes(awards.length, "ok");
      const paid = PAYOUTS.reduce((s, p) => s + p, 0n);
      const refunded = total - paid;
      const tx = settlement.connect(settler).settleCycle(cycleId, awards, PAYOUTS, hashes);

      await expect(tx).to.changeTokenBalances(
        token,
        [cpo, cpo2, cpo3, dso, settlementAddress],
        [110n * UNIT, 200n * UNIT, 0n, refunded, -total],
      );
      const events = (await logsOf(tx, settlement)).map((p) => [p.name, ...p.args]);
      expect(events).to.deep.equal([
        ...awards.map((a, i) => ["AwardSettled", awardIdAt(cycleId, i), a.cpo, dso.address, PAYOUTS[i], a.amount - PAYOUTS[i], hashes[i]]),
        ["CycleSettled", cycleId, dso.address, paid, refunded],
      ]);
      // Zero payouts are skipped; the DSO's refund is one transfer.
      expect(await transfersOf(tx, token)).to.deep.equal([
        { from: settlementAddress, to: cpo.address, value: 100n * UNIT },
        { from: settlementAddress, to: cpo2.address, value: 200n * UNIT },
        { from: settlementAddress, to: cpo.address, value: 10n * UNIT },
        { from: settlementAddress, to: dso.address, value: refunded },
      ]);
      const cycle = await settlement.getCycle(cycleId);
      expect(cycle.status).to.equal(Status.Settled);
      expect(cycle.paid).to.equal(paid);
      expect(cycle.total).to.equal(total);
      expect(cycle.awardsHash).to.equal(awardsHashOf(awards));
    });

    it("makes no DSO transfer when every award is paid in full", async function () {
      const { settlement, settlementAddress, token, settler, dso, awards, total, cycleId } = await loadFixture(lockedFixture);
      const tx = settlement.connect(settler).settleCycle(cycleId, awards, awards.map((a) => a.amount), settlementHashes(4));
      await expect(tx).to.emit(settlement, "CycleSettled").withArgs(cycleId, dso.address, total, 0n);
      const transfers = await transfersOf(tx, token);
      expect(transfers.map((t) => t.to)).to.deep.equal(awards.map((a) => a.cpo));
      expect(await token.balanceOf(settlementAddress)).to.equal(0n);
    });

    it("refunds everything to the DSO in one transfer when nothing was delivered", async function () {
      const { settlement, settlementAddress, token, settler, dso, awards, total, cycleId } = await loadFixture(lockedFixture);
      const tx = settlement.connect(settler).settleCycle(cycleId, awards, awards.map(() => 0n), settlementHashes(4));
      expect(await transfersOf(tx, token)).to.deep.equal([{ from: settlementAddress, to: dso.address, value: total }]);
      expect((await settlement.getCycle(cycleId)).paid).to.equal(0n);
    });

    it("lets a wallet holder find its payments by the indexed cpo topic", async function () {
      const { settlement, settler, cpo, awards, cycleId } = await loadFixture(lockedFixture);
      await settlement.connect(settler).settleCycle(cycleId, awards, PAYOUTS, settlementHashes(4, "w"));
      const mine = await settlement.queryFilter(settlement.filters.AwardSettled(null, cpo.address));
      expect(mine.map((e) => [e.args.awardId, e.args.paid])).to.deep.equal([
        [awardIdAt(cycleId, 0), 100n * UNIT],
        [awardIdAt(cycleId, 3), 10n * UNIT],
      ]);
      // The award id leads back to its cycle and its position in the published list.
      for (const e of mine) {
        const id = BigInt(e.args.awardId);
        expect(ethers.toBeHex(id & ~LOW32, 32)).to.equal(cycleId);
        const index = Number(id & LOW32) - 1;
        expect(awards[index].cpo).to.equal(cpo.address);
        expect(e.args.settlementHash).to.equal(ethers.id(`settlement w ${index}`));
      }
    });

    const tampered = {
      "a tampered amount (higher)": (a) => a.map((x, i) => (i === 1 ? { ...x, amount: x.amount + 1n } : x)),
      "a tampered amount (lower)": (a) => a.map((x, i) => (i === 0 ? { ...x, amount: x.amount - 1n } : x)),
      "a tampered CPO": (a) => a.map((x, i) => (i === 2 ? { ...x, cpo: ethers.Wallet.createRandom().address } : x)),
      "a tampered award hash": (a) => a.map((x, i) => (i === 3 ? { ...x, awardHash: ethers.id("forged") } : x)),
      "a reordered list": (a) => [a[1], a[0], a[2], a[3]],
      "a missing award": (a) => a.slice(0, 3),
      "an extra award": (a) => [...a, a[0]],
      "an empty list": () => [],
    };
    for (const [what, tamper] of Object.entries(tampered)) {
      it(`reverts AwardsMismatch for ${what} and moves nothing`, async function () {
        const { settlement, settlementAddress, token, settler, awards, total, cycleId } = await loadFixture(lockedFixture);
        const list = tamper(awards);
        await expect(
          settlement.connect(settler).settleCycle(cycleId, list, list.map(() => 0n), settlementHashes(list.length)),
        )
          .to.be.revertedWithCustomError(settlement, "AwardsMismatch")
          .withArgs(cycleId, awardsHashOf(awards), awardsHashOf(list));
        expect(await token.balanceOf(settlementAddress)).to.equal(total);
        expect((await settlement.getCycle(cycleId)).status).to.equal(Status.Locked);
      });
    }

    it("reverts AwardsMismatch for a CPO address with dirty upper bits in the calldata", async function () {
      const { settlement, settlementAddress, settler, awards, cycleId } = await loadFixture(lockedFixture);
      const data = settlement.interface.encodeFunctionData("settleCycle", [cycleId, awards, PAYOUTS, settlementHashes(4)]);
      // Head: selector + 4 words; the awards array comes first in the tail: length word, then award 0's cpo word.
      const cpoWordOffset = 2 + 2 * (4 + 5 * 32);
      const dirty = `${data.slice(0, cpoWordOffset)}ff${data.slice(cpoWordOffset + 2)}`;
      await expect(settler.sendTransaction({ to: settlementAddress, data: dirty })).to.be.revertedWithCustomError(
        settlement,
        "AwardsMismatch",
      );
    });

    it("reverts LengthMismatch when payouts or settlement hashes do not match the award list", async function () {
      const { settlement, settler, awards, cycleId } = await loadFixture(lockedFixture);
      const s = settlement.connect(settler);
      await expect(s.settleCycle(cycleId, awards, PAYOUTS.slice(0, 3), settlementHashes(4)))
        .to.be.revertedWithCustomError(settlement, "LengthMismatch")
        .withArgs(4, 3, 4);
      await expect(s.settleCycle(cycleId, awards, PAYOUTS, settlementHashes(5)))
        .to.be.revertedWithCustomError(settlement, "LengthMismatch")
        .withArgs(4, 4, 5);
      await expect(s.settleCycle(cycleId, awards.slice(0, 3), PAYOUTS, settlementHashes(4)))
        .to.be.revertedWithCustomError(settlement, "LengthMismatch")
        .withArgs(3, 4, 4);
    });

    it("reverts PayoutExceedsAmount (naming the award id) when a payout exceeds its award", async function () {
      const { settlement, settlementAddress, token, settler, awards, total, cycleId } = await loadFixture(lockedFixture);
      // The sum stays below the total: the check is per award, not per cycle.
      const payouts = [0n, awards[1].amount + 1n, 0n, 0n];
      await expect(settlement.connect(settler).settleCycle(cycleId, awards, payouts, settlementHashes(4)))
        .to.be.revertedWithCustomError(settlement, "PayoutExceedsAmount")
        .withArgs(awardIdAt(cycleId, 1), awards[1].amount + 1n, awards[1].amount);
      expect(await token.balanceOf(settlementAddress)).to.equal(total);
    });

    it("cannot pay out another cycle's escrow", async function () {
      const { settlement, settlementAddress, token, settler, dso2, cpo, refundAfter, total } = await loadFixture(lockedFixture);
      const small = [{ cpo: cpo.address, amount: 1n, awardHash: AWARD_HASH }];
      const s = cycleIdOf("small");
      await settlement.connect(settler).lockCycle(s, dso2.address, refundAfter, small, await consentsFor(settlement, dso2, small));
      const inflated = [{ ...small[0], amount: total }];
      await expect(settlement.connect(settler).settleCycle(s, inflated, [total], settlementHashes(1))).to.be.revertedWithCustomError(
        settlement,
        "AwardsMismatch",
      );
      await expect(settlement.connect(settler).settleCycle(s, small, [2n], settlementHashes(1))).to.be.revertedWithCustomError(
        settlement,
        "PayoutExceedsAmount",
      );
      expect(await token.balanceOf(settlementAddress)).to.equal(total + 1n);
    });

    it("reverts CycleNotLocked(Settled) on a second settlement, whatever the payouts", async function () {
      const { settlement, token, settler, cpo, awards, cycleId } = await loadFixture(lockedFixture);
      const s = settlement.connect(settler);
      await s.settleCycle(cycleId, awards, PAYOUTS, settlementHashes(4));
      const balance = await token.balanceOf(cpo.address);
      for (const payouts of [PAYOUTS, awards.map((a) => a.amount)]) {
        await expect(s.settleCycle(cycleId, awards, payouts, settlementHashes(4, "again")))
          .to.be.revertedWithCustomError(settlement, "CycleNotLocked")
          .withArgs(cycleId, Status.Settled);
      }
      expect(await token.balanceOf(cpo.address)).to.equal(balance);
      expect((await settlement.getCycle(cycleId)).paid).to.equal(PAYOUTS.reduce((a, b) => a + b, 0n));
    });

    it("reverts CycleNotLocked(None) for an unknown cycle and CycleNotLocked(Refunded) after a refund", async function () {
      const { settlement, settler, refundAfter, awards, cycleId } = await loadFixture(lockedFixture);
      const s = settlement.connect(settler);
      await expect(s.settleCycle(cycleIdOf("unknown"), awards, PAYOUTS, settlementHashes(4)))
        .to.be.revertedWithCustomError(settlement, "CycleNotLocked")
        .withArgs(cycleIdOf("unknown"), Status.None);
      await time.increaseTo(refundAfter);
      await settlement.refundExpiredCycle(cycleId, awards);
      await expect(s.settleCycle(cycleId, awards, PAYOUTS, settlementHashes(4)))
        .to.be.revertedWithCustomError(settlement, "CycleNotLocked")
        .withArgs(cycleId, Status.Refunded);
    });

    for (const who of ["admin", "dso", "cpo", "stranger"]) {
      it(`reverts AccessControlUnauthorizedAccount when called by the ${who}`, async function () {
        const f = await loadFixture(lockedFixture);
        await expect(f.settlement.connect(f[who]).settleCycle(f.cycleId, f.awards, PAYOUTS, settlementHashes(4)))
          .to.be.revertedWithCustomError(f.settlement, "AccessControlUnauthorizedAccount")
          .withArgs(f[who].address, SETTLER_ROLE);
      });
    }

    it("follows role changes made by the admin", async function () {
      const { settlement, admin, settler, stranger, awards, cycleId } = await loadFixture(lockedFixture);
      await settlement.connect(admin).grantRole(SETTLER_ROLE, stranger.address);
      await settlement.connect(admin).revokeRole(SETTLER_ROLE, settler.address);
      await expect(settlement.connect(settler).settleCycle(cycleId, awards, PAYOUTS, settlementHashes(4)))
        .to.be.revertedWithCustomError(settlement, "AccessControlUnauthorizedAccount");
      await expect(settlement.connect(stranger).settleCycle(cycleId, awards, PAYOUTS, settlementHashes(4))).to.emit(
        settlement,
        "CycleSettled",
      );
    });

    it("reverts EnforcedPause while paused and settles after unpause", async function () {
      const { settlement, pauser, settler, awards, cycleId } = await loadFixture(lockedFixture);
      await settlement.connect(pauser).pause();
      await expect(settlement.connect(settler).settleCycle(cycleId, awards, PAYOUTS, settlementHashes(4))).to.be.revertedWithCustomError(
        settlement,
        "EnforcedPause",
      );
      await settlement.connect(pauser).unpause();
      await expect(settlement.connect(settler).settleCycle(cycleId, awards, PAYOUTS, settlementHashes(4))).to.emit(
        settlement,
        "CycleSettled",
      );
    });

    it("still settles after the refund deadline if nobody has refunded yet", async function () {
      const { settlement, token, settler, cpo2, refundAfter, awards, cycleId } = await loadFixture(lockedFixture);
      await time.increaseTo(refundAfter + DAY);
      await expect(settlement.connect(settler).settleCycle(cycleId, awards, PAYOUTS, settlementHashes(4))).to.changeTokenBalance(
        token,
        cpo2,
        200n * UNIT,
      );
    });
  });

  describe("refundExpiredCycle", function () {
    it("reverts RefundNotDue before the deadline", async function () {
      const { settlement, stranger, refundAfter, cycleId, awards } = await loadFixture(lockedFixture);
      await time.increaseTo(refundAfter - 3600n);
      await expect(settlement.connect(stranger).refundExpiredCycle(cycleId, awards))
        .to.be.revertedWithCustomError(settlement, "RefundNotDue")
        .withArgs(cycleId, refundAfter);
    });

    it("reverts one second before the deadline and refunds exactly at it", async function () {
      const { settlement, stranger, refundAfter, cycleId, awards } = await loadFixture(lockedFixture);
      await time.setNextBlockTimestamp(refundAfter - 1n);
      await expect(settlement.connect(stranger).refundExpiredCycle(cycleId, awards)).to.be.revertedWithCustomError(
        settlement,
        "RefundNotDue",
      );
      await time.setNextBlockTimestamp(refundAfter);
      await expect(settlement.connect(stranger).refundExpiredCycle(cycleId, awards)).to.emit(settlement, "CycleRefunded");
    });

    it("lets anyone refund the whole total to the DSO after the deadline, in one transfer", async function () {
      const { settlement, settlementAddress, token, stranger, dso, cpo, refundAfter, total, cycleId, awards } =
        await loadFixture(lockedFixture);
      await time.increaseTo(refundAfter + 1n);
      const tx = settlement.connect(stranger).refundExpiredCycle(cycleId, awards);
      await expect(tx).to.emit(settlement, "CycleRefunded").withArgs(cycleId, dso.address, total);
      await expect(tx).to.changeTokenBalances(token, [dso, settlementAddress, cpo, stranger], [total, -total, 0n, 0n]);
      expect(await transfersOf(tx, token)).to.deep.equal([{ from: settlementAddress, to: dso.address, value: total }]);
      const cycle = await settlement.getCycle(cycleId);
      expect(cycle.status).to.equal(Status.Refunded);
      expect(cycle.paid).to.equal(0n);
    });

    it("works while paused, so escrowed funds are never stuck", async function () {
      const { settlement, token, pauser, dso, stranger, refundAfter, total, cycleId, awards } = await loadFixture(lockedFixture);
      await settlement.connect(pauser).pause();
      await time.increaseTo(refundAfter);
      await expect(settlement.connect(stranger).refundExpiredCycle(cycleId, awards)).to.changeTokenBalance(token, dso, total);
    });

    it("reverts CycleNotLocked for an unknown, settled or already refunded cycle", async function () {
      const { settlement, settler, dso, refundAfter, awards, cycleId } = await loadFixture(lockedFixture);
      await expect(settlement.refundExpiredCycle(cycleIdOf("unknown"), awards))
        .to.be.revertedWithCustomError(settlement, "CycleNotLocked")
        .withArgs(cycleIdOf("unknown"), Status.None);
      const b = cycleIdOf("b");
      await settlement.connect(settler).lockCycle(b, dso.address, refundAfter, awards, await consentsFor(settlement, dso, awards));
      await settlement.connect(settler).settleCycle(b, awards, awards.map(() => 1n), settlementHashes(4));
      await time.increaseTo(refundAfter);
      await expect(settlement.refundExpiredCycle(b, awards))
        .to.be.revertedWithCustomError(settlement, "CycleNotLocked")
        .withArgs(b, Status.Settled);
      await settlement.refundExpiredCycle(cycleId, awards);
      await expect(settlement.refundExpiredCycle(cycleId, awards))
        .to.be.revertedWithCustomError(settlement, "CycleNotLocked")
        .withArgs(cycleId, Status.Refunded);
    });
  });

  describe("getCycle", function () {
    it("returns an all-zero record with status None for an unused id", async function () {
      const { settlement } = await loadFixture(deployFixture);
      expect([...(await settlement.getCycle(cycleIdOf("never")))]).to.deep.equal([
        ethers.ZeroAddress, 0n, Status.None, 0n, 0n, ethers.ZeroHash,
      ]);
    });
  });

  describe("accounting", function () {
    it("holds exactly the sum of still-locked cycles through a mixed sequence", async function () {
      const { settlement, settlementAddress, token, settler, dso, dso2, cpo, cpo2, refundAfter, awards, total } =
        await loadFixture(deployFixture);
      const s = settlement.connect(settler);
      const [c1, c2] = [cycleIdOf("m1"), cycleIdOf("m2")];
      await s.lockCycle(c1, dso.address, refundAfter, awards, await consentsFor(s, dso, awards));
      const single = [{ cpo: cpo2.address, amount: 500n, awardHash: AWARD_HASH }];
      await s.lockCycle(cycleIdOf("m single"), dso2.address, refundAfter, single, await consentsFor(s, dso2, single));
      const small = [{ cpo: cpo.address, amount: 70n, awardHash: AWARD_HASH }, { cpo: cpo2.address, amount: 30n, awardHash: AWARD_HASH }];
      await s.lockCycle(c2, dso2.address, refundAfter + DAY, small, await consentsFor(s, dso2, small));
      expect(await token.balanceOf(settlementAddress)).to.equal(total + 600n);
      await s.settleCycle(c2, small, [70n, 10n], settlementHashes(2));
      expect(await token.balanceOf(settlementAddress)).to.equal(total + 500n);
      await time.increaseTo(refundAfter);
      await settlement.refundExpiredCycle(c1, awards);
      expect(await token.balanceOf(settlementAddress)).to.equal(500n);
      await s.settleCycle(cycleIdOf("m single"), single, [500n], settlementHashes(1));
      expect(await token.balanceOf(settlementAddress)).to.equal(0n);
      expect(await token.balanceOf(dso.address)).to.equal(10_000n * UNIT);
      expect(await token.balanceOf(dso2.address)).to.equal(10_000n * UNIT - 500n - 80n);
    });
  });

  describe("reentrancy (malicious token calling back during transfers)", function () {
    /** Escrow on a ReentrantToken that itself holds SETTLER_ROLE: only the reentrancy guard can stop it. */
    async function reentrantFixture() {
      const [, admin, settler, dso, cpo, stranger, cpo2, , , pauser, registrar] = await ethers.getSigners();
      const evil = await ethers.deployContract("ReentrantToken");
      const evilAddress = await evil.getAddress();
      const settlement = await ethers.deployContract("FlexSettlement", [
        evilAddress, ADMIN_DELAY, admin.address, pauser.address, registrar.address, settler.address, ...REFUND_DELAYS,
      ]);
      const settlementAddress = await settlement.getAddress();
      await settlement.connect(admin).grantRole(SETTLER_ROLE, evilAddress);
      await settlement.connect(registrar).registerPayees([cpo.address, cpo2.address]);
      await evil.mint(dso.address, 1_000_000n);
      await evil.connect(dso).approve(settlementAddress, ethers.MaxUint256);
      const refundAfter = BigInt(await time.latest()) + DAY;
      const awards = [
        { cpo: cpo.address, amount: 1_000n, awardHash: AWARD_HASH },
        { cpo: cpo2.address, amount: 500n, awardHash: AWARD_HASH },
      ];
      for (const label of ["victim", "outer"]) {
        await settlement.connect(settler).lockCycle(cycleIdOf(label), dso.address, refundAfter, awards, await consentsFor(settlement, dso, awards));
      }
      // A complete, valid call that would drain the victim cycle if the guard did not stop it.
      const victimSettle = settlement.interface.encodeFunctionData("settleCycle", [
        cycleIdOf("victim"), awards, [1_000n, 500n], settlementHashes(2),
      ]);
      const victimRefund = settlement.interface.encodeFunctionData("refundExpiredCycle", [cycleIdOf("victim"), awards]);
      return { evil, settlement, settlementAddress, admin, settler, dso, cpo, stranger, refundAfter, awards, victimSettle, victimRefund };
    }

    /**
     * The callback inside a payment is refused by the guard, so the token "refuses" that payment: the outer call
     * completes, crediting the payee instead, and the victim cycle is untouched.
     */
    async function expectBlockedAndCredited(f, outer, payee, amount) {
      await expect(outer).to.emit(f.settlement, "PaymentCredited").withArgs(payee, amount);
      expect((await f.settlement.getCycle(cycleIdOf("victim"))).status).to.equal(Status.Locked);
      expect(await f.settlement.claimable(payee)).to.equal(amount);
    }

    it("control: the crafted callbacks are valid calls that succeed when not reentrant", async function () {
      const f = await loadFixture(reentrantFixture);
      await expect(f.settler.sendTransaction({ to: f.settlementAddress, data: f.victimSettle })).to.emit(f.settlement, "CycleSettled");
      await time.increaseTo(f.refundAfter);
      const refund = f.settlement.interface.encodeFunctionData("refundExpiredCycle", [cycleIdOf("outer"), f.awards]);
      await expect(f.stranger.sendTransaction({ to: f.settlementAddress, data: refund })).to.emit(f.settlement, "CycleRefunded");
    });

    it("blocks settleCycle -> settleCycle", async function () {
      const f = await loadFixture(reentrantFixture);
      await f.evil.armCall(f.settlementAddress, f.victimSettle);
      const outer = f.settlement.connect(f.settler).settleCycle(cycleIdOf("outer"), f.awards, [400n, 0n], settlementHashes(2));
      await expectBlockedAndCredited(f, outer, f.cpo.address, 400n);
    });

    it("blocks settleCycle -> refundExpiredCycle", async function () {
      const f = await loadFixture(reentrantFixture);
      await time.increaseTo(f.refundAfter);
      await f.evil.armCall(f.settlementAddress, f.victimRefund);
      const outer = f.settlement.connect(f.settler).settleCycle(cycleIdOf("outer"), f.awards, [400n, 0n], settlementHashes(2));
      await expectBlockedAndCredited(f, outer, f.cpo.address, 400n);
    });

    it("blocks refundExpiredCycle -> settleCycle and -> refundExpiredCycle", async function () {
      for (const data of ["victimSettle", "victimRefund"]) {
        const f = await loadFixture(reentrantFixture);
        await time.increaseTo(f.refundAfter);
        await f.evil.armCall(f.settlementAddress, f[data]);
        const outer = f.settlement.connect(f.stranger).refundExpiredCycle(cycleIdOf("outer"), f.awards);
        await expectBlockedAndCredited(f, outer, f.dso.address, 1_500n);
      }
    });

    it("blocks lockCycle -> settleCycle (the pull reverts the lock)", async function () {
      const f = await loadFixture(reentrantFixture);
      await f.evil.armCall(f.settlementAddress, f.victimSettle);
      await expect(f.settlement.connect(f.settler).lockCycle(cycleIdOf("new"), f.dso.address, f.refundAfter, f.awards, await consentsFor(f.settlement, f.dso, f.awards)))
        .to.be.revertedWithCustomError(f.settlement, "ReentrancyGuardReentrantCall");
      expect((await f.settlement.getCycle(cycleIdOf("new"))).status).to.equal(Status.None);
      expect((await f.settlement.getCycle(cycleIdOf("victim"))).status).to.equal(Status.Locked);
      expect(await f.evil.balanceOf(f.settlementAddress)).to.equal(3_000n);
    });

    it("blocks settleCycle -> lockCycle", async function () {
      const f = await loadFixture(reentrantFixture);
      const relock = f.settlement.interface.encodeFunctionData("lockCycle", [
        cycleIdOf("nested"), f.dso.address, f.refundAfter, f.awards, await consentsFor(f.settlement, f.dso, f.awards),
      ]);
      await f.evil.armCall(f.settlementAddress, relock);
      const outer = f.settlement.connect(f.settler).settleCycle(cycleIdOf("outer"), f.awards, [1n, 0n], settlementHashes(2));
      await expectBlockedAndCredited(f, outer, f.cpo.address, 1n);
      expect((await f.settlement.getCycle(cycleIdOf("nested"))).status).to.equal(Status.None);
    });

    it("blocks claim -> claim", async function () {
      const f = await loadFixture(reentrantFixture);
      await f.evil.armCall(f.settlementAddress, f.victimSettle);
      await f.settlement.connect(f.settler).settleCycle(cycleIdOf("outer"), f.awards, [400n, 0n], settlementHashes(2));
      await f.evil.armCall(f.settlementAddress, f.settlement.interface.encodeFunctionData("claim"));
      await expect(f.settlement.connect(f.cpo).claim()).to.be.revertedWithCustomError(f.settlement, "ReentrancyGuardReentrantCall");
      expect(await f.settlement.claimable(f.cpo.address)).to.equal(400n);
    });

    it("bubbles a non-reentrancy revert of a raw callback (token helper check)", async function () {
      const f = await loadFixture(reentrantFixture);
      // Outside the escrow the callback is not reentrant: settleCycle by the token (a settler) with a bad
      // list reverts with the escrow's own error, proving the helper forwards revert data faithfully.
      const bad = f.settlement.interface.encodeFunctionData("settleCycle", [cycleIdOf("victim"), [], [], []]);
      await f.evil.armCall(f.settlementAddress, bad);
      await expect(f.evil.mint(f.stranger.address, 1n)).to.be.revertedWithCustomError(f.settlement, "AwardsMismatch");
    });
  });

  describe("gas targets (issue 13): cycle of 100 awards, CPOs already hold the token", function () {
    it("stays within 7,000 gas per locked award and 15,000 gas per settled award", async function () {
      if (hre.__SOLIDITY_COVERAGE_RUNNING) this.skip(); // instrumented bytecode costs more gas
      const { settlement, token, settler, registrar, dso, refundAfter } = await loadFixture(deployFixture);
      const n = 100;
      const awards = [];
      for (let i = 0; i < n; i++) {
        const cpo = ethers.getAddress(ethers.dataSlice(ethers.id(`gas cpo ${i}`), 12));
        await token.mint(cpo, 1n);
        awards.push({ cpo, amount: 10n * UNIT + BigInt(i), awardHash: ethers.id(`gas award ${i}`) });
      }
      await settlement.connect(registrar).registerPayees(awards.map((a) => a.cpo));
      const c = cycleIdOf("gas");
      const lock = await (await settlement.connect(settler).lockCycle(c, dso.address, refundAfter, awards, await consentsFor(settlement, dso, awards))).wait();
      const settle = await (
        await settlement.connect(settler).settleCycle(c, awards, awards.map((a) => (a.amount * 4n) / 5n), settlementHashes(n))
      ).wait();
      expect(lock.gasUsed / BigInt(n)).to.be.lessThanOrEqual(7_000n);
      expect(settle.gasUsed / BigInt(n)).to.be.lessThanOrEqual(15_000n);
    });
  });
});

describe("FlexSettlement with an 18-decimal token (EURe)", function () {
  it("locks and settles amounts beyond 64 bits exactly, to the unit", async function () {
    const { settlement, settlementAddress, token, settler, dso, cpo, cpo2, refundAfter } = await deployEscrow(18);
    const EURE = 10n ** 18n;
    // 1,234.5678901 EUR and 0.0000001 EUR (the smallest award value): 2^64 units are about 18.4 EUR.
    const awards = [
      { cpo: cpo.address, amount: 1_234_567_890_100_000_000_000n, awardHash: ethers.id("eure 0") },
      { cpo: cpo2.address, amount: 100_000_000_000n, awardHash: ethers.id("eure 1") },
    ];
    const total = awards[0].amount + awards[1].amount;
    expect(awards[0].amount > 2n ** 64n).to.equal(true);
    const cycleId = cycleIdOf("eure");
    const lock = settlement.connect(settler).lockCycle(cycleId, dso.address, refundAfter, awards, await consentsFor(settlement, dso, awards));
    await expect(lock).to.changeTokenBalances(token, [dso, settlementAddress], [-total, total]);
    expect((await settlement.getCycle(cycleId)).total).to.equal(total);

    const payouts = [awards[0].amount - 1n, awards[1].amount]; // one unit in 10^18 short: refunded to the DSO
    const settle = settlement.connect(settler).settleCycle(cycleId, awards, payouts, settlementHashes(2, "eure"));
    await expect(settle).to.changeTokenBalances(token, [cpo, cpo2, dso, settlementAddress], [payouts[0], payouts[1], 1n, -total]);
    expect(await token.balanceOf(dso.address)).to.equal(10_000n * EURE - total + 1n);
  });
});
