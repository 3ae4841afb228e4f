// Gas per award of the escrow, batched (lockCycle/settleCycle of n awards) versus naive (one lockCycle and one
// settleCycle transaction per award), with the floor of one plain token transfer per award beside them, measured
// from receipts on the in-process Hardhat network in one run.
//
//   npx hardhat run scripts/gas-report.js        (or: npm run gas)
//
// Set-up: one DSO that approved the escrow; every award goes to a different CPO, and every CPO already holds
// the token (a non-zero balance, so its balance slot is not created by the payout). Figures are receipt
// gasUsed (including the 21,000 base and calldata) divided by the number of awards. Two scenarios:
//   - partial delivery: every CPO is paid 80 % of its award, the rest goes back to the DSO;
//   - full delivery: every CPO is paid its whole award (no refund transfer at all).
// Prints markdown tables on stdout. The targets from issue 13 (cycle of 100 awards, with the payee-list check and
// the claimable fallback): <= 15,000 gas per settled award, <= 7,000 gas per locked award, and >= 6x cheaper than
// the naive design; the script exits non-zero if a target is missed.
const hre = require("hardhat");
const { consentsFor } = require("../test/helpers");

const { ethers } = hre;

const SIZES = [1, 10, 100];
const UNIT = 10n ** 6n;
const DAY = 24n * 3600n;

/** Cycle ids have their low 32 bits zero (the contract's CYCLE_ID_MASK). */
function cycleIdOf(label) {
  return ethers.toBeHex(BigInt(ethers.id(label)) & ~0xffffffffn, 32);
}

async function gasOf(txPromise) {
  const receipt = await (await txPromise).wait();
  if (receipt.status !== 1) throw new Error("transaction reverted");
  return receipt.gasUsed;
}

async function setup() {
  const [deployer, dso, admin, pauser, registrar] = await ethers.getSigners();
  const token = await ethers.deployContract("FlexEuro", [6], deployer);
  const settlement = await ethers.deployContract(
    "FlexSettlement",
    [await token.getAddress(), DAY, admin.address, pauser.address, registrar.address, deployer.address, 3600n, 400n * DAY],
    deployer,
  );
  await token.mint(dso.address, 10n ** 12n * UNIT);
  await token.connect(dso).approve(await settlement.getAddress(), ethers.MaxUint256);
  // Warm-up so that neither design pays for the escrow's first token balance: both start from a non-zero
  // escrow balance (a lock of 1 base unit that stays locked).
  const refundAfter = BigInt((await ethers.provider.getBlock("latest")).timestamp) + 30n * DAY;
  await settlement.connect(registrar).registerPayees([deployer.address]);
  const warmUp = [{ cpo: deployer.address, amount: 1n, awardHash: ethers.ZeroHash }];
  await settlement.lockCycle(cycleIdOf("warm-up"), dso.address, refundAfter, warmUp, await consentsFor(settlement, dso, warmUp));
  return { token, settlement, registrar, deployer, dso, refundAfter };
}

/** `n` fresh CPO addresses on the payee list that already hold 1 base unit of the token. */
async function fundedCpos(f, n, tag) {
  const cpos = [];
  for (let i = 0; i < n; i++) {
    const address = ethers.getAddress(ethers.dataSlice(ethers.id(`cpo:${tag}:${i}`), 12));
    await f.token.mint(address, 1n);
    cpos.push(address);
  }
  await f.settlement.connect(f.registrar).registerPayees(cpos);
  return cpos;
}

function awardsFor(cpos, tag) {
  return cpos.map((cpo, i) => ({
    cpo,
    amount: (100n + BigInt(i)) * UNIT + 123_456n,
    awardHash: ethers.id(`award record ${tag} ${i}`),
  }));
}

async function measure(f, n, payoutPercent) {
  const { token, settlement, dso, refundAfter } = f;
  const tag = `${n}:${payoutPercent}`;
  const payoutOf = (amount) => (amount * BigInt(payoutPercent)) / 100n;

  // Batched: one lockCycle and one settleCycle.
  const batchAwards = awardsFor(await fundedCpos(f, n, `batch:${tag}`), `batch:${tag}`);
  const cycleId = cycleIdOf(`cycle:${tag}`);
  // One DSO consent (one request) covers the whole cycle, as when a request's awards are locked together.
  const batchLock = await gasOf(
    settlement.lockCycle(cycleId, dso.address, refundAfter, batchAwards, await consentsFor(settlement, dso, batchAwards)),
  );
  const batchSettle = await gasOf(
    settlement.settleCycle(
      cycleId,
      batchAwards,
      batchAwards.map((a) => payoutOf(a.amount)),
      batchAwards.map((_, i) => ethers.id(`settlement record ${tag} ${i}`)),
    ),
  );

  // Naive: one lockCycle and one settleCycle transaction per award (same amounts, other CPOs of the same kind).
  const naiveAwards = awardsFor(await fundedCpos(f, n, `naive:${tag}`), `naive:${tag}`);
  let naiveLock = 0n;
  let naiveSettle = 0n;
  for (let i = 0; i < n; i++) {
    const single = [naiveAwards[i]];
    naiveLock += await gasOf(
      settlement.lockCycle(cycleIdOf(`naive ${tag} ${i}`), dso.address, refundAfter, single, await consentsFor(settlement, dso, single)),
    );
  }
  for (let i = 0; i < n; i++) {
    const a = naiveAwards[i];
    naiveSettle += await gasOf(
      settlement.settleCycle(cycleIdOf(`naive ${tag} ${i}`), [a], [payoutOf(a.amount)], [ethers.id(`settlement record ${tag} ${i}`)]),
    );
  }

  // Floor: the DSO pays each CPO directly, one plain token transfer per award (no escrow, no record).
  const plainCpos = await fundedCpos(f, n, `plain:${tag}`);
  let plain = 0n;
  for (let i = 0; i < n; i++) plain += await gasOf(token.connect(dso).transfer(plainCpos[i], payoutOf(naiveAwards[i].amount)));

  const N = BigInt(n);
  return {
    n,
    batchLock: batchLock / N,
    batchSettle: batchSettle / N,
    naiveLock: naiveLock / N,
    naiveSettle: naiveSettle / N,
    plain: plain / N,
    ratio: Number(naiveLock + naiveSettle) / Number(batchLock + batchSettle),
  };
}

function table(rows) {
  const fmt = (v) => Number(v).toLocaleString("en-US");
  const lines = [
    "| awards | batched lock gas/award | batched settle gas/award | naive lock gas/award | naive settle gas/award | ratio naive/batched total | plain transfer gas/award |",
    "|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    lines.push(
      `| ${r.n} | ${fmt(r.batchLock)} | ${fmt(r.batchSettle)} | ${fmt(r.naiveLock)} | ${fmt(r.naiveSettle)} | ${r.ratio.toFixed(2)}x | ${fmt(r.plain)} |`,
    );
  }
  return lines.join("\n");
}

async function main() {
  const f = await setup();
  const failures = [];
  for (const [title, percent] of [
    ["partial delivery (each CPO paid 80 %, rest refunded to the DSO)", 80],
    ["full delivery (each CPO paid 100 %, no refund)", 100],
  ]) {
    const rows = [];
    for (const n of SIZES) rows.push(await measure(f, n, percent));
    console.log(`### ${title}\n\n${table(rows)}\n`);
    const big = rows.find((r) => r.n === 100);
    if (big.batchSettle > 15_000n) failures.push(`${title}: settle ${big.batchSettle} > 15,000 gas/award`);
    if (big.batchLock > 7_000n) failures.push(`${title}: lock ${big.batchLock} > 7,000 gas/award`);
    if (big.ratio < 6) failures.push(`${title}: ratio ${big.ratio.toFixed(2)} < 6`);
  }
  const { hardfork } = hre.network.config;
  console.log(`Network: in-process Hardhat network (hardfork ${hardfork}), solc ${hre.config.solidity.compilers[0].version}, ` +
    `optimizer ${JSON.stringify(hre.config.solidity.compilers[0].settings.optimizer)}.`);
  if (failures.length) {
    console.error(`targets missed:\n  ${failures.join("\n  ")}`);
    process.exitCode = 1;
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
