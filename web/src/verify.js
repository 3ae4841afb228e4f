// The wallet holder's check of FlexChain payments, run in the browser against a node the holder chooses. It is
// shared/FlexChain.Verification (PaymentVerifier) check for check: every hash is recomputed here from the published
// fields; the hashes FlexChain states beside them are never used. FlexChain's API is only a source of records.
import { AbiCoder, Contract, JsonRpcProvider, getAddress, id, keccak256, toUtf8Bytes, zeroPadValue, getBytes, hexlify } from "ethers";

const abi = AbiCoder.defaultAbiCoder();
const escrowAbi = [
  "event AwardSettled(bytes32 indexed awardId, address indexed cpo, address indexed dso, uint256 paid, uint256 refunded, bytes32 settlementHash)",
  "event CycleLocked(bytes32 indexed cycleId, address indexed dso, uint256 total, uint64 refundAfter, uint256 awardCount, bytes32 awardsHash)",
  "function getCycle(bytes32 cycleId) view returns (tuple(address dso, uint64 refundAfter, uint8 status, uint128 total, uint128 paid, bytes32 awardsHash))",
  "function token() view returns (address)",
];
const AWARD_SETTLED = id("AwardSettled(bytes32,address,address,uint256,uint256,bytes32)");
const CYCLE_LOCKED = id("CycleLocked(bytes32,address,uint256,uint64,uint256,bytes32)");
/** Blocks per eth_getLogs call: providers cap one request's range (the CLI's default). */
export const MAX_LOG_BLOCK_SPAN = 2000;

/** The escrow cycle id of an escrow batch key: Keccak-256 of "flexchain:cycle:" + key with its low 32 bits cleared. */
export function cycleIdOf(key) {
  const bytes = getBytes(keccak256(toUtf8Bytes("flexchain:cycle:" + key)));
  bytes.fill(0, 28);
  return hexlify(bytes);
}

/** The id of the award at 0-based index of a cycle: cycleId | (index + 1). */
export function awardIdAt(cycleId, index) {
  const bytes = getBytes(cycleId);
  new DataView(bytes.buffer).setUint32(28, index + 1);
  return hexlify(bytes);
}

/** The cycle an award id belongs to (its low 32 bits cleared). */
export function cycleOf(awardId) {
  const bytes = getBytes(awardId);
  bytes.fill(0, 28);
  return hexlify(bytes);
}

/** The 0-based position of an award in its cycle (-1 for a cycle id). */
export function indexOf(awardId) {
  return new DataView(getBytes(awardId).buffer).getUint32(28) - 1;
}

/** Keccak-256 of abi.encode(bytes32 awardId, address dso, address cpo, uint256 energyWh, uint256 priceMicroEurPerKwh, uint256 lockedUnits, uint64 deliveryStart, uint64 deliveryEnd, bytes32 profileHash). */
export function awardHash(a) {
  return keccak256(abi.encode(
    ["bytes32", "address", "address", "uint256", "uint256", "uint256", "uint64", "uint64", "bytes32"],
    [a.awardId, a.dsoWallet, a.cpoWallet, a.energyWh, a.priceMicroEurPerKwh, a.lockedUnits, a.deliveryStart, a.deliveryEnd, a.profileHash]));
}

/** A profile's hash: Keccak-256 of abi.encode(uint64 intervalSeconds, uint256[] energyWh) (a flat profile: one interval, the whole window). */
export function profileHash(p) {
  return keccak256(abi.encode(["uint64", "uint256[]"], [p.intervalSeconds, p.energyWh]));
}

/** Keccak-256 of abi.encode(bytes32 awardId, uint256 awardedWh, int256 baselineWh, int256 measuredWh, int256 deliveredWh, bool succeeded, uint256 payoutUnits, uint256 lockedUnits). */
export function settlementHash(s) {
  return keccak256(abi.encode(
    ["bytes32", "uint256", "int256", "int256", "int256", "bool", "uint256", "uint256"],
    [s.awardId, s.awardedWh, s.baselineWh, s.measuredWh, s.deliveredWh, s.succeeded, s.payoutUnits, s.lockedUnits]));
}

/** The escrow's commitment to a cycle's award list: Keccak-256 of abi.encode((address cpo, uint256 amount, bytes32 awardHash)[]). */
export function cycleCommitment(awards) {
  return keccak256(abi.encode(["tuple(address,uint256,bytes32)[]"], [awards.map((a) => [a.cpoWallet, a.lockedUnits, awardHash(a)])]));
}

/** Token units as a decimal number of tokens, exact, without trailing zeros (2250000 at 6 decimals is "2.25"). */
export function formatUnits(units, decimals) {
  const negative = units < 0n;
  const digits = (negative ? -units : units).toString().padStart(decimals + 1, "0");
  const whole = digits.slice(0, digits.length - decimals);
  const fraction = decimals === 0 ? "" : digits.slice(digits.length - decimals).replace(/0+$/, "");
  return (negative ? "-" : "") + (fraction ? `${whole}.${fraction}` : whole);
}

const failure = (check, reason) => ({ check, reason });

/**
 * Parses GET /v1/settlements/{awardId} as the CLI's PublishedSettlementJson does: every field present and well formed
 * (amounts are decimal strings), or an Error naming the field.
 */
export function parsePublished(doc) {
  if (!isObject(doc)) throw new Error("the published settlement is not a JSON object");
  const field = (o, name, path, test, what) => {
    const where = path ? `${path}.${name}` : name;
    if (!(name in o) || o[name] === null) throw new Error(`${where} is missing`);
    if (!test(o[name])) throw new Error(`${where} is not ${what}`);
    return o[name];
  };
  const str = (o, n, p) => field(o, n, p, (v) => typeof v === "string", "a String");
  const int = (o, n, p) => BigInt(field(o, n, p, Number.isSafeInteger, "an Int64"));
  const units = (o, n, p) => BigInt(field(o, n, p, (v) => typeof v === "string" && /^[0-9]+$/.test(v), "a non-negative integer string"));
  const hash = (o, n, p) => field(o, n, p, (v) => typeof v === "string" && /^0x[0-9a-fA-F]{64}$/.test(v), "a 32-byte hex hash").toLowerCase();
  const address = (o, n, p) => {
    const text = str(o, n, p);
    try { return getAddress(text); } catch { throw new Error(`${p}.${n} is malformed: not an address`); }
  };
  const object = (o, n) => { if (!isObject(o[n])) throw new Error(`${n} is missing or not an object`); return o[n]; };
  const award = (a, p) => ({
    awardId: hash(a, "awardId", p), dsoWallet: address(a, "dsoWallet", p), cpoWallet: address(a, "cpoWallet", p),
    energyWh: int(a, "energyWh", p), priceMicroEurPerKwh: int(a, "priceMicroEurPerKwh", p), lockedUnits: units(a, "lockedUnits", p),
    deliveryStart: int(a, "deliveryStart", p), deliveryEnd: int(a, "deliveryEnd", p), profileHash: hash(a, "profileHash", p),
  });
  const profile = isObject(doc.awardProfile) ? {
    intervalSeconds: int(doc.awardProfile, "intervalSeconds", "awardProfile"),
    energyWh: field(doc.awardProfile, "energyWh", "awardProfile", (v) => Array.isArray(v) && v.every((x) => Number.isSafeInteger(x) && x >= 0),
      "an array of non-negative integers").map(BigInt),
  } : null;
  const s = object(doc, "settlement");
  if (!Array.isArray(doc.cycleAwards)) throw new Error("cycleAwards is missing or not an array");
  return {
    requestId: str(doc, "requestId"), escrowKey: str(doc, "escrowKey"), award: award(object(doc, "award"), "award"), awardProfile: profile,
    settlement: {
      awardId: hash(s, "awardId", "settlement"), awardedWh: int(s, "awardedWh", "settlement"), baselineWh: int(s, "baselineWh", "settlement"),
      measuredWh: int(s, "measuredWh", "settlement"), deliveredWh: int(s, "deliveredWh", "settlement"),
      succeeded: field(s, "succeeded", "settlement", (v) => typeof v === "boolean", "a Boolean"),
      payoutUnits: units(s, "payoutUnits", "settlement"), lockedUnits: units(s, "lockedUnits", "settlement"),
    },
    cycleAwards: doc.cycleAwards.map((a, i) => { if (!isObject(a)) throw new Error(`cycleAwards[${i}] is not an object`); return award(a, `cycleAwards[${i}]`); }),
  };
}

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The checks of one payment against its published records and the cycle's on-chain state (PaymentVerifier.Check).
 * @param payment the AwardSettled event: { awardId, cpo, dso, paid, refunded, settlementHash }
 * @param cycle getCycle's answer: { status, awardsHash }; announced: the awardsHash of every CycleLocked event of the cycle.
 */
export function check(payment, published, cycle, announced) {
  const failures = [];
  const fail = (c, reason) => failures.push(failure(c, reason));
  const { awardId } = payment;
  const list = published.cycleAwards;
  const cycleId = cycleOf(awardId);
  const index = indexOf(awardId);

  if (cycleIdOf(published.escrowKey) !== cycleId)
    fail("award-id", `award ${awardId} is not in the escrow cycle of batch ${published.escrowKey} (${cycleIdOf(published.escrowKey)})`);
  if (published.settlement.awardId !== awardId) fail("award-id", `the settlement record is for award ${published.settlement.awardId}, the event for ${awardId}`);
  if (published.award.awardId !== awardId) fail("award-id", `the award record is for award ${published.award.awardId}, the event for ${awardId}`);
  const misplaced = list.findIndex((a, i) => a.awardId !== awardIdAt(cycleId, i));
  if (misplaced >= 0)
    fail("award-id", `the cycle's award list has award ${list[misplaced].awardId} at position ${misplaced}, where the cycle's id is ${awardIdAt(cycleId, misplaced)}`);

  const recordHash = settlementHash(published.settlement);
  if (recordHash !== payment.settlementHash)
    fail("settlement-hash", `the published settlement record hashes to ${recordHash}, the event's settlementHash is ${payment.settlementHash}`);
  if (payment.paid !== published.settlement.payoutUnits)
    fail("paid", `the event paid ${payment.paid} units, the settlement record's payoutUnits is ${published.settlement.payoutUnits}`);

  const commitment = cycleCommitment(list);
  if (cycle.status === 0) fail("cycle-commitment", `getCycle(${cycleId}) is empty: the escrow holds no cycle for this award`);
  else if (cycle.awardsHash !== commitment)
    fail("cycle-commitment", `the published award list (${list.length} awards) hashes to ${commitment}, getCycle's awardsHash is ${cycle.awardsHash}`);
  if (announced.length !== 1) fail("cycle-commitment", `expected one CycleLocked event for cycle ${cycleId}, found ${announced.length}`);
  else if (announced[0] !== commitment)
    fail("cycle-commitment", `the published award list (${list.length} awards) hashes to ${commitment}, CycleLocked announced ${announced[0]}`);

  let award = published.award;
  if (index < 0 || index >= list.length)
    fail("award-in-cycle", `award ${awardId} is at position ${index}, outside the published award list of ${list.length} awards`);
  else if (awardHash(list[index]) !== awardHash(award))
    fail("award-in-cycle", `the published award record hashes to ${awardHash(award)}, the cycle list's entry at position ${index} to ${awardHash(list[index])}`);
  else award = list[index];

  const profile = published.awardProfile;
  if (!profile) fail("profile", "no profile is published with the award (awardProfile): which profile was bought cannot be checked");
  else if (profileHash(profile) !== award.profileHash)
    fail("profile", `the published profile hashes to ${profileHash(profile)}, the award record's profileHash is ${award.profileHash}`);
  else if (profile.intervalSeconds <= 0n || profile.intervalSeconds * BigInt(profile.energyWh.length) !== award.deliveryEnd - award.deliveryStart)
    fail("profile", `the published profile's ${profile.energyWh.length} interval(s) of ${profile.intervalSeconds} s do not cover the award's window of ${award.deliveryEnd - award.deliveryStart} s`);
  else if (profile.energyWh.reduce((sum, wh) => sum + wh, 0n) !== award.energyWh)
    fail("profile", `the published profile sums to ${profile.energyWh.reduce((sum, wh) => sum + wh, 0n)} Wh, the award record's energyWh is ${award.energyWh}`);
  if (payment.paid + payment.refunded !== award.lockedUnits)
    fail("amounts", `paid ${payment.paid} + refunded ${payment.refunded} = ${payment.paid + payment.refunded} units, the award locked ${award.lockedUnits}`);
  if (published.settlement.lockedUnits !== award.lockedUnits)
    fail("amounts", `the settlement record's lockedUnits is ${published.settlement.lockedUnits}, the award's ${award.lockedUnits}`);
  if (payment.cpo !== award.cpoWallet) fail("cpo", `the event paid CPO ${payment.cpo}, the award record's CPO is ${award.cpoWallet}`);
  if (payment.dso !== award.dsoWallet) fail("dso", `the event refunded DSO ${payment.dso}, the award record's DSO is ${award.dsoWallet}`);
  return failures;
}

/**
 * Verifies payments of the escrow at `escrow` on the node at `rpcUrl`, reading published records with `fetchRecord(awardId)`
 * (resolves to the parsed JSON, or null when none is published). `target` is { awardId } | { tx } | { wallet }.
 * Resolves to { token: { address, decimals }, verdicts: [{ awardId, requestId, payment, failures }] }.
 */
export async function verifyPayments({ rpcUrl, escrow, chainId, fromBlock = 0, target, fetchRecord }) {
  const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true, batchMaxCount: 1 });
  const network = await provider.getNetwork();
  if (chainId !== undefined && network.chainId !== BigInt(chainId))
    throw new Error(`the node is on chain id ${network.chainId}, but chain id ${chainId} is expected`);
  const contract = new Contract(escrow, escrowAbi, provider);
  const tokenAddress = await contract.token();
  const token = new Contract(tokenAddress, ["function decimals() view returns (uint8)"], provider);
  const decimals = Number(await token.decimals());
  const logs = async (topics, from) => {
    const latest = await provider.getBlockNumber();
    const found = [];
    for (let start = from; start <= latest; start += MAX_LOG_BLOCK_SPAN)
      found.push(...await provider.getLogs({ address: escrow, topics, fromBlock: start, toBlock: Math.min(latest, start + MAX_LOG_BLOCK_SPAN - 1) }));
    return found;
  };

  let found;
  if (target.awardId) {
    found = await logs([AWARD_SETTLED, target.awardId.toLowerCase()], fromBlock);
    if (found.length === 0)
      return { token: { address: tokenAddress, decimals }, verdicts: [{ awardId: target.awardId, failures: [failure("event",
        `no AwardSettled event for award ${target.awardId} on escrow ${escrow} since block ${fromBlock}: the award is unknown to this escrow or not settled yet`)] }] };
  } else if (target.tx) {
    const receipt = await provider.getTransactionReceipt(target.tx);
    if (!receipt) return { token: { address: tokenAddress, decimals }, verdicts: [{ failures: [failure("event", `the chain has no mined transaction ${target.tx}`)] }] };
    found = receipt.logs.filter((l) => l.address.toLowerCase() === escrow.toLowerCase() && l.topics[0] === AWARD_SETTLED);
    if (found.length === 0)
      return { token: { address: tokenAddress, decimals }, verdicts: [{ failures: [failure("event",
        `transaction ${target.tx} ${receipt.status === 1 ? "emitted" : "reverted and emitted"} no AwardSettled event of escrow ${escrow}`)] }] };
  } else {
    const topic = zeroPadValue(getAddress(target.wallet), 32).toLowerCase();
    const seen = new Set();
    found = [...await logs([AWARD_SETTLED, null, topic], fromBlock), ...await logs([AWARD_SETTLED, null, null, topic], fromBlock)]
      .filter((l) => { const key = `${l.transactionHash}/${l.index}`; return !seen.has(key) && seen.add(key); })
      .sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
  }

  const cycles = new Map();
  const verdicts = [];
  for (const log of found) {
    let payment;
    try {
      const e = contract.interface.parseLog(log);
      payment = { awardId: e.args.awardId.toLowerCase(), cpo: getAddress(e.args.cpo), dso: getAddress(e.args.dso), paid: e.args.paid, refunded: e.args.refunded,
        settlementHash: e.args.settlementHash.toLowerCase(), transactionHash: log.transactionHash, blockNumber: log.blockNumber };
    } catch (e) {
      verdicts.push({ failures: [failure("event", `a log of the escrow is not a valid AwardSettled event: ${e.message}`)] });
      continue;
    }
    const cycleId = cycleOf(payment.awardId);
    if (!cycles.has(cycleId)) {
      const c = await contract.getCycle(cycleId);
      const announced = (await logs([CYCLE_LOCKED, cycleId], fromBlock)).filter((l) => !l.removed)
        .map((l) => contract.interface.parseLog(l).args.awardsHash.toLowerCase());
      cycles.set(cycleId, { cycle: { status: Number(c.status), awardsHash: c.awardsHash.toLowerCase() }, announced });
    }
    const { cycle, announced } = cycles.get(cycleId);
    const failures = [];
    if (log.removed) failures.push(failure("event", "the event was removed by a chain reorganisation"));
    let published = null;
    try {
      const doc = await fetchRecord(payment.awardId);
      if (doc === null) failures.push(failure("record", `no published record for award ${payment.awardId}: the payment cannot be matched to a FlexChain settlement`));
      else published = parsePublished(doc);
    } catch (e) {
      failures.push(failure("record", `the published record of award ${payment.awardId} could not be read: ${e.message}`));
    }
    if (published) failures.push(...check(payment, published, cycle, announced));
    verdicts.push({ awardId: payment.awardId, requestId: published?.requestId, payment, failures });
  }
  return { token: { address: tokenAddress, decimals }, verdicts };
}
