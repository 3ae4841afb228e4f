using System.Net;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;
using FlexChain.Messaging.ServiceBus;
using FlexChain.Messaging.StorageQueues;
using FlexChain.Testing;

namespace FlexChain.Messaging.Tests;

/// <summary>
/// The two signing schemes with fixed inputs. Expected signatures were computed independently with
/// <c>openssl dgst -sha256 -mac HMAC</c> (storage: the base64-decoded account key; Service Bus: the key's UTF-8 bytes).
/// </summary>
public sealed class SigningTests
{
    private const string DevKey = AzuriteFixture.AccountKey;
    private static readonly DateTimeOffset FixedNow = new(2024, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void StringToSign_DocumentedGetContainerMetadataExample_MatchesDocumentation()
    {
        // The example of "Authorize with Shared Key" (Blob, Queue and File services, version 2015-02-21).
        var resource = QueueSharedKeyPolicy.CanonicalizedResource("myaccount", "/mycontainer", "?restype=container&comp=metadata&timeout=20");
        var toSign = QueueSharedKeyPolicy.StringToSign(
            "GET", Enumerable.Repeat("", 11).ToList(),
            [new("x-ms-version", "2015-02-21"), new("x-ms-date", "Fri, 26 Jun 2015 23:39:12 GMT"), new("Accept", "ignored")],
            resource);

        Assert.Equal(
            "GET\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:Fri, 26 Jun 2015 23:39:12 GMT\nx-ms-version:2015-02-21\n/myaccount/mycontainer\ncomp:metadata\nrestype:container\ntimeout:20",
            toSign);
        Assert.Equal("1u9lui2jDxj0+fpbHjQ5m5NnastJRSYM+PSmfi8TXx4=", QueueSharedKeyPolicy.ComputeSignature(DevKey, toSign));
    }

    [Theory]
    [InlineData("/q/messages", "", "/acct/q/messages")]
    [InlineData("/q/messages", "?numofmessages=1&visibilitytimeout=30", "/acct/q/messages\nnumofmessages:1\nvisibilitytimeout:30")]
    [InlineData("/q/messages/id", "?popreceipt=AgAAAA%3D%3D&VisibilityTimeout=0", "/acct/q/messages/id\npopreceipt:AgAAAA==\nvisibilitytimeout:0")]
    [InlineData("/q", "?b=2&a=1&a=0", "/acct/q\na:0,1\nb:2")]
    [InlineData("", "", "/acct/")]
    public void CanonicalizedResource_QueryParameters_LowerCasedSortedAndDecoded(string path, string query, string expected) =>
        Assert.Equal(expected, QueueSharedKeyPolicy.CanonicalizedResource("acct", path, query));

    [Fact]
    public async Task QueueSharedKeyPolicy_PutMessageWithFixedClock_SignsLengthTypeHeadersAndResource()
    {
        var handler = new RecordingHandler();
        // A bare pipeline: the full one adds a random x-ms-client-request-id, which is signed too.
        var pipeline = new HttpPipeline(
            new HttpClientTransport(new HttpClient(handler)),
            [new QueueSharedKeyPolicy(new AzureNamedKeyCredential("devstoreaccount1", DevKey), new ManualClock(FixedNow))]);
        using var message = pipeline.CreateMessage();
        message.Request.Method = RequestMethod.Post;
        message.Request.Uri.Reset(new Uri("http://127.0.0.1:10001/devstoreaccount1/orders/messages?messagettl=-1"));
        message.Request.Headers.SetValue("x-ms-version", "2020-10-02");
        message.Request.Headers.SetValue("Content-Type", "application/xml");
        message.Request.Content = RequestContent.Create("hello"u8.ToArray());

        await pipeline.SendAsync(message, CancellationToken.None);

        // String to sign: POST\n\n\n5\n\napplication/xml\n\n\n\n\n\n\nx-ms-date:…\nx-ms-version:2020-10-02\n/devstoreaccount1/devstoreaccount1/orders/messages\nmessagettl:-1
        var sent = Assert.Single(handler.Requests);
        Assert.Equal("Mon, 01 Jan 2024 00:00:00 GMT", sent.Headers.GetValues("x-ms-date").Single());
        Assert.Equal("SharedKey devstoreaccount1:1+KSAFFBvXxG5JGhHsmYst0v8oTpYlnFuRaUTWiibBU=", sent.Headers.GetValues("Authorization").Single());
    }

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
