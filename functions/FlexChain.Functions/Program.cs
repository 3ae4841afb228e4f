using System.Text.Json;
using System.Text.Json.Serialization;
using FlexChain.Functions.Api;
using FlexChain.Functions.Auth;
using FlexChain.Functions.Gates;
using FlexChain.Functions.Hosting;
using FlexChain.Functions.Settlement;
using FlexChain.Functions.Storage;
using Azure.Data.Tables;
using FlexChain.Storage;
using FluentValidation;
using Microsoft.AspNetCore.Authentication;

// The content root is the app's own folder, wherever it is started from (scripts/run starts it from the repository
// root; the Functions host from the function app root), so its appsettings.json (log levels included) always applies.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });

// Under the Azure Functions host the app is a custom handler on the port the host gives it.
if (Environment.GetEnvironmentVariable("FUNCTIONS_CUSTOMHANDLER_PORT") is { } handlerPort)
{
    builder.WebHost.UseUrls($"http://127.0.0.1:{handlerPort}");
    builder.Configuration["LocalTriggers:Enabled"] = "false";
    // Only the host reaches this loopback port: it posts the trigger invocations, and forwards clients' requests with
    // their address in X-Forwarded-For (the limits are per client address).
    builder.Configuration["Triggers:Http"] = "true";
    builder.Services.Configure<Microsoft.AspNetCore.Builder.ForwardedHeadersOptions>(o =>
        (o.ForwardedHeaders, o.ForwardLimit) = (Microsoft.AspNetCore.HttpOverrides.ForwardedHeaders.XForwardedFor, 1));
}

// Kestrel's limit is the largest endpoint's (bulk registration); BodyLimitMiddleware applies each endpoint's own.
builder.WebHost.ConfigureKestrel(k => (k.Limits.MaxRequestBodySize, k.AddServerHeader) = (BodyLimit.Bulk, false));
// A rule chain stops at its first failure, so later checks never see a value an earlier one refused (e.g. null).
ValidatorOptions.Global.DefaultRuleLevelCascadeMode = CascadeMode.Stop;

var services = builder.Services;
// The system clock; only the crash tests move it ahead (FaultInjection:ClockOffset).
services.AddSingleton(FaultInjection.Clock(builder.Configuration.GetSection("FaultInjection").Get<FaultInjectionOptions>() ?? new()));
// Every Azure client is built once, from a connection string locally or with the managed identity in Azure.
services.AddSingleton(sp => new AzureClients(sp.GetRequiredService<IConfiguration>()));
services.AddSingleton(sp => sp.GetRequiredService<AzureClients>().Tables);
services.AddSingleton(sp => sp.GetRequiredService<AzureClients>().Blobs);
services.AddMemoryCache();
services.AddOptions<StoreOptions>().BindConfiguration("Market");
services.AddOptions<MarketOptions>().BindConfiguration("Market");
services.AddOptions<GridPrequalificationOptions>().BindConfiguration("Market")
    .Validate(o => o.GridAnswerPeriod >= TimeSpan.Zero, "Market:GridAnswerPeriod must not be negative.").ValidateOnStart();
services.AddSingleton<MarketStore>();
services.AddOptions<SettlementOptions>().BindConfiguration("Chain").ValidateDataAnnotations().ValidateOnStart();
services.AddSingleton<SettlementLedger>();
services.AddSingleton<RecordSnapshots>();
// The chain is connected off the start-up path: the API serves whether or not the node answers (health says which).
services.AddHostedService<ChainConnector>();
services.AddOptions<GateCycleOptions>().BindConfiguration("GateCycle").ValidateDataAnnotations().ValidateOnStart();
services.AddOptions<FaultInjectionOptions>().BindConfiguration("FaultInjection");
services.AddSingleton<FaultInjection>();
services.AddSingleton<GateCycleRunner>();
services.AddOptions<AvailabilityOptions>().BindConfiguration("Availability").ValidateDataAnnotations().ValidateOnStart();
services.AddSingleton<AvailabilityGate>();
services.AddSingleton<AvailabilityPayments>();
services.AddSingleton<FlexChain.Functions.Grid.GridStates>();
services.AddOptions<DurableTaskOptions>().BindConfiguration("DurableTask").ValidateDataAnnotations().ValidateOnStart();
services.AddSingleton<GateCycleHub>();
services.AddHostedService(sp => sp.GetRequiredService<GateCycleHub>());
services.AddSingleton<RequestEvents>();
// Queues: Service Bus when the Functions app has its connection (the same setting its serviceBusTrigger bindings use),
// otherwise storage queues in the storage account (Azurite locally), which the local trigger driver also polls.
services.AddSingleton(sp => new FlexChain.Messaging.StorageQueues.StorageQueueBroker(
    sp.GetRequiredService<AzureClients>().Queues, logger: sp.GetRequiredService<ILogger<FlexChain.Messaging.StorageQueues.StorageQueueBroker>>()));
services.AddSingleton<FlexChain.Messaging.IMessageBroker>(sp => sp.GetRequiredService<AzureClients>().ServiceBus is { } client
    ? new FlexChain.Messaging.ServiceBus.ServiceBusBroker(client)
    : sp.GetRequiredService<FlexChain.Messaging.StorageQueues.StorageQueueBroker>());
services.AddSingleton<RequestViews>();
services.AddOptions<LocalTriggerOptions>().BindConfiguration("LocalTriggers");
if (builder.Configuration.GetValue("LocalTriggers:Enabled", true)) services.AddHostedService<LocalTriggerDriver>();
FlexChain.Functions.Notifications.NotificationServices.AddNotifications(services);
FlexChain.Functions.Retention.RetentionServices.AddRetention(services);

// One FluentValidation validator per request type (the DI extensions package is not in our registry).
foreach (var type in typeof(Program).Assembly.GetTypes().Where(t => t is { IsAbstract: false, IsClass: true }))
    foreach (var contract in type.GetInterfaces().Where(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IValidator<>)))
        services.AddSingleton(contract, type);
// Problems the framework writes itself (401, 403, 404, 405) also name a field and a rule, like every other rejection.
services.AddProblemDetails(o => o.CustomizeProblemDetails = Problems.CompleteFrameworkProblem);
services.AddExceptionHandler<ProblemExceptionHandler>();
services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
services.ConfigureHttpJsonOptions(o =>
{
    o.SerializerOptions.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
    o.SerializerOptions.NumberHandling = JsonNumberHandling.Strict;
    o.SerializerOptions.AllowDuplicateProperties = false;
    o.SerializerOptions.Converters.Add(new JsonStringEnumConverter());
    o.SerializerOptions.Converters.Add(new UtcTimeConverter());
});
services.AddAuthentication(ApiKeys.Scheme).AddScheme<AuthenticationSchemeOptions, ApiKeyHandler>(ApiKeys.Scheme, null);
services.AddAuthorizationBuilder()
    .AddPolicy(Policies.Dso, p => p.RequireRole(nameof(FlexChain.Domain.Role.Dso)))
    .AddPolicy(Policies.Cpo, p => p.RequireRole(nameof(FlexChain.Domain.Role.Cpo)))
    .AddPolicy(Policies.Operator, p => p.RequireRole(nameof(FlexChain.Domain.Role.Operator)))
    .AddPolicy(Policies.GridOperator, p => p.RequireRole(nameof(FlexChain.Domain.Role.Dso), nameof(FlexChain.Domain.Role.Tso)));
services.AddOpenApi("v1", OpenApiConventions.Configure);
services.AddMarketRateLimits();

var app = builder.Build();
if (Environment.GetEnvironmentVariable("FUNCTIONS_CUSTOMHANDLER_PORT") is not null) app.UseForwardedHeaders();
app.UseMiddleware<SecurityHeadersMiddleware>();
app.UseExceptionHandler();
app.UseStatusCodePages();
app.UseDashboard();
app.UseRouting();
app.UseMiddleware<RouteValueGuardMiddleware>();
app.UseMiddleware<BodyLimitMiddleware>();
app.UseAuthentication();
app.UseRateLimiter();
app.UseAuthorization();

app.MapOpenApi("/v1/openapi.json");
app.MapParticipantsApi();
app.MapGridApi();
app.MapTsoApi();
app.MapGridStateApi();
app.MapImbalanceApi();
app.MapVisibilityApi();
app.MapRegistryApi();
app.MapPrequalificationApi();
app.MapRequestsApi();
app.MapGateCyclesApi();
app.MapMeteringApi();
app.MapOffersApi();
app.MapAvailabilityApi();
app.MapSettlementsApi();
app.MapNotificationsApi();
// Trigger routes exist only under the Functions host (which posts them); without it the local driver calls the handlers in process.
if (app.Configuration.GetValue("Triggers:Http", false)) app.MapTriggersApi();
// Always 200 while the API serves (the platform must not recycle instances over a chain outage); "degraded" names the chain's problem.
app.MapGet("/v1/health", (SettlementLedger ledger, Microsoft.Extensions.Options.IOptions<SettlementOptions> chain, TimeProvider clock) =>
    TypedResults.Ok(HealthResponse.From(ledger.Status, chain.Value.PublicRpcUrl, clock.GetUtcNow()))).AllowAnonymous();

var store = app.Services.GetRequiredService<MarketStore>();
await store.InitializeAsync(CancellationToken.None);
await OperatorSeed.RunAsync(app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<MarketOptions>>().Value, store,
    FlexChain.Domain.WalletAddress.Parse(new Nethereum.Web3.Accounts.Account(app.Configuration["Chain:OperatorKey"]!).Address),
    app.Services.GetRequiredService<TimeProvider>(), CancellationToken.None);
app.Run();

/// <summary>The app's entry point, public so that tests can host it in process.</summary>
public partial class Program;
