using System.Net;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;
using FlexChain.Messaging.ServiceBus;
using FlexChain.Testing;

namespace FlexChain.Messaging.Tests;

/// <summary>
/// The Service Bus SAS scheme with fixed inputs. Expected signatures were computed independently with
/// <c>openssl dgst -sha256 -mac HMAC</c> (the key's UTF-8 bytes).
/// </summary>
public sealed class SigningTests
{
    [Fact]
    public void CreateToken_FixedInputs_MatchesDocumentedAlgorithm()
    {
        var token = ServiceBusSasPolicy.CreateToken("https://contoso.servicebus.windows.net/orders", "RootManageSharedAccessKey", ServiceBusServer.Key, 1_700_000_000);

        Assert.Equal(
            "SharedAccessSignature sr=https%3a%2f%2fcontoso.servicebus.windows.net%2forders&sig=w9ZZ3xD4rxKmx1B4OekIeJS9sLSV68BaABeDq5fyIuc%3d&se=1700000000&skn=RootManageSharedAccessKey",
            token);
    }

    [Fact]
    public async Task ServiceBusSasPolicy_Request_SignsPathWithoutQueryAndExpiresAfterLifetime()
    {
        var handler = new RecordingHandler();
        var options = new ServiceBusRestClientOptions
        {
            Transport = new HttpClientTransport(new HttpClient(handler)),
            TimeProvider = new ManualClock(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000 - 1200)),
        };
        var queue = new ServiceBusRestClient(new Uri("https://contoso.servicebus.windows.net"), new AzureNamedKeyCredential("RootManageSharedAccessKey", ServiceBusServer.Key), options)
            .GetQueue("orders");

        await Assert.ThrowsAsync<RequestFailedException>(() => queue.ReceiveAsync()); // the canned 201 has no BrokerProperties

        var sent = Assert.Single(handler.Requests);
        Assert.Equal("https://contoso.servicebus.windows.net/orders/messages/head?timeout=0", sent.RequestUri!.ToString());
        var authorization = sent.Headers.GetValues("Authorization").Single();
        Assert.StartsWith("SharedAccessSignature sr=https%3a%2f%2fcontoso.servicebus.windows.net%2forders%2fmessages%2fhead&sig=", authorization, StringComparison.Ordinal);
        Assert.EndsWith("&se=1700000000&skn=RootManageSharedAccessKey", authorization, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseConnectionString_SbScheme_UsesHttpsAndKeepsKeyPadding()
    {
        var (endpoint, credential) = ServiceBusRestClient.ParseConnectionString(
            "Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=abc=");

        Assert.Equal(new Uri("https://contoso.servicebus.windows.net/"), endpoint);
        Assert.Equal("send", credential.Name);
        var (_, key) = credential;
        Assert.Equal("abc=", key);
    }

    [Theory]
    [InlineData("SharedAccessKeyName=a;SharedAccessKey=b")]
    [InlineData("Endpoint=sb://x.servicebus.windows.net/;SharedAccessKey=b")]
    [InlineData("Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=a")]
    [InlineData("Endpoint")]
    public void ParseConnectionString_MissingPart_ThrowsFormatException(string connectionString) =>
        Assert.Throws<FormatException>(() => ServiceBusRestClient.ParseConnectionString(connectionString));
}
