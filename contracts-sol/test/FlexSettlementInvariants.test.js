// Invariants of the escrow under seeded random sequences of lock, settle, refund, claim, pause, blocklisting and role
// changes (a small PRNG, so a failure names its seed and step and replays exactly). After every step:
// - conservation: the escrow holds exactly the totals of its locked cycles plus every credited (claimable) balance;
// - every actor's balance plus its claimable credit equals what the model says it is owed: so no award is paid
//   twice, no DSO loses more than it locked, and nobody outside a lock's DSO and payees receives anything;
// - a settled or refunded cycle never changes again.
const { expect } = require("chai");
const { ethers } = require("hardhat");
const { time } = require("@nomicfoundation/hardhat-network-helpers");
const { consentsFor, ADMIN_DELAY, REFUND_DELAYS } = require("./helpers");

const SEEDS = [1, 7, 42, 2026];
const STEPS = 60;
const LOW32 = 0xffffffffn;
const SETTLER_ROLE = ethers.id("SETTLER_ROLE");
const Status = { None: 0n, Locked: 1n, Settled: 2n, Refunded: 3n };

/** mulberry32: a tiny seeded PRNG. */
function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { int: (n) => Math.floor(next() * n), pick: (xs) => xs[Math.floor(next() * xs.length)], chance: (p) => next() < p };
}

async function setup() {
  const [, admin, settler, dso, cpo, stranger, dso2, cpo2, cpo3, pauser, registrar, settler2] = await ethers.getSigners();
  const token = await ethers.deployContract("BlocklistToken");
  const settlement = await ethers.deployContract("FlexSettlement", [
    await token.getAddress(), ADMIN_DELAY, admin.address, pauser.address, registrar.address, settler.address, ...REFUND_DELAYS,
  ]);
  const escrow = await settlement.getAddress();
  await settlement.connect(registrar).registerPayees([cpo.address, cpo2.address, cpo3.address]);
  for (const d of [dso, dso2]) {
    await token.mint(d.address, 1_000_000n);
    await token.connect(d).approve(escrow, ethers.MaxUint256);
  }
  return { token, settlement, escrow, admin, settler, settler2, pauser, stranger, dsos: [dso, dso2], cpos: [cpo, cpo2, cpo3] };
}

describe("FlexSettlement invariants (seeded random sequences)", function () {
  for (const seed of SEEDS) {
    it(`holds every invariant through ${STEPS} random steps (seed ${seed})`, async function () {
      const f = await setup();
      const { token, settlement, escrow, admin, pauser, stranger, dsos, cpos } = f;
      const r = prng(seed);
      const actors = [...dsos, ...cpos, stranger, f.settler, f.settler2, admin, pauser];
      const owed = new Map(await Promise.all(actors.map(async (a) => [a.address, await token.balanceOf(a.address)])));
      const cycles = []; // { id, dso, awards, refundAfter, status }
      let settlers = [f.settler];
      let paused = false;
      const blocked = new Set();
      const credit = (address, amount) => owed.set(address, owed.get(address) + amount);

      const steps = {
        async lock() {
          const dso = r.pick(dsos);
          const awards = Array.from({ length: 1 + r.int(4) }, (_, i) => ({
            cpo: r.pick(cpos).address, amount: BigInt(1 + r.int(5_000)), awardHash: ethers.id(`${seed}:${cycles.length}:${i}`),
          }));
          const id = ethers.toBeHex(BigInt(ethers.id(`${seed}:cycle:${cycles.length}`)) & ~LOW32, 32);
          const refundAfter = BigInt(await time.latest()) + 10n + REFUND_DELAYS[0] + BigInt(r.int(3_600));
          const total = awards.reduce((s, a) => s + a.amount, 0n);
          const consents = await consentsFor(settlement, dso, awards);
          const lock = settlement.connect(r.pick(settlers)).lockCycle(id, dso.address, refundAfter, awards, consents);
          if (paused) return expect(lock).to.be.revertedWithCustomError(settlement, "EnforcedPause");
          if (blocked.has(dso.address)) return expect(lock).to.be.revertedWithCustomError(token, "Blocklisted");
          await lock;
          credit(dso.address, -total);
          cycles.push({ id, dso, awards, refundAfter, status: Status.Locked, consents: { dso: dso.address, list: consents } });
        },
        async settle() {
          const c = r.pick(cycles);
          if (!c) return;
          const payouts = c.awards.map((a) => (r.chance(0.3) ? a.amount : BigInt(r.int(Number(a.amount) + 1))));
          const hashes = c.awards.map((_, i) => ethers.id(`s${i}`));
          const settle = settlement.connect(r.pick(settlers)).settleCycle(c.id, c.awards, payouts, hashes);
          if (paused) return expect(settle).to.be.revertedWithCustomError(settlement, "EnforcedPause");
          if (c.status !== Status.Locked) return expect(settle).to.be.revertedWithCustomError(settlement, "CycleNotLocked");
          await settle;
          c.status = Status.Settled;
          c.awards.forEach((a, i) => credit(a.cpo, payouts[i]));
          credit(c.dso.address, c.awards.reduce((s, a, i) => s + a.amount - payouts[i], 0n));
        },
        async refund() {
          const c = r.pick(cycles);
          if (!c) return;
          if (r.chance(0.5)) await time.increaseTo(c.refundAfter > BigInt(await time.latest()) ? c.refundAfter : BigInt(await time.latest()) + 1n);
          const due = BigInt(await time.latest()) + 1n >= c.refundAfter;
          const refund = settlement.connect(stranger).refundExpiredCycle(c.id, c.awards);
          if (c.status !== Status.Locked) return expect(refund).to.be.revertedWithCustomError(settlement, "CycleNotLocked");
          if (!due) return expect(refund).to.be.revertedWithCustomError(settlement, "RefundNotDue");
          await refund;
          c.status = Status.Refunded;
          credit(c.dso.address, c.awards.reduce((s, a) => s + a.amount, 0n));
        },
        async claim() {
          const who = r.pick([...dsos, ...cpos, stranger]);
          const amount = await settlement.claimable(who.address);
          const claim = settlement.connect(who).claim();
          if (amount === 0n) return expect(claim).to.be.revertedWithCustomError(settlement, "NothingToClaim");
          if (blocked.has(who.address)) return expect(claim).to.be.revertedWithCustomError(token, "Blocklisted");
          await claim; // balance up, credit down: what it is owed does not change
        },
        async pause() {
          await settlement.connect(pauser)[paused ? "unpause" : "pause"]();
          paused = !paused;
        },
        async blocklist() {
          const who = r.pick([...dsos, ...cpos]).address;
          if (blocked.has(who)) {
            await token.unblocklist(who);
            blocked.delete(who);
          } else {
            await token.blocklist(who);
            blocked.add(who);
          }
        },
        async roles() {
          if (settlers.length === 1) {
            await settlement.connect(admin).grantRole(SETTLER_ROLE, f.settler2.address);
            settlers = [f.settler, f.settler2];
          } else {
            await settlement.connect(admin).revokeRole(SETTLER_ROLE, f.settler2.address);
            settlers = [f.settler];
            await expect(
              settlement.connect(f.settler2).lockCycle(ethers.ZeroHash, dsos[0].address, 0n, [], []),
            ).to.be.revertedWithCustomError(settlement, "AccessControlUnauthorizedAccount");
          }
        },
        async attack() {
          // An outsider, a settler paying an unlisted address, taking more than a consent allows or drawing again on a spent one gets nothing.
          const awards = [{ cpo: stranger.address, amount: 1n, awardHash: ethers.ZeroHash }];
          const id = ethers.toBeHex(BigInt(ethers.id(`${seed}:attack`)) & ~LOW32, 32);
          const later = BigInt(await time.latest()) + REFUND_DELAYS[0] + 10n;
          const consents = await consentsFor(settlement, dsos[0], awards);
          await expect(settlement.connect(stranger).lockCycle(id, dsos[0].address, later, awards, consents)).to.be.revertedWithCustomError(
            settlement,
            "AccessControlUnauthorizedAccount",
          );
          if (!paused) {
            await expect(settlement.connect(f.settler).lockCycle(id, dsos[0].address, later, awards, consents))
              .to.be.revertedWithCustomError(settlement, "PayeeNotRegistered")
              .withArgs(stranger.address);
            const listed = [{ cpo: cpos[0].address, amount: 2n, awardHash: ethers.ZeroHash }];
            await expect(settlement.connect(f.settler).lockCycle(id, dsos[0].address, later, listed, [{ ...consents[0], amount: 2n }]))
              .to.be.revertedWithCustomError(settlement, "ConsentExceeded");
            const used = cycles.find((c) => c.consents)?.consents;
            if (used) {
              await expect(settlement.connect(f.settler).lockCycle(id, used.dso, later, listed, used.list)).to.be.revertedWithCustomError(
                settlement,
                "ConsentExceeded",
              );
            }
          }
        },
      };
      const names = Object.keys(steps);
      const weights = { lock: 4, settle: 3, refund: 2, claim: 2, pause: 1, blocklist: 1, roles: 1, attack: 1 };
      const bag = names.flatMap((n) => Array(weights[n]).fill(n));

      for (let step = 0; step < STEPS; step++) {
        const name = r.pick(bag);
        const where = `seed ${seed}, step ${step} (${name})`;
        await steps[name]();

        const locked = cycles.filter((c) => c.status === Status.Locked).reduce((s, c) => s + c.awards.reduce((t, a) => t + a.amount, 0n), 0n);
        let credited = 0n;
        for (const a of actors) {
          const [balance, claimable] = await Promise.all([token.balanceOf(a.address), settlement.claimable(a.address)]);
          credited += claimable;
          expect(balance + claimable, `${where}: ${a.address} owed`).to.equal(owed.get(a.address));
        }
        expect(await token.balanceOf(escrow), `${where}: escrow holds locked + credited`).to.equal(locked + credited);
        for (const c of cycles) expect((await settlement.getCycle(c.id)).status, `${where}: cycle status`).to.equal(c.status);
      }
    });
  }
});
