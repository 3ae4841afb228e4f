// The Function App: Linux, Elastic Premium, running the custom handler (the FlexChain.Functions executable) from the
// package blob. Always-ready instances keep the Durable Task dispatchers inside the app running (the scale controller
// cannot see them). Every setting the app reads is here (tests/FlexChain.Deployment.Tests checks it against the code);
// secrets are Key Vault references resolved by the platform with the app's identity.
param name string
param location string
param tags object
@description('Elastic Premium size: EP1 (1 vCPU, 3.5 GB), EP2 or EP3.')
@allowed(['EP1', 'EP2', 'EP3'])
param planSku string
@description('Instances that always run (at least 1: the gate-cycle dispatchers and the signer live in them).')
@minValue(1)
param alwaysReadyInstances int
@minValue(1)
param maxInstances int
param identityId string
param identityClientId string
param storageAccountName string
param serviceBusNamespace string
param keyVaultName string
param appInsightsConnectionString string
@description('URL of the package blob (scripts/publish) in the storage account\'s deployments container, read with the app identity.')
param packageUri string

@description('JSON-RPC endpoint of the settlement chain\'s node.')
param chainRpcUrl string
@description('A public JSON-RPC endpoint of the same chain, without any provider key, that the wallet page offers wallet holders.')
param chainPublicRpcUrl string
@description('The chain id the node must report; another one stops all chain work.')
param chainId int
@description('Address of the deployed FlexSettlement escrow.')
param settlementContract string
@description('Confirmations before a chain step counts as done (1 to 64).')
param chainConfirmations int
@description('How a chain step becomes final: Confirmations or Finalized (the node\'s finalized block).')
@allowed(['Confirmations', 'Finalized'])
param chainFinality string
@description('The escrow\'s deployment block (first block scanned for its events).')
param chainFromBlock int
@description('Most blocks per eth_getLogs (the RPC provider\'s cap).')
param chainMaxLogBlockSpan int
@description('Gate cycle cadence (TimeSpan, e.g. 00:15:00).')
param gateCadence string
param meterDataGrace string
param activationLeadTime string
param refundAfter string
@description('Durable task hub partitions: the most instances that run orchestrations at once.')
param taskHubPartitions int
param operatorName string
param operatorContact string

// Secrets: names in Key Vault, values set by the operator (README), never in a template or parameter file.
var secret = {
  chainOperatorKey: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=chain-operator-key)'
  chainRegistrarKey: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=chain-registrar-key)'
  notificationsSecretKey: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=notifications-secret-key)'
  operatorApiKeyHash: '@Microsoft.KeyVault(VaultName=${keyVaultName};SecretName=market-operator-api-key-hash)'
}

var appSettings = {
  // The Functions host: a custom handler, its own storage and the Service Bus trigger connection through the identity.
  FUNCTIONS_EXTENSION_VERSION: '~4'
  FUNCTIONS_WORKER_RUNTIME: 'custom'
  AzureWebJobsStorage__accountName: storageAccountName
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  WEBSITE_RUN_FROM_PACKAGE: packageUri
  WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID: identityId
  APPLICATIONINSIGHTS_CONNECTION_STRING: appInsightsConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'

  // The app's Azure clients (Hosting/AzureClients.cs): endpoints only, authenticated as the identity.
  AzureClientId: identityClientId
  Storage__AccountName: storageAccountName
  ServiceBusConnection__fullyQualifiedNamespace: serviceBusNamespace
  ServiceBusConnection__credential: 'managedidentity'
  ServiceBusConnection__clientId: identityClientId

  Chain__RpcUrl: chainRpcUrl
  Chain__PublicRpcUrl: chainPublicRpcUrl
  Chain__ChainId: string(chainId)
  Chain__SettlementContract: settlementContract
  Chain__OperatorKey: secret.chainOperatorKey
  Chain__RegistrarKey: secret.chainRegistrarKey
  Chain__Confirmations: string(chainConfirmations)
  Chain__Finality: chainFinality
  Chain__FromBlock: string(chainFromBlock)
  Chain__MaxLogBlockSpan: string(chainMaxLogBlockSpan)
  Chain__SignerLease: '00:00:30'

  Market__OperatorApiKeyHash: secret.operatorApiKeyHash
  Market__OperatorId: 'operator_00000000000000000000000000000001'
  Market__OperatorName: operatorName
  Market__OperatorContact: operatorContact
  Market__ReadCacheDuration: '00:00:02'
  Market__GridAnswerPeriod: '14.00:00:00'

  GateCycle__Cadence: gateCadence
  GateCycle__MeterDataGrace: meterDataGrace
  GateCycle__ActivationLeadTime: activationLeadTime
  GateCycle__RefundAfter: refundAfter
  // Norway's practice: a DSO arms an availability day about two days ahead, or it is released to other buyers.
  Availability__ArmingLead: '2.00:00:00'
  Availability__PeriodUnit: '01:00:00'
  GateCycle__MarketIntervalMinutes: '15'
  GateCycle__MaxAwardsPerBatch: '200'
  GateCycle__MaxTimerWait: '00:15:00'
  GateCycle__StepAttempts: '10'
  GateCycle__StepRetryFirst: '00:00:01'
  GateCycle__StepRetryMax: '00:00:30'

  // DurableTask__WorkerId stays unset: each instance then uses its own WEBSITE_INSTANCE_ID.
  DurableTask__HubName: 'flexchain'
  DurableTask__PartitionCount: string(taskHubPartitions)
  DurableTask__MaxQueuePollingInterval: '00:00:01'
  DurableTask__LeaseInterval: '00:00:15'
  DurableTask__MessageVisibilityTimeout: '00:00:10'
  DurableTask__ControlMessageVisibilityTimeout: '00:00:30'

  Notifications__SecretKey: secret.notificationsSecretKey
  Notifications__AllowPrivateTargets: 'false'
  Notifications__MaxAttempts: '8'
  Notifications__MaxTotalAttempts: '24'
  Notifications__MaxDeliveryAge: '3.00:00:00'
  Notifications__InitialBackoff: '00:00:01'
  Notifications__MaxBackoff: '00:10:00'
  Notifications__AttemptLease: '00:01:00'
  Notifications__RequestTimeout: '00:00:05'
  Notifications__ConnectTimeout: '00:00:02'
  Notifications__ParallelismPerSubscriber: '2'
  Notifications__ParallelSubscribers: '16'
  Notifications__BreakAfterFailures: '5'
  Notifications__BreakDuration: '00:01:00'
  Notifications__PollInterval: '00:00:00.250'

  Limits__RequestsPerParticipantPerMinute: '600'
  Limits__RequestsPerAddressPerMinute: '1200'
  Limits__FailedKeysPerAddressPerMinute: '10'
  Limits__RegistrationsPerAddressPerHour: '10'
  Limits__EventStreamsPerParticipant: '3'
  Limits__StationsPerCall: '500'
  Limits__VerifyMaxBlockRange: '100000'

  Retention__Outbox: '7.00:00:00'
  Retention__ProcessedMessages: '7.00:00:00'
  Retention__Events: '30.00:00:00'
  Retention__Deliveries: '30.00:00:00'
  Retention__IdempotencyDays: '2'
  Retention__Bookings: '8.00:00:00'
  Retention__TradeAnswers: '90.00:00:00'
  Retention__GridStates: '35.00:00:00'
  Retention__Imbalance: '400.00:00:00'
}

resource plan 'Microsoft.Web/serverfarms@2023-12-01' = {
  name: '${name}-plan'
  location: location
  tags: tags
  kind: 'elastic'
  sku: { name: planSku, tier: 'ElasticPremium' }
  properties: {
    reserved: true // Linux
    maximumElasticWorkerCount: maxInstances
  }
}

resource site 'Microsoft.Web/sites@2023-12-01' = {
  name: name
  location: location
  tags: tags
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: { '${identityId}': {} }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      linuxFxVersion: ''
      minimumElasticInstanceCount: alwaysReadyInstances
      functionAppScaleLimit: maxInstances
      healthCheckPath: '/v1/health'
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [for s in items(appSettings): { name: s.key, value: s.value }]
    }
  }
}

output hostName string = site.properties.defaultHostName
