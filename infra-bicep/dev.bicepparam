// Development: a public test network (Ethereum Sepolia), one small instance, locally redundant storage.
// No secret here: the signer key and the other secrets go into Key Vault (README.md).
using 'main.bicep'

param environmentName = 'dev'
param storageSku = 'Standard_LRS'
param planSku = 'EP1'
param alwaysReadyInstances = 1
param maxInstances = 2
param packageBlob = 'flexchain-functions-dev.zip'

param chainRpcUrl = 'https://ethereum-sepolia-rpc.publicnode.com'
param chainPublicRpcUrl = 'https://ethereum-sepolia-rpc.publicnode.com'
param chainId = 11155111
// Set to the escrow address and its deployment block printed by the contracts' deploy (README.md).
param settlementContract = '0x0000000000000000000000000000000000000000'
param chainFromBlock = 0
param chainConfirmations = 3
param chainMaxLogBlockSpan = 2000

param gateCadence = '00:15:00'
param meterDataGrace = '00:15:00'
param activationLeadTime = '00:05:00'
param refundAfter = '7.00:00:00'
param taskHubPartitions = 4

param operatorName = 'FlexChain market operator (dev)'
param operatorContact = 'operator@flexchain.example'
