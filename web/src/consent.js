// The DSO's EIP-712 consent to pay for a request (README, DSO consent), signed by an injected EIP-1193 wallet
// (MetaMask or any other): the same values contracts-sol/scripts/consent.js signs.
import { AbiCoder, hexlify, keccak256, randomBytes } from "ethers";

/** A decimal string (or number) as an integer of `digits` decimal places, truncated, without floating point. */
export function scaled(value, digits) {
  const [whole, fraction = ""] = String(value).split(".");
  return BigInt(whole + fraction.padEnd(digits, "0").slice(0, digits));
}

const seconds = (iso) => BigInt(Math.floor(Date.parse(iso) / 1000));

/**
 * The request's profile as the records hash it: with profileKw, its intervals (the window over their count) and each
 * interval's energy in Wh (kW x interval); a flat request is one interval, its whole window, with its energy.
 */
export function profileOf(r) {
  const window = seconds(r.deliveryEnd) - seconds(r.deliveryStart);
  if (!r.profileKw) return { intervalSeconds: window, energyWh: [scaled(r.energyKwh, 3)] };
  const intervalSeconds = window / BigInt(r.profileKw.length);
  return { intervalSeconds, energyWh: r.profileKw.map((kw) => (scaled(kw, 3) * intervalSeconds) / 3600n) };
}

/** The request's energy in Wh: energyKwh, or its profile's sum when it gives only profileKw. */
export function energyWh(r) {
  return r.energyKwh === undefined || r.energyKwh === null ? profileOf(r).energyWh.reduce((sum, wh) => sum + wh, 0n) : scaled(r.energyKwh, 3);
}

/**
 * The hash of every term the consent binds (README, DSO consent; a term left out takes the API's default):
 * keccak256(abi.encode(string transformerId, uint64 deliveryStart, uint64 deliveryEnd, uint256 energyWh, string direction,
 * uint256 maxPriceMicroEurPerKwh, uint64 gateClosure, string pricing, uint256 minimumOfferWh, string selection,
 * uint64 decisionDeadline, string baseline, string payout, uint256 successThresholdPpm, uint256 tolerancePpm,
 * uint256 mbmaMinutes, uint256 x, uint256 y, bytes32 profileHash, string availabilityId)), profileHash =
 * keccak256(abi.encode(uint64 intervalSeconds, uint256[] energyWh)) of profileOf(r), availabilityId the contract a call names ("" for none).
 */
export function requestHash(r) {
  const v = r.verification ?? {};
  const optional = (value, f) => (value === undefined || value === null ? 0n : f(value));
  const coder = AbiCoder.defaultAbiCoder();
  const profile = profileOf(r);
  return keccak256(coder.encode(
    ["string", "uint64", "uint64", "uint256", "string", "uint256", "uint64", "string", "uint256", "string", "uint64",
      "string", "string", "uint256", "uint256", "uint256", "uint256", "uint256", "bytes32", "string"],
    [r.transformerId, seconds(r.deliveryStart), seconds(r.deliveryEnd), energyWh(r), r.direction ?? "ReduceConsumption",
      scaled(r.maxPriceEurPerKwh, 6), seconds(r.gateClosure), r.pricing ?? "PayAsBid", optional(r.minimumOfferKwh, (x) => scaled(x, 3)),
      r.selection ?? "Automatic", optional(r.decisionDeadline, seconds), v.baseline ?? "MeterBeforeMeterAfter", v.payout ?? "ZeroBelowThreshold",
      scaled(v.successThreshold ?? "0.8", 6), scaled(v.tolerance ?? "0.1", 6), BigInt(v.mbmaMinutes ?? 60), BigInt(v.x ?? 4), BigInt(v.y ?? 5),
      keccak256(coder.encode(["uint64", "uint256[]"], [profile.intervalSeconds, profile.energyWh])), r.availabilityId ?? ""]));
}

/**
 * Asks the wallet to sign the request's consent for its most costly outcome (energy x price cap), valid until a day
 * after delivery starts, under a random nonce; `chain` is the health endpoint's chain (chainId, settlementContract, tokenDecimals).
 */
export async function signConsent(ethereum, account, request, chain) {
  const maxAmount = (energyWh(request) * scaled(request.maxPriceEurPerKwh, 6) * 10n ** BigInt(chain.tokenDecimals)) / 10n ** 9n;
  const deadline = seconds(request.deliveryStart) + 86_400n;
  const nonce = BigInt(hexlify(randomBytes(16)));
  const typedData = {
    types: {
      EIP712Domain: [
        { name: "name", type: "string" }, { name: "version", type: "string" },
        { name: "chainId", type: "uint256" }, { name: "verifyingContract", type: "address" },
      ],
      Consent: [
        { name: "requestHash", type: "bytes32" }, { name: "maxAmount", type: "uint256" },
        { name: "deadline", type: "uint256" }, { name: "nonce", type: "uint256" },
      ],
    },
    primaryType: "Consent",
    domain: { name: "FlexSettlement", version: "1", chainId: chain.chainId, verifyingContract: chain.settlementContract },
    message: { requestHash: requestHash(request), maxAmount: maxAmount.toString(), deadline: deadline.toString(), nonce: nonce.toString() },
  };
  const signature = await ethereum.request({ method: "eth_signTypedData_v4", params: [account, JSON.stringify(typedData)] });
  return {
    maxAmount: maxAmount.toString(), deadline: new Date(Number(deadline) * 1000).toISOString().replace(".000Z", "Z"),
    nonce: nonce.toString(), signature,
  };
}
