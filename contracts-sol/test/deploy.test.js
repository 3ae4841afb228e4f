const { expect } = require("chai");
const { ethers } = require("hardhat");
const { consentsFor } = require("./helpers");
const { deploy, DEMO_ACCOUNTS, demoFunding, ROLE_ACCOUNTS, ADMIN_DELAY, REFUND_DELAYS } = require("../scripts/deploy");

const DEMO_FUNDING = demoFunding(6);

describe("scripts/deploy.js", function () {
  it("deploys both contracts with four distinct role holders and funds and approves signers #1..#9", async function () {
    const signers = await ethers.getSigners();
    const [operator] = signers;
    const summary = await deploy();

    expect(Object.keys(summary)).to.deep.equal([
      "chainId", "rpcUrl", "token", "tokenDecimals", "settlement", "admin", "pauser", "registrar", "settler", "deployBlock",
    ]);
    expect(summary.chainId).to.equal(31337);
    expect(summary.tokenDecimals).to.equal(6);
    expect(summary.settler).to.equal(operator.address);
    for (const [role, index] of Object.entries(ROLE_ACCOUNTS)) expect(summary[role]).to.equal(signers[index].address);
    expect(summary.deployBlock).to.be.a("number");
    expect(JSON.parse(JSON.stringify(summary))).to.deep.equal(summary);

    const token = await ethers.getContractAt("FlexEuro", summary.token);
    const settlement = await ethers.getContractAt("FlexSettlement", summary.settlement);
    expect(await token.owner()).to.equal(operator.address);
    expect(await settlement.token()).to.equal(summary.token);
    expect(await settlement.defaultAdmin()).to.equal(summary.admin);
    expect(await settlement.defaultAdminDelay()).to.equal(ADMIN_DELAY);
    expect([...(await settlement.refundDelayBounds())]).to.deep.equal(REFUND_DELAYS);
    expect(await settlement.hasRole(await settlement.PAUSER_ROLE(), summary.pauser)).to.equal(true);
    expect(await settlement.hasRole(await settlement.REGISTRAR_ROLE(), summary.registrar)).to.equal(true);
    expect(await settlement.hasRole(await settlement.SETTLER_ROLE(), summary.settler)).to.equal(true);

    // The deployment's first transaction is in deployBlock: log scans from there see the token's creation.
    const created = await token.queryFilter(token.filters.OwnershipTransferred(), summary.deployBlock, summary.deployBlock);
    expect(created.map((e) => e.args.newOwner)).to.deep.equal([operator.address]);
    expect(await settlement.queryFilter(settlement.filters.RoleGranted(), summary.deployBlock)).to.have.length(4);

    const demo = signers.slice(1, 1 + DEMO_ACCOUNTS);
    expect(demo).to.have.length(9);
    for (const account of demo) {
      expect(await token.balanceOf(account.address)).to.equal(DEMO_FUNDING);
      expect(await token.allowance(account.address, summary.settlement)).to.equal(ethers.MaxUint256);
    }
    expect(await token.balanceOf(signers[10].address)).to.equal(0n);
    expect(DEMO_FUNDING).to.equal(1_000_000n * 10n ** 6n);

    // Any demo account can act as a DSO right away, paying a wallet the registrar listed.
    const registrar = signers[ROLE_ACCOUNTS.registrar];
    await settlement.connect(registrar).registerPayees([demo[1].address]);
    const cycleId = ethers.toBeHex(BigInt(ethers.id("deploy-smoke")) & ~0xffffffffn, 32);
    const awards = [{ cpo: demo[1].address, amount: 10n ** 6n, awardHash: ethers.id("a") }];
    const { timestamp } = await ethers.provider.getBlock("latest");
    const consents = await consentsFor(settlement, demo[0], awards);
    await settlement.lockCycle(cycleId, demo[0].address, BigInt(timestamp) + 8n * 24n * 3600n, awards, consents);
    await settlement.settleCycle(cycleId, awards, [10n ** 6n], [ethers.id("s")]);
    expect(await token.balanceOf(demo[1].address)).to.equal(DEMO_FUNDING + 10n ** 6n);
  });

  it("deploys an 18-decimal token like EURe when asked, funding 1,000,000 tEUR in its units", async function () {
    const [, dso] = await ethers.getSigners();
    const summary = await deploy(18);
    const token = await ethers.getContractAt("FlexEuro", summary.token);
    expect(summary.tokenDecimals).to.equal(18);
    expect(await token.decimals()).to.equal(18n);
    expect(await token.balanceOf(dso.address)).to.equal(1_000_000n * 10n ** 18n);
  });

  it("refuses token decimals other than 6 and 18 from FLEXCHAIN_TOKEN_DECIMALS", async function () {
    process.env.FLEXCHAIN_TOKEN_DECIMALS = "8";
    try {
      await expect(deploy()).to.be.rejectedWith("FLEXCHAIN_TOKEN_DECIMALS must be one of 6, 18");
    } finally {
      delete process.env.FLEXCHAIN_TOKEN_DECIMALS;
    }
  });
});
