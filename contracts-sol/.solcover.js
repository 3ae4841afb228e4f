// solidity-coverage settings (`npm run coverage`). The compiler is the local solcjs from hardhat.config.js
// (solidity-coverage compiles through Hardhat's compile subtasks), so no download is needed.
module.exports = {
  // Test helpers are not production code: the malicious token exists only to attack the escrow.
  skipFiles: ["test/"],
};
