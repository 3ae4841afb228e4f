using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using FlexChain.Testing;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// The app starts and serves its API while the chain node is down (as the Functions host expects of a custom handler),
/// reports the chain in /v1/health, refuses only chain work meanwhile, and connects once the node answers.
/// </summary>
[Collection(MarketCollection.Name)]
public sealed class ChainStartupTests(MarketFixture market)
{
    [Fact]
    public async Task Startup_ChainNodeDown_ApiServesAndTheChainConnectsWhenTheNodeComesUp()
    {
        // The app's node address: nothing listens there until the relay to the real node starts.
        var nodePort = ServerProcess.FreePort();
        // Storage of its own: its request must not join the shared market's cycles.
        var (app, storage) = await market.IsolatedInstanceAsync(("Chain:RpcUrl", $"http://127.0.0.1:{nodePort}/"));
        try
        {
            using var client = app.CreateClient();

            var health = (await client.GetFromJsonAsync<JsonNode>("/v1/health"))!;
            Assert.Equal("degraded", health["status"]!.GetValue<string>());
            Assert.Equal("Connecting", health["chain"]!["state"]!.GetValue<string>());
            Assert.DoesNotContain(nodePort.ToString(System.Globalization.CultureInfo.InvariantCulture), health["chain"]!["problem"]!.GetValue<string>());

            // Registration, wallet proof, grid data and reads work without the chain.
            var api = new MarketClient(client);
            var dso = await api.RegisterAsync("Dso", "Chain outage DSO", MarketFixture.RuleDsoKey);
            var transformer = await api.TransformerAsync(dso);
            Assert.Equal(transformer, (await api.GetAsync($"/v1/transformers/{transformer}", dso))["id"]!.GetValue<string>());
            // Chain work is refused as unavailable, to be retried: a request, whose DSO consent and funding are checked on
            // chain when it is posted (and nothing of it is stored), and the wallet verifier.
            var now = market.Clock.GetUtcNow();
            api.KnowChain(31337, market.Settlement, 6);
            using (var posted = await api.SendAsync(HttpMethod.Post, "/v1/requests", dso, new
                   {
                       transformerId = transformer, deliveryStart = now.AddHours(3), deliveryEnd = now.AddHours(4), energyKwh = 10m,
                       direction = "ReduceConsumption", maxPriceEurPerKwh = 0.5m, gateClosure = now.AddHours(2), pricing = "PayAsBid",
                   }))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, posted.StatusCode);
                Assert.Equal("chain-unavailable", JsonNode.Parse(await posted.Content.ReadAsStringAsync())!["rule"]!.GetValue<string>());
            }
            Assert.Empty((await api.GetAsync("/v1/requests?limit=5", dso))["items"]!.AsArray());
            using (var verify = await client.GetAsync("/v1/verify?wallet=" + MarketFixture.CpoAWallet))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, verify.StatusCode);
                Assert.Equal("chain-unavailable", JsonNode.Parse(await verify.Content.ReadAsStringAsync())!["rule"]!.GetValue<string>());
                Assert.NotNull(verify.Headers.RetryAfter);
            }

            await using var node = TcpRelay.Start(nodePort, market.Chain.RpcUri.Port);
            health = (await Poll.UntilAsync(() => client.GetFromJsonAsync<JsonNode>("/v1/health"),
                h => h!["chain"]!["state"]!.GetValue<string>() == "Connected", TimeSpan.FromSeconds(60), "the chain connection"))!;

            Assert.Equal("ok", health["status"]!.GetValue<string>());
            Assert.Equal(31337, health["chain"]!["chainId"]!.GetValue<long>());
            Assert.Equal(market.Token.ToString(), health["chain"]!["token"]!.GetValue<string>(), ignoreCase: true);
            using var verified = await client.GetAsync("/v1/verify?wallet=" + MarketFixture.CpoAWallet);
            Assert.Equal(HttpStatusCode.OK, verified.StatusCode);
            var request = await api.RequestAsync(dso, transformer, now.AddHours(2), now.AddHours(3));
            Assert.Equal("Open", (await api.GetAsync($"/v1/requests/{request}", dso))["state"]!.GetValue<string>());
        }
        finally
        {
            await app.DisposeAsync();
            await storage.DisposeAsync();
        }
    }

    /// <summary>Forwards TCP connections from one loopback port to another: the node "coming up" at the app's address.</summary>
    private sealed class TcpRelay : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _accepting;

        private TcpRelay(int from, int to)
        {
            _listener = new TcpListener(IPAddress.Loopback, from);
            _listener.Start();
            _accepting = AcceptAsync(to);
        }

        public static TcpRelay Start(int from, int to) => new(from, to);

        private async Task AcceptAsync(int to)
        {
            var pipes = new List<Task>();
            try
            {
                while (true) pipes.Add(PipeAsync(await _listener.AcceptTcpClientAsync(_stop.Token), to));
            }
            catch (OperationCanceledException)
            {
            }
            await Task.WhenAll(pipes);
        }

        private async Task PipeAsync(TcpClient inbound, int to)
        {
            using (inbound)
            using (var outbound = new TcpClient())
            {
                try
                {
                    await outbound.ConnectAsync(IPAddress.Loopback, to, _stop.Token);
                    await Task.WhenAny(inbound.GetStream().CopyToAsync(outbound.GetStream(), _stop.Token),
                        outbound.GetStream().CopyToAsync(inbound.GetStream(), _stop.Token));
                }
                catch (Exception e) when (e is OperationCanceledException or IOException or SocketException)
                {
                    // The relay stops, or either side closed: the connection ends.
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _accepting;
            _stop.Dispose();
        }
    }
}
