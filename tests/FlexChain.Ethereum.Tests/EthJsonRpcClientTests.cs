using System.Net;
using System.Text;

namespace FlexChain.Ethereum.Tests;

/// <summary>Error mapping of the JSON-RPC client, with canned HTTP answers (the Hardhat tests cover real ones).</summary>
public class EthJsonRpcClientTests
{
    [Fact]
    public async Task Request_ErrorWithNestedRevertData_ExposesCodeMessageAndData()
    {
        using var client = Client(HttpStatusCode.OK,
            """{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"Error: VM Exception","data":{"message":"reverted","data":"0x08c379a0"}}}""");
        var e = await Assert.ThrowsAsync<EthRpcException>(() => client.GetBlockNumberAsync(CancellationToken.None));
        Assert.Equal(-32603, e.Code);
        Assert.Equal("Error: VM Exception", e.RpcMessage);
        Assert.Equal("0x08c379a0", e.Data);
        Assert.Equal(new byte[] { 0x08, 0xc3, 0x79, 0xa0 }, e.RevertData);
        Assert.True(e.IsRevert);
    }

    [Fact]
    public async Task Request_ErrorWithStringData_ExposesRevertData()
    {
        using var client = Client(HttpStatusCode.OK,
            """{"jsonrpc":"2.0","id":1,"error":{"code":3,"message":"execution reverted","data":"0x1234abcd"}}""");
        var e = await Assert.ThrowsAsync<EthRpcException>(() => client.CallAsync(new CallRequest(EthAddress.Zero, default), null, CancellationToken.None));
        Assert.Equal(3, e.Code);
        Assert.Equal(Hex.Decode("0x1234abcd"), e.RevertData);
    }

    [Fact]
    public async Task Request_HttpErrorWithoutJson_ThrowsHttpRequestException()
    {
        using var client = Client(HttpStatusCode.BadGateway, "<html>bad gateway</html>");
        await Assert.ThrowsAsync<HttpRequestException>(() => client.GetChainIdAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Request_NullReceipt_ReturnsNull()
    {
        using var client = Client(HttpStatusCode.OK, """{"jsonrpc":"2.0","id":1,"result":null}""");
        Assert.Null(await client.GetTransactionReceiptAsync(Hash32.Zero, CancellationToken.None));
    }

    [Fact]
    public async Task Request_NonCanonicalQuantity_ThrowsFormatException()
    {
        using var client = Client(HttpStatusCode.OK, """{"jsonrpc":"2.0","id":1,"result":"0x01"}""");
        await Assert.ThrowsAsync<FormatException>(() => client.GetChainIdAsync(CancellationToken.None));
    }

    [Fact]
    public async Task Request_Sent_IsJsonRpc20WithParams()
    {
        var handler = new CannedHandler(HttpStatusCode.OK, """{"jsonrpc":"2.0","id":1,"result":"0x5"}""");
        using var client = new EthJsonRpcClient(new Uri("http://node.invalid/"), new HttpClient(handler));
        await client.GetTransactionCountAsync(TestKeys.Address0, BlockParameter.Pending, CancellationToken.None);
        Assert.Contains("\"jsonrpc\":\"2.0\"", handler.LastBody);
        Assert.Contains("\"method\":\"eth_getTransactionCount\"", handler.LastBody);
        Assert.Contains("\"params\":[\"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266\",\"pending\"]", handler.LastBody);
    }

    [Theory]
    [InlineData(0UL, "0x0")]
    [InlineData(255UL, "0xff")]
    public void BlockParameter_Number_IsHexQuantity(ulong number, string expected) =>
        Assert.Equal(expected, BlockParameter.AtBlock(number).ToString());

    [Fact]
    public void BlockParameter_Default_IsLatest() => Assert.Equal("latest", default(BlockParameter).ToString());

    private static EthJsonRpcClient Client(HttpStatusCode status, string body) =>
        new(new Uri("http://node.invalid/"), new HttpClient(new CannedHandler(status, body)));

    private sealed class CannedHandler(HttpStatusCode status, string body) : HttpMessageHandler
    {
        public string LastBody { get; private set; } = "";

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            LastBody = await request.Content!.ReadAsStringAsync(cancellationToken);
            return new HttpResponseMessage(status) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        }
    }
}
