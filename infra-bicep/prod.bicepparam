// Production (the pilot): zone-redundant storage, two always-ready instances, a finalised-enough confirmation depth.
// No secret here: the signer key and the other secrets go into Key Vault (README.md).
using 'main.bicep'

param environmentName = 'prod'
param storageSku = 'Standard_ZRS'
param planSku = 'EP1'
param alwaysReadyInstances = 2
param maxInstances = 4
param logRetentionDays = 90
param packageBlob = 'flexchain-functions-prod.zip'

// The settlement chain's RPC endpoint (a provider you trust, or your own node) and id; the escrow from its deployment.
param chainRpcUrl = 'https://ethereum-sepolia-rpc.publicnode.com'
param chainPublicRpcUrl = 'https://ethereum-sepolia-rpc.publicnode.com'
param chainId = 11155111
param settlementContract = '0x0000000000000000000000000000000000000000'
param chainFromBlock = 0
param chainConfirmations = 12
param chainMaxLogBlockSpan = 2000

param gateCadence = '00:15:00'
param meterDataGrace = '00:15:00'
param activationLeadTime = '00:05:00'
param refundAfter = '7.00:00:00'
param taskHubPartitions = 4

param operatorName = 'FlexChain market operator'
param operatorContact = 'operator@flexchain.example'
