// FlexSettlement's access rules: the interface, the four distinct roles and the delayed admin hand-over, the payee
// list kept by the registrar, and pausing. The escrow flow itself is in FlexSettlementCycle.test.js.
const { expect } = require("chai");
const { ethers } = require("hardhat");
const { loadFixture, time } = require("@nomicfoundation/hardhat-network-helpers");
const { signPermit, deployEscrow, signConsent, consentsFor, ADMIN_DELAY, REFUND_DELAYS } = require("./helpers");

const UNIT = 10n ** 6n; // 1 tEUR
const SETTLER_ROLE = ethers.id("SETTLER_ROLE");
const PAUSER_ROLE = ethers.id("PAUSER_ROLE");
const REGISTRAR_ROLE = ethers.id("REGISTRAR_ROLE");
const DEFAULT_ADMIN_ROLE = ethers.ZeroHash;
const LOW32 = 0xffffffffn;
const cycleIdOf = (label) => ethers.toBeHex(BigInt(ethers.id(`cycle:${label}`)) & ~LOW32, 32);

const deployFixture = deployEscrow;

describe("FlexSettlement", function () {
  describe("interface (the C# client is written against these exact signatures)", function () {
    it("has the agreed role, payee and view signatures", async function () {
      const { settlement } = await loadFixture(deployFixture);
      const sig = (fragment) => fragment.format("sighash");
      const i = settlement.interface;
      expect(sig(i.getFunction("registerPayees"))).to.equal("registerPayees(address[])");
      expect(sig(i.getFunction("deregisterPayee"))).to.equal("deregisterPayee(address)");
      expect(sig(i.getFunction("isPayee"))).to.equal("isPayee(address)");
      expect(sig(i.getFunction("token"))).to.equal("token()");
      expect(sig(i.getFunction("pause"))).to.equal("pause()");
      expect(sig(i.getFunction("unpause"))).to.equal("unpause()");
      expect(i.deploy.inputs.map((p) => p.type)).to.deep.equal(["address", "uint48", "address", "address", "address", "address", "uint64", "uint64"]);
      expect(sig(i.getFunction("claim"))).to.equal("claim()");
      expect(sig(i.getFunction("claimable"))).to.equal("claimable(address)");
      expect(sig(i.getFunction("refundDelayBounds"))).to.equal("refundDelayBounds()");
      expect(sig(i.getEvent("PaymentCredited"))).to.equal("PaymentCredited(address,uint256)");
      expect(sig(i.getEvent("Claimed"))).to.equal("Claimed(address,uint256)");
      expect(sig(i.getEvent("AwardRefunded"))).to.equal("AwardRefunded(bytes32,address,address,uint256)");
      expect(sig(i.getEvent("PayeeRegistered"))).to.equal("PayeeRegistered(address)");
      expect(sig(i.getEvent("PayeeDeregistered"))).to.equal("PayeeDeregistered(address)");
      expect(sig(i.getEvent("AwardSettled"))).to.equal("AwardSettled(bytes32,address,address,uint256,uint256,bytes32)");
      expect(i.getEvent("AwardSettled").inputs.map((p) => p.name)).to.deep.equal([
        "awardId", "cpo", "dso", "paid", "refunded", "settlementHash",
      ]);
      expect(i.getEvent("AwardSettled").inputs.map((p) => p.indexed)).to.deep.equal([true, true, true, false, false, false]);
      for (const [name, signature] of [
        ["ZeroAddress", "ZeroAddress()"],
        ["ZeroAmount", "ZeroAmount()"],
        ["PayoutExceedsAmount", "PayoutExceedsAmount(bytes32,uint256,uint256)"],
        ["RefundNotDue", "RefundNotDue(bytes32,uint64)"],
        ["PayeeNotRegistered", "PayeeNotRegistered(address)"],
        ["RoleConflict", "RoleConflict(address,bytes32)"],
        ["RefundAfterOutOfBounds", "RefundAfterOutOfBounds(uint64,uint256,uint256)"],
        ["NothingToClaim", "NothingToClaim(address)"],
        ["InvalidRefundDelays", "InvalidRefundDelays(uint64,uint64)"],
        ["InvalidConsentSignature", "InvalidConsentSignature(bytes32)"],
        ["ConsentExpired", "ConsentExpired(bytes32,uint256)"],
        ["ConsentExceeded", "ConsentExceeded(bytes32,uint256,uint256)"],
        ["ConsentMismatch", "ConsentMismatch(uint256,uint256)"],
      ]) {
        expect(sig(i.getError(name))).to.equal(signature);
      }
    });

    it("has no state-changing function besides the escrow flow, the payee list, pausing and role management", async function () {
      // Guards the rule that nobody can move escrowed funds anywhere but to a cycle's DSO or its listed CPOs (claim
      // pays only the caller's own credited balance):
      // a new withdrawal/sweep/upgrade function would have to be added here on purpose.
      const { settlement } = await loadFixture(deployFixture);
      const mutating = settlement.interface.fragments
        .filter((f) => f.type === "function" && !["view", "pure"].includes(f.stateMutability))
        .map((f) => f.name)
        .sort();
      expect(mutating).to.deep.equal(
        [
          "acceptDefaultAdminTransfer", "beginDefaultAdminTransfer", "cancelDefaultAdminTransfer", "claim",
          "changeDefaultAdminDelay", "deregisterPayee", "grantRole", "lockCycle", "pause", "refundExpiredCycle",
          "registerPayees", "renounceRole", "revokeRole", "rollbackDefaultAdminDelay", "settleCycle", "unpause",
        ].sort(),
      );
    });
  });

  describe("constructor", function () {
    it("stores the token and gives each of the four roles to its own account", async function () {
      const { settlement, token, admin, pauser, registrar, settler } = await loadFixture(deployFixture);
      expect(await settlement.token()).to.equal(await token.getAddress());
      expect(await settlement.SETTLER_ROLE()).to.equal(SETTLER_ROLE);
      expect(await settlement.PAUSER_ROLE()).to.equal(PAUSER_ROLE);
      expect(await settlement.REGISTRAR_ROLE()).to.equal(REGISTRAR_ROLE);
      expect(await settlement.defaultAdmin()).to.equal(admin.address);
      expect(await settlement.defaultAdminDelay()).to.equal(ADMIN_DELAY);
      const holders = { [DEFAULT_ADMIN_ROLE]: admin, [PAUSER_ROLE]: pauser, [REGISTRAR_ROLE]: registrar, [SETTLER_ROLE]: settler };
      for (const [role, holder] of Object.entries(holders)) {
        for (const account of [admin, pauser, registrar, settler]) {
          expect(await settlement.hasRole(role, account.address)).to.equal(account === holder);
        }
      }
      expect(await settlement.paused()).to.equal(false);
    });

    for (const [which, index] of [["token", 0], ["pauser", 3], ["registrar", 4], ["settler", 5]]) {
      it(`reverts ZeroAddress when the ${which} is the zero address`, async function () {
        const { token, admin, pauser, registrar, settler } = await loadFixture(deployFixture);
        const args = [await token.getAddress(), ADMIN_DELAY, admin.address, pauser.address, registrar.address, settler.address, ...REFUND_DELAYS];
        args[index] = ethers.ZeroAddress;
        const factory = await ethers.getContractFactory("FlexSettlement");
        await expect(factory.deploy(...args)).to.be.revertedWithCustomError(factory, "ZeroAddress");
      });
    }

    it("reverts AccessControlInvalidDefaultAdmin for a zero admin (OpenZeppelin's check)", async function () {
      const { token, pauser, registrar, settler } = await loadFixture(deployFixture);
      const factory = await ethers.getContractFactory("FlexSettlement");
      await expect(
        factory.deploy(await token.getAddress(), ADMIN_DELAY, ethers.ZeroAddress, pauser.address, registrar.address, settler.address, ...REFUND_DELAYS),
      ).to.be.revertedWithCustomError(factory, "AccessControlInvalidDefaultAdmin");
    });

    it("reverts RoleConflict when one account is given two roles", async function () {
      const { token, admin, pauser, registrar, settler } = await loadFixture(deployFixture);
      const factory = await ethers.getContractFactory("FlexSettlement");
      const t = await token.getAddress();
      await expect(factory.deploy(t, ADMIN_DELAY, admin.address, admin.address, registrar.address, settler.address, ...REFUND_DELAYS))
        .to.be.revertedWithCustomError(factory, "RoleConflict")
        .withArgs(admin.address, DEFAULT_ADMIN_ROLE);
      await expect(factory.deploy(t, ADMIN_DELAY, admin.address, pauser.address, registrar.address, registrar.address, ...REFUND_DELAYS))
        .to.be.revertedWithCustomError(factory, "RoleConflict")
        .withArgs(registrar.address, REGISTRAR_ROLE);
    });
  });

  describe("roles", function () {
    it("lets the admin add a second holder of a role, but never give an account a second role", async function () {
      const { settlement, admin, pauser, settler, stranger } = await loadFixture(deployFixture);
      await expect(settlement.connect(admin).grantRole(SETTLER_ROLE, pauser.address))
        .to.be.revertedWithCustomError(settlement, "RoleConflict")
        .withArgs(pauser.address, PAUSER_ROLE);
      await expect(settlement.connect(admin).grantRole(REGISTRAR_ROLE, settler.address))
        .to.be.revertedWithCustomError(settlement, "RoleConflict")
        .withArgs(settler.address, SETTLER_ROLE);
      await settlement.connect(admin).grantRole(SETTLER_ROLE, stranger.address);
      expect(await settlement.hasRole(SETTLER_ROLE, stranger.address)).to.equal(true);
      await settlement.connect(admin).grantRole(SETTLER_ROLE, stranger.address); // already held: no conflict with itself
    });

    it("refuses granting the admin role directly (AccessControlEnforcedDefaultAdminRules)", async function () {
      const { settlement, admin, stranger } = await loadFixture(deployFixture);
      await expect(settlement.connect(admin).grantRole(DEFAULT_ADMIN_ROLE, stranger.address)).to.be.revertedWithCustomError(
        settlement,
        "AccessControlEnforcedDefaultAdminRules",
      );
    });

    it("hands the admin role over only after the delay, to an account holding no other role", async function () {
      const { settlement, admin, settler, stranger } = await loadFixture(deployFixture);
      await settlement.connect(admin).beginDefaultAdminTransfer(stranger.address);
      await expect(settlement.connect(stranger).acceptDefaultAdminTransfer()).to.be.revertedWithCustomError(
        settlement,
        "AccessControlEnforcedDefaultAdminDelay",
      );
      await time.increase(ADMIN_DELAY + 1n);
      await settlement.connect(stranger).acceptDefaultAdminTransfer();
      expect(await settlement.defaultAdmin()).to.equal(stranger.address);
      expect(await settlement.hasRole(DEFAULT_ADMIN_ROLE, admin.address)).to.equal(false);

      await settlement.connect(stranger).beginDefaultAdminTransfer(settler.address);
      await time.increase(ADMIN_DELAY + 1n);
      await expect(settlement.connect(settler).acceptDefaultAdminTransfer())
        .to.be.revertedWithCustomError(settlement, "RoleConflict")
        .withArgs(settler.address, SETTLER_ROLE);
    });

    for (const [fn, args] of [["registerPayees", [[]]], ["deregisterPayee", [ethers.ZeroAddress]], ["pause", []]]) {
      it(`refuses ${fn} from the admin and the settler (only its own role may)`, async function () {
        const f = await loadFixture(deployFixture);
        for (const who of [f.admin, f.settler, f.stranger]) {
          await expect(f.settlement.connect(who)[fn](...args)).to.be.revertedWithCustomError(
            f.settlement,
            "AccessControlUnauthorizedAccount",
          );
        }
      });
    }
  });

  describe("payee list", function () {
    it("registers each new wallet once, skipping listed ones, with one event per newly listed wallet", async function () {
      const { settlement, registrar, cpo, stranger, dso2 } = await loadFixture(deployFixture);
      expect(await settlement.isPayee(stranger.address)).to.equal(false);
      const tx = settlement.connect(registrar).registerPayees([stranger.address, cpo.address, dso2.address, stranger.address]);
      await expect(tx).to.emit(settlement, "PayeeRegistered").withArgs(stranger.address);
      const receipt = await (await tx).wait();
      const registered = receipt.logs.map((l) => settlement.interface.parseLog(l)).map((p) => p.args.wallet);
      expect(registered).to.deep.equal([stranger.address, dso2.address]);
      expect(await settlement.isPayee(stranger.address)).to.equal(true);
      expect(await settlement.isPayee(cpo.address)).to.equal(true);
    });

    it("reverts ZeroAddress for the zero address and lists nothing of that call", async function () {
      const { settlement, registrar, stranger } = await loadFixture(deployFixture);
      await expect(settlement.connect(registrar).registerPayees([stranger.address, ethers.ZeroAddress])).to.be.revertedWithCustomError(
        settlement,
        "ZeroAddress",
      );
      expect(await settlement.isPayee(stranger.address)).to.equal(false);
    });

    it("deregisters a listed wallet (emitting PayeeDeregistered) and refuses an unlisted one", async function () {
      const { settlement, registrar, cpo, stranger } = await loadFixture(deployFixture);
      await expect(settlement.connect(registrar).deregisterPayee(cpo.address))
        .to.emit(settlement, "PayeeDeregistered")
        .withArgs(cpo.address);
      expect(await settlement.isPayee(cpo.address)).to.equal(false);
      await expect(settlement.connect(registrar).deregisterPayee(stranger.address))
        .to.be.revertedWithCustomError(settlement, "PayeeNotRegistered")
        .withArgs(stranger.address);
    });

    it("the settler cannot pay an unlisted address: lockCycle reverts PayeeNotRegistered naming it", async function () {
      const { settlement, settler, registrar, dso, cpo, stranger, refundAfter } = await loadFixture(deployFixture);
      const awards = [
        { cpo: cpo.address, amount: UNIT, awardHash: ethers.id("a") },
        { cpo: stranger.address, amount: UNIT, awardHash: ethers.id("b") },
      ];
      await expect(settlement.connect(settler).lockCycle(cycleIdOf("x"), dso.address, refundAfter, awards, await consentsFor(settlement, dso, awards)))
        .to.be.revertedWithCustomError(settlement, "PayeeNotRegistered")
        .withArgs(stranger.address);
      await settlement.connect(registrar).deregisterPayee(cpo.address);
      await expect(settlement.connect(settler).lockCycle(cycleIdOf("x"), dso.address, refundAfter, awards.slice(0, 1), await consentsFor(settlement, dso, awards.slice(0, 1))))
        .to.be.revertedWithCustomError(settlement, "PayeeNotRegistered")
        .withArgs(cpo.address);
    });

    it("still pays a payee deregistered after its cycle was locked (the DSO agreed at lock time)", async function () {
      const { settlement, token, settler, registrar, dso, cpo, refundAfter } = await loadFixture(deployFixture);
      const awards = [{ cpo: cpo.address, amount: UNIT, awardHash: ethers.id("a") }];
      await settlement.connect(settler).lockCycle(cycleIdOf("y"), dso.address, refundAfter, awards, await consentsFor(settlement, dso, awards));
      await settlement.connect(registrar).deregisterPayee(cpo.address);
      await expect(
        settlement.connect(settler).settleCycle(cycleIdOf("y"), awards, [UNIT], [ethers.id("s")]),
      ).to.changeTokenBalances(token, [cpo], [UNIT]);
    });
  });

  describe("DSO consent (EIP-712)", function () {
    const CYCLE = cycleIdOf("consent");
    const awardsOf = (f) => [
      { cpo: f.cpo.address, amount: 100n * UNIT, awardHash: ethers.id("a") },
      { cpo: f.cpo2.address, amount: 50n * UNIT, awardHash: ethers.id("b") },
    ];
    const lock = (f, consents, dso = f.dso, id = CYCLE) =>
      f.settlement.connect(f.settler).lockCycle(id, dso.address, f.refundAfter, awardsOf(f), consents);

    it("signs over the escrow's EIP-712 domain (chain id, escrow address) and type", async function () {
      const f = await loadFixture(deployFixture);
      const domain = { name: "FlexSettlement", version: "1", chainId: 31337, verifyingContract: f.settlementAddress };
      const types = { Consent: [
        { name: "requestHash", type: "bytes32" }, { name: "maxAmount", type: "uint256" },
        { name: "deadline", type: "uint256" }, { name: "nonce", type: "uint256" },
      ] };
      const value = { requestHash: ethers.id("r"), maxAmount: 7n, deadline: 9n, nonce: 11n };
      expect(await f.settlement.consentDigest(value.requestHash, 7n, 9n, 11n)).to.equal(ethers.TypedDataEncoder.hash(domain, types, value));
      expect(await f.settlement.CONSENT_TYPEHASH()).to.equal(
        ethers.id("Consent(bytes32 requestHash,uint256 maxAmount,uint256 deadline,uint256 nonce)"),
      );
    });

    it("locks with consents adding up to the total and records what was drawn under each nonce", async function () {
      const f = await loadFixture(deployFixture);
      const a = await signConsent(f.settlement, f.dso, 120n * UNIT, { amount: 100n * UNIT, requestHash: ethers.id("r1") });
      const b = await signConsent(f.settlement, f.dso, 50n * UNIT, { requestHash: ethers.id("r2") });
      expect(await f.settlement.consentDrawn(f.dso.address, a.nonce)).to.equal(0n);
      await expect(lock(f, [a, b])).to.changeTokenBalance(f.token, f.dso, -150n * UNIT);
      expect(await f.settlement.consentDrawn(f.dso.address, a.nonce)).to.equal(100n * UNIT);
      expect(await f.settlement.consentDrawn(f.dso.address, b.nonce)).to.equal(50n * UNIT);
      expect(await f.settlement.consentDrawn(f.dso2.address, a.nonce)).to.equal(0n);
    });

    it("a consent is an allowance: locks of one request's awards draw on it until its maximum, no further", async function () {
      const f = await loadFixture(deployFixture);
      const single = (amount) => [{ cpo: f.cpo.address, amount, awardHash: ethers.id("one") }];
      const lockPart = (id, amount, consent) =>
        f.settlement.connect(f.settler).lockCycle(cycleIdOf(id), f.dso.address, f.refundAfter, single(amount), [{ ...consent, amount }]);
      const consent = await signConsent(f.settlement, f.dso, 150n * UNIT);
      await expect(lockPart("part1", 100n * UNIT, consent)).to.changeTokenBalance(f.token, f.dso, -100n * UNIT);
      await expect(lockPart("part2", 51n * UNIT, consent))
        .to.be.revertedWithCustomError(f.settlement, "ConsentExceeded")
        .withArgs(consent.requestHash, 151n * UNIT, 150n * UNIT);
      await expect(lockPart("part2", 50n * UNIT, consent)).to.changeTokenBalance(f.token, f.dso, -50n * UNIT);
      expect(await f.settlement.consentDrawn(f.dso.address, consent.nonce)).to.equal(150n * UNIT);
      await expect(lockPart("part3", 1n, consent))
        .to.be.revertedWithCustomError(f.settlement, "ConsentExceeded")
        .withArgs(consent.requestHash, 150n * UNIT + 1n, 150n * UNIT);
    });

    it("two draws under one nonce in the same lock count together", async function () {
      const f = await loadFixture(deployFixture);
      const consent = await signConsent(f.settlement, f.dso, 100n * UNIT);
      await expect(lock(f, [{ ...consent, amount: 100n * UNIT }, { ...consent, amount: 50n * UNIT }]))
        .to.be.revertedWithCustomError(f.settlement, "ConsentExceeded")
        .withArgs(consent.requestHash, 150n * UNIT, 100n * UNIT);
    });

    it("the settler cannot take more than the authorisation (ConsentExceeded, ConsentMismatch)", async function () {
      const f = await loadFixture(deployFixture);
      const over = await signConsent(f.settlement, f.dso, 149n * UNIT, { amount: 150n * UNIT });
      await expect(lock(f, [over]))
        .to.be.revertedWithCustomError(f.settlement, "ConsentExceeded")
        .withArgs(over.requestHash, 150n * UNIT, 149n * UNIT);
      const short = await signConsent(f.settlement, f.dso, 149n * UNIT);
      await expect(lock(f, [short])).to.be.revertedWithCustomError(f.settlement, "ConsentMismatch").withArgs(150n * UNIT, 149n * UNIT);
      await expect(lock(f, [])).to.be.revertedWithCustomError(f.settlement, "ConsentMismatch").withArgs(150n * UNIT, 0n);
      expect(await f.token.balanceOf(f.settlementAddress)).to.equal(0n);
    });

    it("the settler cannot draw a spent signature again (ConsentExceeded), not even for another cycle", async function () {
      const f = await loadFixture(deployFixture);
      const consent = await signConsent(f.settlement, f.dso, 150n * UNIT);
      await lock(f, [consent]);
      await expect(lock(f, [consent], f.dso, cycleIdOf("again")))
        .to.be.revertedWithCustomError(f.settlement, "ConsentExceeded")
        .withArgs(consent.requestHash, 300n * UNIT, 150n * UNIT);
    });

    it("the settler cannot lock after the consent's deadline (ConsentExpired), and can at it", async function () {
      const f = await loadFixture(deployFixture);
      const deadline = BigInt(await time.latest()) + 100n;
      const consent = await signConsent(f.settlement, f.dso, 150n * UNIT, { deadline });
      await time.setNextBlockTimestamp(deadline + 1n);
      await expect(lock(f, [consent])).to.be.revertedWithCustomError(f.settlement, "ConsentExpired").withArgs(consent.requestHash, deadline);

      const g = await loadFixture(deployFixture);
      const atDeadline = await signConsent(g.settlement, g.dso, 150n * UNIT, { deadline });
      await time.setNextBlockTimestamp(deadline);
      await expect(lock(g, [atDeadline])).to.emit(g.settlement, "CycleLocked");
    });

    it("refuses a consent not signed by the cycle's DSO for this escrow and these terms (InvalidConsentSignature)", async function () {
      const f = await loadFixture(deployFixture);
      const total = 150n * UNIT;
      const forged = [
        await signConsent(f.settlement, f.dso2, total), // another DSO's key
        await signConsent(f.settlement, f.dso, total, { chainId: 1n }), // another chain
        await signConsent(f.settlement, f.dso, total, { verifyingContract: f.stranger.address }), // another escrow
        { ...(await signConsent(f.settlement, f.dso, total)), requestHash: ethers.id("other request") }, // altered terms
        { ...(await signConsent(f.settlement, f.dso, total)), signature: "0x1234" }, // malformed
      ];
      for (const consent of forged) {
        await expect(lock(f, [consent])).to.be.revertedWithCustomError(f.settlement, "InvalidConsentSignature").withArgs(consent.requestHash);
      }
      // A DSO's own consent cannot fund a lock from another DSO.
      await expect(lock(f, [await signConsent(f.settlement, f.dso, total)], f.dso2)).to.be.revertedWithCustomError(
        f.settlement,
        "InvalidConsentSignature",
      );
    });
  });

  describe("funding", function () {
    it("locks with an EIP-2612 permit instead of an approve transaction", async function () {
      const { settlement, settlementAddress, token, settler, stranger, cpo, refundAfter } = await loadFixture(deployFixture);
      const amount = 250n * UNIT;
      await token.mint(stranger.address, amount);
      const deadline = BigInt(await time.latest()) + 3600n;
      const sig = await signPermit(token, stranger, settlementAddress, amount, deadline);
      // The operator submits the DSO's signed permit, then locks.
      await token.connect(settler).permit(stranger.address, settlementAddress, amount, deadline, sig.v, sig.r, sig.s);
      const awards = [{ cpo: cpo.address, amount, awardHash: ethers.id("permit") }];
      await expect(
        settlement.connect(settler).lockCycle(cycleIdOf("permit"), stranger.address, refundAfter, awards, await consentsFor(settlement, stranger, awards)),
      ).to.changeTokenBalances(token, [stranger, settlementAddress], [-amount, amount]);
    });
  });

  describe("pause / unpause", function () {
    it("lets only the pauser pause and unpause, emitting Paused/Unpaused", async function () {
      const { settlement, pauser } = await loadFixture(deployFixture);
      await expect(settlement.connect(pauser).pause()).to.emit(settlement, "Paused").withArgs(pauser.address);
      expect(await settlement.paused()).to.equal(true);
      await expect(settlement.connect(pauser).unpause()).to.emit(settlement, "Unpaused").withArgs(pauser.address);
      expect(await settlement.paused()).to.equal(false);
    });

    for (const who of ["admin", "settler", "registrar", "dso"]) {
      it(`reverts AccessControlUnauthorizedAccount for pause/unpause by the ${who}`, async function () {
        const f = await loadFixture(deployFixture);
        await expect(f.settlement.connect(f[who]).pause())
          .to.be.revertedWithCustomError(f.settlement, "AccessControlUnauthorizedAccount")
          .withArgs(f[who].address, PAUSER_ROLE);
        await f.settlement.connect(f.pauser).pause();
        await expect(f.settlement.connect(f[who]).unpause())
          .to.be.revertedWithCustomError(f.settlement, "AccessControlUnauthorizedAccount")
          .withArgs(f[who].address, PAUSER_ROLE);
      });
    }

    it("reverts EnforcedPause when pausing twice and ExpectedPause when unpausing while running", async function () {
      const { settlement, pauser } = await loadFixture(deployFixture);
      await expect(settlement.connect(pauser).unpause()).to.be.revertedWithCustomError(settlement, "ExpectedPause");
      await settlement.connect(pauser).pause();
      await expect(settlement.connect(pauser).pause()).to.be.revertedWithCustomError(settlement, "EnforcedPause");
    });

    it("lets the admin grant the pauser role to another account", async function () {
      const { settlement, admin, stranger } = await loadFixture(deployFixture);
      await settlement.connect(admin).grantRole(PAUSER_ROLE, stranger.address);
      await expect(settlement.connect(stranger).pause()).to.emit(settlement, "Paused");
    });
  });
});
