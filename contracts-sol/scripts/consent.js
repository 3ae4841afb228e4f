// Signs a DSO's consent to pay for a flexibility request, as a wallet app does with eth_signTypedData_v4, and prints
// the request body with its "consent" added (README, DSO consent).
//
//   node scripts/consent.js <dso-private-key> <api-base-url> '<request JSON without consent>'
//
// The consent (EIP-712, domain { name: "FlexSettlement", version: "1", chainId, verifyingContract: escrow } from
// GET /v1/health) signs Consent(bytes32 requestHash, uint256 maxAmount, uint256 deadline, uint256 nonce):
//   requestHash = keccak256(abi.encode(string transformerId, uint64 deliveryStart, uint64 deliveryEnd, uint256 energyWh,
//                   string direction, uint256 maxPriceMicroEurPerKwh, uint64 gateClosure, string pricing, uint256 minimumOfferWh,
//                   string selection, uint64 decisionDeadline, string baseline, string payout, uint256 successThresholdPpm,
//                   uint256 tolerancePpm, uint256 mbmaMinutes, uint256 x, uint256 y, bytes32 profileHash, string availabilityId))
//                 (Unix seconds, truncated units; a term the request leaves out takes the API's default, 0 for none)
//   profileHash = keccak256(abi.encode(uint64 intervalSeconds, uint256[] energyWh)): with "profileKw" the window over the
//                 number of values and each kW x interval in Wh; a flat request one interval, the whole window, its energy;
//                 availabilityId: the availability contract a call names, "" for an ordinary request
//   maxAmount   = energyKwh (with only profileKw: the profile's sum) x maxPriceEurPerKwh in token units (the most it can cost)
//   deadline    = one day after deliveryStart; nonce = 128 random bits.
// An availability request (README, Availability; a body with periodStart) signs its own terms instead:
//   requestHash = keccak256(abi.encode(string "Availability", string transformerId, uint64 periodStart, uint64 periodEnd,
//                   uint256 capacityW, string direction, uint256 maxAvailabilityPriceMicroEurPerKw, uint64 gateClosure, bool arming))
//   maxAmount   = capacityKw x maxAvailabilityPriceEurPerKw in token units; deadline = one day after periodStart.
// Use only public development keys on a command line (Hardhat's demo accounts), never a real one.
const { ethers } = require("ethers");

async function main() {
  const [key, api, json] = process.argv.slice(2);
  if (!key || !api || !json) throw new Error("usage: node scripts/consent.js <dso-private-key> <api-base-url> '<request JSON>'");
  const request = JSON.parse(json);
  const health = await (await fetch(`${api.replace(/\/$/, "")}/health`)).json();
  const { chainId, settlementContract, tokenDecimals } = health.chain;
  const seconds = (iso) => BigInt(Math.floor(Date.parse(iso) / 1000));
  // Decimal strings to integers without floating point: energy in Wh, price in micro-euros, cost in token units.
  const scaled = (value, digits) => {
    const [whole, fraction = ""] = String(value).split(".");
    return BigInt(whole + fraction.padEnd(digits, "0").slice(0, digits));
  };
  const r = request;
  const v = r.verification ?? {};
  const optional = (value, f) => (value === undefined || value === null ? 0n : f(value));
  const availability = r.periodStart !== undefined;
  const coder = ethers.AbiCoder.defaultAbiCoder();
  // The profile as the records hash it: the energy of each interval in Wh (kW x interval); a flat request is one interval.
  const window = availability ? 0n : seconds(r.deliveryEnd) - seconds(r.deliveryStart);
  const interval = r.profileKw ? window / BigInt(r.profileKw.length) : window;
  const profileWh = r.profileKw ? r.profileKw.map((kw) => (scaled(kw, 3) * interval) / 3600n) : [];
  const energyWh = availability ? 0n : r.energyKwh !== undefined ? scaled(r.energyKwh, 3) : profileWh.reduce((sum, wh) => sum + wh, 0n);
  const profileHash = ethers.keccak256(coder.encode(["uint64", "uint256[]"], [interval, r.profileKw ? profileWh : [energyWh]]));
  const requestHash = availability ? availabilityHash(r, seconds, scaled) : ethers.keccak256(
    coder.encode(
      ["string", "uint64", "uint64", "uint256", "string", "uint256", "uint64", "string", "uint256", "string", "uint64",
        "string", "string", "uint256", "uint256", "uint256", "uint256", "uint256", "bytes32", "string"],
      [r.transformerId, seconds(r.deliveryStart), seconds(r.deliveryEnd), energyWh, r.direction ?? "ReduceConsumption",
        scaled(r.maxPriceEurPerKwh, 6), seconds(r.gateClosure), r.pricing ?? "PayAsBid", optional(r.minimumOfferKwh, (x) => scaled(x, 3)),
        r.selection ?? "Automatic", optional(r.decisionDeadline, seconds), v.baseline ?? "MeterBeforeMeterAfter", v.payout ?? "ZeroBelowThreshold",
        scaled(v.successThreshold ?? "0.8", 6), scaled(v.tolerance ?? "0.1", 6), BigInt(v.mbmaMinutes ?? 60), BigInt(v.x ?? 4), BigInt(v.y ?? 5),
        profileHash, r.availabilityId ?? ""],
    ),
  );
  const maxAmount = availability
    ? (scaled(r.capacityKw, 6) * scaled(r.maxAvailabilityPriceEurPerKw, 6) * 10n ** BigInt(tokenDecimals)) / 10n ** 12n
    : (energyWh * scaled(r.maxPriceEurPerKwh, 6) * 10n ** BigInt(tokenDecimals)) / 10n ** 9n;
  const start = availability ? r.periodStart : r.deliveryStart;
  const deadline = seconds(start) + 86_400n;
  const nonce = BigInt(ethers.hexlify(ethers.randomBytes(16)));
  const signature = await new ethers.Wallet(key).signTypedData(
    { name: "FlexSettlement", version: "1", chainId, verifyingContract: settlementContract },
    { Consent: [
      { name: "requestHash", type: "bytes32" }, { name: "maxAmount", type: "uint256" },
      { name: "deadline", type: "uint256" }, { name: "nonce", type: "uint256" },
    ] },
    { requestHash, maxAmount, deadline, nonce },
  );
  request.consent = {
    maxAmount: maxAmount.toString(), deadline: new Date(Number(deadline) * 1000).toISOString().replace(".000Z", "Z"),
    nonce: nonce.toString(), signature,
  };
  console.log(JSON.stringify(request));
}

function availabilityHash(r, seconds, scaled) {
  return ethers.keccak256(ethers.AbiCoder.defaultAbiCoder().encode(
    ["string", "string", "uint64", "uint64", "uint256", "string", "uint256", "uint64", "bool"],
    ["Availability", r.transformerId, seconds(r.periodStart), seconds(r.periodEnd), scaled(r.capacityKw, 3), r.direction ?? "ReduceConsumption",
      scaled(r.maxAvailabilityPriceEurPerKw, 6), seconds(r.gateClosure), r.arming ?? false]));
}

main().catch((error) => {
  console.error(error.message);
  process.exitCode = 1;
});
