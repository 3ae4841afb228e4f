// FlexChain on Azure: one resource group holding the Function App (custom handler, Elastic Premium, Linux), its
// storage account, Service Bus, Key Vault, Application Insights and the user-assigned identity the app runs as.
// Deploy: az deployment group create -g <group> -p infra-bicep/<env>.bicepparam (README.md).
targetScope = 'resourceGroup'

@description('Environment name, part of every resource name.')
@allowed(['dev', 'prod'])
param environmentName string

@description('Short prefix of resource names (letters and digits, 3 to 10).')
@minLength(3)
@maxLength(10)
param prefix string = 'flexchain'

param location string = resourceGroup().location

@description('Storage redundancy: Standard_LRS (dev) or Standard_ZRS (prod).')
@allowed(['Standard_LRS', 'Standard_ZRS', 'Standard_GZRS'])
param storageSku string

@allowed(['EP1', 'EP2', 'EP3'])
param planSku string = 'EP1'
@minValue(1)
param alwaysReadyInstances int = 1
@minValue(1)
param maxInstances int = 4

@description('Log Analytics retention in days.')
@minValue(30)
param logRetentionDays int = 30

@description('Name of the package blob in the deployments container (scripts/publish output, uploaded per release).')
param packageBlob string

param chainRpcUrl string
@description('A public JSON-RPC endpoint of the same chain (no provider key): the wallet page offers it to wallet holders.')
param chainPublicRpcUrl string
param chainId int
param settlementContract string
@minValue(1)
@maxValue(64)
param chainConfirmations int
@description('How a chain step becomes final: Confirmations (chainConfirmations blocks) or Finalized (the node\'s finalized block).')
@allowed(['Confirmations', 'Finalized'])
param chainFinality string = 'Confirmations'
@minValue(0)
param chainFromBlock int
@minValue(1)
param chainMaxLogBlockSpan int = 2000

param gateCadence string = '00:15:00'
param meterDataGrace string = '00:15:00'
param activationLeadTime string = '00:05:00'
param refundAfter string = '7.00:00:00'
@minValue(1)
@maxValue(16)
param taskHubPartitions int = 4

param operatorName string
param operatorContact string

var tags = { app: 'flexchain', environment: environmentName }
// Globally unique, lower-case names derived from the resource group (storage: 3 to 24 letters and digits).
var suffix = uniqueString(resourceGroup().id, environmentName)
var baseName = '${prefix}-${environmentName}'

module identity 'modules/identity.bicep' = {
  name: 'identity'
  params: { name: '${baseName}-app', location: location, tags: tags }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: take(toLower('${prefix}${environmentName}${suffix}'), 24)
    location: location
    tags: tags
    sku: storageSku
    principalId: identity.outputs.principalId
  }
}

module serviceBus 'modules/servicebus.bicep' = {
  name: 'servicebus'
  params: {
    name: '${baseName}-${suffix}'
    location: location
    tags: tags
    // functions/RequestEvents/function.json (RequestEvents.Queue in the app).
    queues: ['request-events']
    principalId: identity.outputs.principalId
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: take('${prefix}-${environmentName}-${suffix}', 24)
    location: location
    tags: tags
    principalId: identity.outputs.principalId
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  params: {
    name: '${baseName}-insights'
    location: location
    tags: tags
    retentionDays: logRetentionDays
    principalId: identity.outputs.principalId
  }
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  params: {
    name: '${baseName}-${suffix}'
    location: location
    tags: tags
    planSku: planSku
    alwaysReadyInstances: alwaysReadyInstances
    maxInstances: maxInstances
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    serviceBusNamespace: serviceBus.outputs.fullyQualifiedNamespace
    keyVaultName: keyVault.outputs.name
    appInsightsConnectionString: monitoring.outputs.connectionString
    packageUri: '${storage.outputs.blobEndpoint}${storage.outputs.packageContainer}/${packageBlob}'
    chainRpcUrl: chainRpcUrl
    chainPublicRpcUrl: chainPublicRpcUrl
    chainId: chainId
    settlementContract: settlementContract
    chainConfirmations: chainConfirmations
    chainFinality: chainFinality
    chainFromBlock: chainFromBlock
    chainMaxLogBlockSpan: chainMaxLogBlockSpan
    gateCadence: gateCadence
    meterDataGrace: meterDataGrace
    activationLeadTime: activationLeadTime
    refundAfter: refundAfter
    taskHubPartitions: taskHubPartitions
    operatorName: operatorName
    operatorContact: operatorContact
  }
}

output functionAppHost string = functionApp.outputs.hostName
output storageAccount string = storage.outputs.name
output keyVault string = keyVault.outputs.name
output packageContainer string = storage.outputs.packageContainer
