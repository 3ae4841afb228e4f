using Azure;
using Azure.Core;
using Azure.Core.Pipeline;
using FlexChain.Messaging.ServiceBus;
using FlexChain.Testing;

namespace FlexChain.Messaging.Tests;

/// <summary>What only the Service Bus adapter does: authorization and the broker's answers, against the in-process server.</summary>
[Collection(ServiceBusCollection.Name)]
public sealed class ServiceBusTests(ServiceBusServer server)
{
    private static readonly ServiceBusRestClientOptions NoRetry = new() { Retry = { MaxRetries = 0 } };

    private ServiceBusQueue NewQueue(ServiceBusRestClient client)
    {
        var name = "sb" + Guid.NewGuid().ToString("N")[..16];
        server.CreateQueue(name, TimeSpan.FromSeconds(30), 3);
        return client.GetQueue(name);
    }

    [Fact]
    public async Task SendAsync_WrongKey_ThrowsRequestFailedWith401()
    {
        var client = new ServiceBusRestClient(server.Endpoint, new AzureNamedKeyCredential(ServiceBusServer.KeyName, "wrong-key"), NoRetry);
        var queue = NewQueue(client);

        var error = await Assert.ThrowsAsync<RequestFailedException>(() => queue.SendAsync(new OutgoingMessage("m1", "{}")));

        Assert.Equal(401, error.Status);
        Assert.Equal("401", error.ErrorCode);
        Assert.DoesNotContain("wrong-key", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ReceiveAsync_ExpiredToken_ThrowsRequestFailedWith401()
    {
        var pastClock = new ManualClock(DateTimeOffset.UtcNow.AddHours(-2));
        var client = new ServiceBusRestClient(server.Endpoint, new AzureNamedKeyCredential(ServiceBusServer.KeyName, ServiceBusServer.Key),
            new ServiceBusRestClientOptions { TimeProvider = pastClock, Retry = { MaxRetries = 0 } });

        var error = await Assert.ThrowsAsync<RequestFailedException>(() => NewQueue(client).ReceiveAsync());

        Assert.Equal(401, error.Status);
    }

    [Fact]
    public async Task SendAsync_EntraIdCredential_SendsBearerTokenForServiceBusScope()
    {
        // Azure.Core sends bearer tokens over https only, so this one goes to a recording transport, not the loopback server.
        var handler = new RecordingHandler(System.Net.HttpStatusCode.Created);
        var credential = new FixedTokenCredential("entra-test-token");
        var client = new ServiceBusRestClient(new Uri("https://contoso.servicebus.windows.net"), credential,
            new ServiceBusRestClientOptions { Transport = new HttpClientTransport(new HttpClient(handler)) });

        await client.GetQueue("orders").SendAsync(new OutgoingMessage("m1", "{}"));

        var sent = Assert.Single(handler.Requests);
        Assert.Equal("Bearer entra-test-token", sent.Headers.GetValues("Authorization").Single());
        Assert.Equal("""{"MessageId":"m1"}""", sent.Headers.GetValues("BrokerProperties").Single());
        Assert.Equal([ServiceBusRestClient.ServiceBusScope], credential.Scopes.Distinct());
    }

    [Fact]
    public async Task ReceiveAsync_UnknownQueue_ThrowsRequestFailedWith404()
    {
        var queue = new ServiceBusRestClient(server.ConnectionString, NoRetry).GetQueue("no-such-queue");

        var error = await Assert.ThrowsAsync<RequestFailedException>(() => queue.ReceiveAsync());

        Assert.Equal(404, error.Status);
    }

    [Fact]
    public async Task ReceiveAsync_WithWaitTime_ReturnsMessageSentWhileWaiting()
    {
        var client = new ServiceBusRestClient(server.ConnectionString, new ServiceBusRestClientOptions { ReceiveWaitTime = TimeSpan.FromSeconds(10) });
        var queue = NewQueue(client);

        var receive = queue.ReceiveAsync();
        await queue.SendAsync(new OutgoingMessage("late", "{}"));

        Assert.Equal("late", (await receive)?.MessageId);
    }

    [Fact]
    public async Task SendAsync_DeadLetterQueue_ThrowsInvalidOperation()
    {
        var queue = NewQueue(new ServiceBusRestClient(server.ConnectionString));

        await Assert.ThrowsAsync<InvalidOperationException>(() => queue.DeadLetterQueue.SendAsync(new OutgoingMessage("m", "{}")));
        Assert.Equal(queue.Name + "/$deadletterqueue", queue.DeadLetterQueue.Name);
    }

    [Fact]
    public void SendProperties_ScheduledAndTimeToLive_UsesRfc1123AndSeconds()
    {
        var json = ServiceBusQueue.SendProperties(new OutgoingMessage("m1", "{}")
        {
            ScheduledEnqueueTime = new DateTimeOffset(1994, 11, 6, 9, 49, 37, TimeSpan.FromHours(1)),
            TimeToLive = TimeSpan.FromMinutes(2),
        });

        Assert.Equal("""{"MessageId":"m1","ScheduledEnqueueTimeUtc":"Sun, 06 Nov 1994 08:49:37 GMT","TimeToLive":120}""", json);
    }

    private sealed class FixedTokenCredential(string token) : TokenCredential
    {
        public List<string> Scopes { get; } = [];

        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
        {
            lock (Scopes) Scopes.AddRange(requestContext.Scopes);
            return new AccessToken(token, DateTimeOffset.UtcNow.AddHours(1));
        }

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            new(GetToken(requestContext, cancellationToken));
    }
}
