using System.Net;
using Azure;
using Azure.Core;
using Azure.Core.Pipeline;

namespace FlexChain.Storage.Tests;

public sealed class SharedKeyLiteTests
{
    private const string DevKey = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    [Fact]
    public void StringToSign_PathStyleUrl_IsDateNewlineResourceWithAccountTwice()
    {
        var resource = TableSharedKeyLitePolicy.CanonicalizedResource("devstoreaccount1", "/devstoreaccount1/Tables", "");
        var toSign = TableSharedKeyLitePolicy.StringToSign("Mon, 01 Jan 2024 00:00:00 GMT", resource);

        Assert.Equal("/devstoreaccount1/devstoreaccount1/Tables", resource);
        Assert.Equal("Mon, 01 Jan 2024 00:00:00 GMT\n/devstoreaccount1/devstoreaccount1/Tables", toSign);
    }

    [Fact]
    public void ComputeSignature_FixedInputs_MatchesIndependentHmac()
    {
        // Expected values computed with: openssl dgst -sha256 -mac HMAC -macopt hexkey:<key> -binary | base64
        Assert.Equal(
            "13UOPPE/P1+LLsRFYJCHphuPCEQ21EO/4WbbW+OXG4U=",
            TableSharedKeyLitePolicy.ComputeSignature(DevKey, "Mon, 01 Jan 2024 00:00:00 GMT\n/devstoreaccount1/devstoreaccount1/Tables"));
        Assert.Equal(
            "w9XZxf1u9m0AMxm4dZYiHvXXPuCyb7EMS/myXodGVpg=",
            TableSharedKeyLitePolicy.ComputeSignature(DevKey, "Sun, 11 Oct 2009 19:52:39 GMT\n/myaccount/mytable(PartitionKey=%27a%27,RowKey=%27b%27)"));
    }

    [Theory]
    [InlineData("/mytable", "", "/myaccount/mytable")]
    [InlineData("/mytable", "?$filter=x&$top=5", "/myaccount/mytable")]
    [InlineData("/", "?restype=service&comp=properties", "/myaccount/?comp=properties")]
    [InlineData("", "", "/myaccount/")]
    public void CanonicalizedResource_QueryParameters_KeepsOnlyComp(string path, string query, string expected) =>
        Assert.Equal(expected, TableSharedKeyLitePolicy.CanonicalizedResource("myaccount", path, query));

    [Fact]
    public async Task Policy_FixedClock_SetsDateVersionAndAuthorizationHeaders()
    {
        var handler = new RecordingHandler();
        var pipeline = HttpPipelineBuilder.Build(
            new TableServiceClientOptions { Transport = new HttpClientTransport(new HttpClient(handler)) },
            new TableSharedKeyLitePolicy(new AzureNamedKeyCredential("devstoreaccount1", DevKey), new FixedClock(new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero))));
        using var message = pipeline.CreateMessage();
        message.Request.Method = RequestMethod.Get;
        message.Request.Uri.Reset(new Uri("http://127.0.0.1:10002/devstoreaccount1/Tables"));

        await pipeline.SendAsync(message, CancellationToken.None);

        var sent = Assert.Single(handler.Requests);
        Assert.Equal("Mon, 01 Jan 2024 00:00:00 GMT", sent.Headers.GetValues("x-ms-date").Single());
        Assert.Equal("SharedKeyLite devstoreaccount1:13UOPPE/P1+LLsRFYJCHphuPCEQ21EO/4WbbW+OXG4U=", sent.Headers.GetValues("Authorization").Single());
    }

    [Fact]
    public async Task TokenCredentialClient_AnyRequest_SendsBearerTokenForStorageScope()
    {
        var handler = new RecordingHandler();
        var credential = new FakeTokenCredential();
        var client = new TableServiceClient(
            new Uri("https://acct.table.core.windows.net/"), credential,
            new TableServiceClientOptions { Transport = new HttpClientTransport(new HttpClient(handler)) });

        Assert.True(await client.DeleteTableAsync("orders"));

        var sent = Assert.Single(handler.Requests);
        Assert.Equal("Bearer token-1", sent.Headers.GetValues("Authorization").Single());
        Assert.Equal(["https://storage.azure.com/.default"], credential.Scopes);
        Assert.Equal("https://acct.table.core.windows.net/Tables('orders')", sent.RequestUri!.AbsoluteUri);
        Assert.Equal("2019-02-02", sent.Headers.GetValues("x-ms-version").Single());
        Assert.Equal("acct", client.AccountName);
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => now;
    }

    private sealed class FakeTokenCredential : TokenCredential
    {
        public string[] Scopes { get; private set; } = [];

        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
        {
            Scopes = requestContext.Scopes;
            return new AccessToken("token-1", DateTimeOffset.UtcNow.AddHours(1));
        }

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            ValueTask.FromResult(GetToken(requestContext, cancellationToken));
    }
}
