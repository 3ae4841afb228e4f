// Deploys FlexEuro (tEUR) and FlexSettlement to the selected network and funds the demo accounts.
//
//   npx hardhat run scripts/deploy.js --network localhost     (URL from env FLEXCHAIN_RPC_URL)
//
// Roles (four different keys; the escrow refuses one account holding two of them): Hardhat signer #0 deploys both
// contracts, owns the test token and is the escrow's settler (the market operator's key, the app's
// Chain:OperatorKey); #17 is the registrar (keeps the payee list; the app's Chain:RegistrarKey, since the app lists
// a CPO's wallet after its wallet proof); #18 the pauser and #19 the admin (neither is given to the app; the admin
// role changes hands only after ADMIN_DELAY). Signers #1..#9 each get 1,000,000 tEUR and approve the escrow for the
// maximum amount so that any of them can act as a DSO.
//
// Output: a JSON file at env FLEXCHAIN_DEPLOYMENT_FILE (default deployments/localhost.json in this project;
// a relative path resolves against the caller's directory, also under `npm run`), written atomically, and
// the same JSON on stdout:
//   { "chainId": 31337, "rpcUrl": "http://127.0.0.1:8545", "token": "0x..", "settlement": "0x..",
//     "admin": "0x..", "pauser": "0x..", "registrar": "0x..", "settler": "0x..", "deployBlock": n }
// deployBlock is the block of the first deployment transaction: scan the contracts' logs from there.
// The elapsed time goes to stderr so stdout stays machine-readable.
//
// Speed: it runs at the start of end-to-end tests, so it waits for exactly one receipt (the token deployment,
// which the approvals of other senders depend on) before all receipts at the end. The operator's transactions
// carry explicit nonces and gas limits (the contract addresses are computed from the nonces), so they never
// depend on an earlier transaction being mined; they are submitted in nonce order because Hardhat's automining
// node rejects nonce gaps. The demo accounts' approvals come from other senders and go out in parallel.
const fs = require("fs");
const path = require("path");
const hre = require("hardhat");

const { ethers } = hre;

const LOCAL_CHAIN_ID = 31337n;
const DEMO_ACCOUNTS = 9; // signers #1..#9
const ROLE_ACCOUNTS = { admin: 19, pauser: 18, registrar: 17 }; // the settler is #0, the deployer
const DAY = 24n * 3600n;
const ADMIN_DELAY = 2n * DAY; // seconds before a new admin may accept the role (local value)
// refundAfter must lie 1 hour to 400 days after the lock: the app sets delivery end + GateCycle:RefundAfter (7 days by
// default), and requests deliver at most 366 days ahead.
const REFUND_DELAYS = [3600n, 400n * DAY];
// The test token's decimals: 6 like EURC (the default), or 18 like EURe (FLEXCHAIN_TOKEN_DECIMALS=18).
const TOKEN_DECIMALS = [6, 18];
/** 1,000,000 tEUR in base units of a token with `decimals` decimals. */
const demoFunding = (decimals) => 1_000_000n * 10n ** BigInt(decimals);
// Fixed gas limits for calls whose estimate would depend on not-yet-mined state (measured: mint ~70k to a
// fresh account, approve ~46k); generous headroom, unused gas is not charged.
const MINT_GAS = 150_000n;
const APPROVE_GAS = 100_000n;
const DEPLOY_GAS_HEADROOM = 120n; // percent of the estimate

function deploymentFile() {
  const fromEnv = process.env.FLEXCHAIN_DEPLOYMENT_FILE;
  // `npm run` changes into this project; INIT_CWD is where the caller ran it.
  if (fromEnv) return path.resolve(process.env.INIT_CWD || process.cwd(), fromEnv);
  return path.join(hre.config.paths.root, "deployments", "localhost.json");
}

function writeAtomically(file, text) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

/**
 * Submits a transaction from an account the node (or Hardhat's local-accounts provider) can sign for, with
 * a single eth_sendTransaction round trip (ethers' signer would add several look-ups per transaction).
 * Returns the transaction hash.
 */
function send(from, tx) {
  const request = { from, data: tx.data, gas: ethers.toQuantity(tx.gasLimit) };
  if (tx.to) request.to = tx.to;
  if (tx.nonce !== undefined) request.nonce = ethers.toQuantity(tx.nonce);
  return ethers.provider.send("eth_sendTransaction", [request]);
}

/** Polls for a transaction's receipt and fails unless it succeeded. */
async function waitForReceipt(hash, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const receipt = await ethers.provider.send("eth_getTransactionReceipt", [hash]);
    if (receipt) {
      if (BigInt(receipt.status) !== 1n) throw new Error(`transaction ${hash} reverted`);
      return { ...receipt, contractAddress: receipt.contractAddress && ethers.getAddress(receipt.contractAddress) };
    }
    if (Date.now() > deadline) throw new Error(`no receipt for ${hash} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Deploys and funds everything on the current Hardhat network and returns the deployment summary (the JSON
 * written by `main`). Exported for the tests; `hardhat run` calls `main`.
 */
/** The token decimals to deploy with: FLEXCHAIN_TOKEN_DECIMALS (6 or 18), 6 when unset. */
function tokenDecimals() {
  const decimals = Number(process.env.FLEXCHAIN_TOKEN_DECIMALS ?? "6");
  if (!TOKEN_DECIMALS.includes(decimals)) throw new Error(`FLEXCHAIN_TOKEN_DECIMALS must be one of ${TOKEN_DECIMALS.join(", ")}`);
  return decimals;
}

async function deploy(decimals = tokenDecimals()) {
  const chainId = BigInt(await ethers.provider.send("eth_chainId", []));
  if (chainId !== LOCAL_CHAIN_ID && process.env.FLEXCHAIN_ALLOW_NON_LOCAL_DEPLOY !== "1") {
    // The demo funding below (mint + unlimited approvals) is for a local chain only.
    throw new Error(`refusing to deploy the demo setup to chain ${chainId} (expected ${LOCAL_CHAIN_ID})`);
  }

  // Plain artifacts and eth_accounts instead of hardhat-ethers' signers: same accounts, fewer round trips.
  const [accounts, tokenArtifact, settlementArtifact] = await Promise.all([
    ethers.provider.send("eth_accounts", []),
    hre.artifacts.readArtifact("FlexEuro"),
    hre.artifacts.readArtifact("FlexSettlement"),
  ]);
  const operator = { address: ethers.getAddress(accounts[0]) };
  if (accounts.length <= ROLE_ACCOUNTS.admin) throw new Error(`need ${ROLE_ACCOUNTS.admin + 1} node accounts, got ${accounts.length}`);
  const roles = Object.fromEntries(Object.entries(ROLE_ACCOUNTS).map(([role, i]) => [role, ethers.getAddress(accounts[i])]));
  const demo = accounts.slice(1, 1 + DEMO_ACCOUNTS).map((a) => ({ address: ethers.getAddress(a) }));
  if (demo.length < DEMO_ACCOUNTS) {
    console.error(`warning: only ${demo.length} demo accounts available (wanted ${DEMO_ACCOUNTS})`);
  }

  const tokenFactory = new ethers.ContractFactory(tokenArtifact.abi, tokenArtifact.bytecode);
  const settlementFactory = new ethers.ContractFactory(settlementArtifact.abi, settlementArtifact.bytecode);

  const nonce = Number(await ethers.provider.send("eth_getTransactionCount", [operator.address, "pending"]));
  const tokenAddress = ethers.getCreateAddress({ from: operator.address, nonce });
  const settlementAddress = ethers.getCreateAddress({ from: operator.address, nonce: nonce + 1 });

  const tokenDeployTx = await tokenFactory.getDeployTransaction(decimals);
  const settlementDeployTx = await settlementFactory.getDeployTransaction(
    tokenAddress,
    ADMIN_DELAY,
    roles.admin,
    roles.pauser,
    roles.registrar,
    operator.address, // settler (SETTLER_ROLE)
    ...REFUND_DELAYS,
  );
  // Both constructors touch no other contract, so their estimates do not depend on pending state.
  const estimate = (tx) =>
    ethers.provider.send("eth_estimateGas", [{ from: operator.address, data: tx.data }]).then(BigInt);
  const [tokenGas, settlementGas] = await Promise.all([estimate(tokenDeployTx), estimate(settlementDeployTx)]);
  const withHeadroom = (gas) => (gas * DEPLOY_GAS_HEADROOM) / 100n;

  const operatorTxs = [
    { ...tokenDeployTx, gasLimit: withHeadroom(tokenGas) },
    { ...settlementDeployTx, gasLimit: withHeadroom(settlementGas) },
    ...demo.map((account) => ({
      to: tokenAddress,
      data: tokenFactory.interface.encodeFunctionData("mint", [account.address, demoFunding(decimals)]),
      gasLimit: MINT_GAS,
    })),
  ];

  // The token deployment is the one thing the other senders depend on: an approve sent to an address without
  // code would "succeed" as a no-op, so wait for that single receipt before the approvals go out.
  const tokenDeployment = await send(operator.address, { ...operatorTxs[0], nonce });
  const tokenReceipt = await waitForReceipt(tokenDeployment);

  // LOCAL DEMO ONLY: every demo account grants the escrow an unlimited allowance so that it can act as a DSO
  // without further setup. Never do this with real funds; a real DSO approves (or permits) what it awards.
  const approveData = tokenFactory.interface.encodeFunctionData("approve", [settlementAddress, ethers.MaxUint256]);
  const approvals = Promise.all(
    demo.map((account) => send(account.address, { to: tokenAddress, data: approveData, gasLimit: APPROVE_GAS })),
  );

  const sent = [tokenDeployment];
  for (let i = 1; i < operatorTxs.length; i++) {
    sent.push(await send(operator.address, { ...operatorTxs[i], nonce: nonce + i }));
  }
  sent.push(...(await approvals));

  const receipts = await Promise.all(sent.map(waitForReceipt));
  if (tokenReceipt.contractAddress !== tokenAddress || receipts[1].contractAddress !== settlementAddress) {
    throw new Error("deployed addresses differ from the precomputed ones");
  }

  // Every mint and approve must have run token code: a call to an address without code also "succeeds",
  // but emits no log. Checking the receipts' logs costs no extra round trip.
  for (const receipt of receipts.slice(2)) {
    if (!receipt.logs.some((log) => ethers.getAddress(log.address) === tokenAddress)) {
      throw new Error(`transaction ${receipt.transactionHash} did not reach the token contract`);
    }
  }

  return {
    chainId: Number(chainId),
    rpcUrl: hre.network.config.url ?? null,
    token: tokenAddress,
    tokenDecimals: decimals,
    settlement: settlementAddress,
    ...roles,
    settler: operator.address,
    deployBlock: Number(tokenReceipt.blockNumber),
  };
}

async function main() {
  const started = process.hrtime.bigint();
  const summary = await deploy();
  const json = JSON.stringify(summary, null, 2);
  writeAtomically(deploymentFile(), `${json}\n`);
  console.log(json);
  const ms = Number((process.hrtime.bigint() - started) / 1_000_000n);
  console.error(`deployed to ${hre.network.name} in ${ms} ms -> ${deploymentFile()}`);
}

module.exports = { deploy, DEMO_ACCOUNTS, demoFunding, ROLE_ACCOUNTS, ADMIN_DELAY, REFUND_DELAYS };

if (require.main === module) {
  main().catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
}
