using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Messaging.ServiceBus;
using FlexChain.Functions.Gates;
using FlexChain.Functions.Hosting;
using FlexChain.Messaging;
using FlexChain.Messaging.ServiceBus;
using FlexChain.Testing;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// The Azure Functions custom-handler contract: what the host posts for a timer and what it expects back. The trigger
/// routes exist only under the host (Triggers:Http, set when FUNCTIONS_CUSTOMHANDLER_PORT is), so these tests run an
/// instance configured as under the host.
/// </summary>
[Collection(MarketCollection.Name)]
public sealed class CustomHandlerTests(MarketFixture market)
{
    private static readonly (string, string)[] UnderHost = [("Triggers:Http", "true"), ("LocalTriggers:Enabled", "false")];

    [Fact]
    public async Task GateTick_TimerInvocation_AnswersOutputsLogsAndReturnValue()
    {
        // The host's invocation request for a timer trigger (Data by binding name, Metadata with sys).
        var invocation = """
            {"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":null,"IsPastDue":false}},
             "Metadata":{"sys":{"MethodName":"GateTick","UtcNow":"2026-11-21T10:00:00Z","RandGuid":"0f8fad5b-d9cb-469f-a165-70867728950e"}}}
            """;
        await using var host = market.NewInstance(UnderHost);
        using var client = host.CreateClient();
        using var response = await client.PostAsync("/GateTick", new StringContent(invocation, System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
        Assert.Equal(["Outputs", "Logs", "ReturnValue"], body.Select(p => p.Key));
        Assert.Contains("gate tick", Assert.Single(body["Logs"]!.AsArray())!.GetValue<string>());
    }

    [Fact]
    public void FunctionJsonFiles_DeclareTheGateTickAndRetentionTimers()
    {
        var timers = LocalTriggerDriver.TimerTriggers().OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        Assert.Equal(["GateTick", "Retention"], timers.Select(t => t.Name));
        Assert.All(timers, t => Assert.True(TriggersApi.Handlers.ContainsKey(t.Name)));
        Assert.All(timers, t => LocalTriggerDriver.ParseSchedule(t.Schedule));
        var retention = LocalTriggerDriver.ParseSchedule(timers[1].Schedule);
        var next = retention.GetNextOccurrence(new DateTime(2026, 11, 21, 10, 0, 0, DateTimeKind.Utc));
        Assert.Equal(TimeSpan.FromHours(1), retention.GetNextOccurrence(next) - next);   // hourly
    }

    [Fact]
    public void FunctionJsonFiles_DeclareTheRequestEventsQueueTrigger()
    {
        var trigger = Assert.Single(LocalTriggerDriver.QueueTriggers());
        Assert.Equal(("RequestEvents", RequestEvents.Queue), trigger);
        Assert.True(TriggersApi.Handlers.ContainsKey(trigger.Name));
    }

    [Fact]
    public async Task RequestEvents_ServiceBusInvocation_NotifiesAndAnswersTheProtocol()
    {
        var api = new MarketClient(market.Client);
        var dso = await api.RegisterAsync("Dso", "Handler DSO", MarketFixture.DsoKey);
        var transformer = await api.TransformerAsync(dso);
        var now = market.Clock.GetUtcNow();
        var request = await api.RequestAsync(dso, transformer, now.AddHours(1), now.AddHours(2));
        // The message as the app's Service Bus sender puts it on the queue...
        var serviceBus = new RecordingServiceBusClient();
        await new ServiceBusBroker(serviceBus).GetQueue(RequestEvents.Queue).SendAsync(
            new OutgoingMessage(request + ":Open", JsonSerializer.Serialize(new { requestId = request, state = "Open" })));
        var sent = Assert.Single(serviceBus.Sent).Message;
        // ...received by the Functions host, which posts the body under the binding name as a JSON string, with metadata.
        var received = ServiceBusModelFactory.ServiceBusReceivedMessage(
            body: sent.Body, messageId: sent.MessageId, contentType: sent.ContentType, deliveryCount: 1, enqueuedTime: now);
        var invocation = new JsonObject
        {
            ["Data"] = new JsonObject { [TriggersApi.MessageBinding] = received.Body.ToString() },
            ["Metadata"] = new JsonObject
            {
                ["MessageId"] = received.MessageId,
                ["DeliveryCount"] = received.DeliveryCount,
                ["ContentType"] = received.ContentType,
                ["sys"] = new JsonObject { ["MethodName"] = "RequestEvents" },
            },
        };
        await using var host = market.NewInstance(UnderHost);
        using var client = host.CreateClient();
        using var response = await client.PostAsync("/RequestEvents", new StringContent(invocation.ToJsonString(), System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
        Assert.Equal(["Outputs", "Logs", "ReturnValue"], body.Select(p => p.Key));
        Assert.Contains($"request {request} (Open)", Assert.Single(body["Logs"]!.AsArray())!.GetValue<string>());
    }
}
