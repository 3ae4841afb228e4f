using System.Diagnostics;
using System.Text.Json;
using FlexChain.Ethereum;
using FlexChain.Messaging;
using FlexChain.Testing;
using FlexChain.Verification;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Nethereum.RPC.Eth.DTOs;
using Nethereum.Signer;
using Nethereum.Web3;

namespace FlexChain.EndToEnd.Tests;

/// <summary>
/// The whole local stack for end-to-end tests: real Azurite, a real Hardhat node with the contracts deployed by
/// the same script the run command uses, and the app hosted in process with a manual clock and a one-second gate tick.
/// </summary>
public sealed class MarketFixture : IAsyncLifetime
{
    /// <summary>Hardhat's public development accounts: #0 operator (the escrow's settler), #1 DSO, #2 and #3 CPOs.</summary>
    public const string OperatorKey = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    /// <summary>Hardhat's account #17, the escrow's registrar (contracts-sol/scripts/deploy.js): lists proven CPO wallets as payees.</summary>
    public const string RegistrarKey = "0x689af8efa8c651a91ad287602527f3af2fe9f6501a7ac4b061667b5a93e037fd";
    public static readonly Wallet DsoKey = new Wallet("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
    public static readonly Wallet CpoAKey = new Wallet("0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a");
    public static readonly Wallet CpoBKey = new Wallet("0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6");
    /// <summary>
    /// Accounts #4, #5 and #6 for the API rule tests: their requests clear and lock funds whenever a test moves the
    /// clock, so they must not share wallets with the gate-cycle test, which checks exact balances of #1 to #3.
    /// </summary>
    public static readonly Wallet RuleDsoKey = new Wallet("0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a");
    public static readonly Wallet RuleCpoAKey = new Wallet("0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba");
    public static readonly Wallet RuleCpoBKey = new Wallet("0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e");
    public static readonly EthAddress DsoWallet = EthAddress.Parse("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
    public static readonly EthAddress CpoAWallet = EthAddress.Parse("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC");
    public static readonly EthAddress CpoBWallet = EthAddress.Parse("0x90F79bf6EB2c4f870365E785982E1f101E93b906");

    /// <summary>The market operator's API key (seeded from its hash in configuration, as in production).</summary>
    public const string OperatorApiKey = "fck_operator_00000000000000000000000000000001_" + OperatorSecret;
    private const string OperatorSecret = "5e1f0c0ffee0000000000000000000000000000000000000000000000000abcd";

    /// <summary>The storage connection string, for tests that count entities around hostile requests.</summary>
    public string StorageConnectionString => _azurite.ConnectionString;

    /// <summary>The Azurite server, for tests that stop and restart it mid-cycle.</summary>
    public AzuriteFixture Storage => _azurite;

    /// <summary>The Hardhat node, for tests that suspend it mid-cycle.</summary>
    public HardhatNodeFixture Chain => _chain;

    private readonly AzuriteFixture _azurite = new();
    private readonly HardhatNodeFixture _chain = new();
    private WebApplicationFactory<Program>? _factory;

    public ManualClock Clock { get; } = new(StartOfNextHour(DateTimeOffset.UtcNow));
    public Web3 Web3 { get; private set; } = null!;
    public EthAddress Token { get; private set; }
    public EthAddress Settlement { get; private set; }
    public HttpClient Client { get; private set; } = null!;

    /// <summary>The services of the fixture's instance of the app (e.g. its gate cycle runner).</summary>
    public IServiceProvider Services => _factory!.Services;

    public async Task InitializeAsync()
    {
        await Task.WhenAll(_azurite.InitializeAsync(), _chain.InitializeAsync());
        var deployment = await DeployAsync(_chain.RpcUri);
        Token = EthAddress.Parse(deployment.GetProperty("token").GetString()!);
        Settlement = EthAddress.Parse(deployment.GetProperty("settlement").GetString()!);
        Web3 = new Web3(_chain.RpcUri.AbsoluteUri);

        _factory = NewInstance();
        Client = _factory.CreateClient();
    }

    /// <summary>
    /// Another instance of the app on the same storage, chain and clock, with its own gate timer: as when the platform
    /// scales out; <paramref name="settings"/> replace the fixture's. The caller disposes it.
    /// </summary>
    public WebApplicationFactory<Program> NewInstance(params (string Key, string Value)[] settings) => NewInstance(_azurite.ConnectionString, Clock, settings);

    /// <summary>Another instance (see above) whose clock runs <paramref name="skew"/> ahead of the fixture's, as a machine's clock may.</summary>
    public WebApplicationFactory<Program> NewInstance(TimeSpan skew) => NewInstance(_azurite.ConnectionString, new SkewedClock(Clock, skew), []);

    /// <summary>
    /// An instance on storage of its own (a fresh Azurite; the same chain and clock), for settings that must not act on
    /// the shared market (e.g. webhook delivery with private targets refused). The caller disposes both.
    /// </summary>
    public async Task<(WebApplicationFactory<Program> App, AzuriteFixture Storage)> IsolatedInstanceAsync(params (string Key, string Value)[] settings)
    {
        var storage = new AzuriteFixture();
        await storage.InitializeAsync();
        return (NewInstance(storage.ConnectionString, Clock, settings), storage);
    }

    private WebApplicationFactory<Program> NewInstance(string storage, TimeProvider clock, (string Key, string Value)[] settings) =>
        new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("Storage:ConnectionString", storage);
            web.UseSetting("Chain:RpcUrl", _chain.RpcUri.ToString());
            web.UseSetting("Chain:ChainId", HardhatNodeFixture.ChainId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            web.UseSetting("Chain:SettlementContract", Settlement.ToString());
            web.UseSetting("Chain:OperatorKey", OperatorKey);
            web.UseSetting("Chain:RegistrarKey", RegistrarKey);
            web.UseSetting("GateCycle:MeterDataGrace", "00:05:00");
            // A one-second cadence: requests with the same gate closure share a cycle, as tests set them.
            web.UseSetting("GateCycle:Cadence", "00:00:01");
            web.UseSetting("Market:OperatorApiKeyHash", FlexChain.Functions.Auth.ApiKeys.Hash(OperatorSecret));
            web.UseSetting("Market:ReadCacheDuration", "00:00:00");
            web.UseSetting("LocalTriggers:Schedules:GateTick", "* * * * * *");
            // Tests move the manual clock: the cycles' orchestrations look at it every 2 s (every unfinished cycle of the
            // whole suite does, so more often overloads this machine), and retry failing steps soon.
            web.UseSetting("GateCycle:MaxTimerWait", "00:00:02");
            web.UseSetting("GateCycle:StepRetryMax", "00:00:02");
            web.UseSetting("Notifications:AllowPrivateTargets", "true");
            // Thousands of test calls come from one (test server) address: the limits' own tests lower them per instance.
            foreach (var limit in new[] { "RequestsPerParticipantPerMinute", "RequestsPerAddressPerMinute", "FailedKeysPerAddressPerMinute", "RegistrationsPerAddressPerHour" })
                web.UseSetting("Limits:" + limit, "1000000");
            foreach (var (key, value) in settings) web.UseSetting(key, value);
            web.ConfigureServices(s => s.Replace(ServiceDescriptor.Singleton<TimeProvider>(clock)));
            web.ConfigureTestServices(s =>
            {
                var broker = s.Single(d => d.ServiceType == typeof(IMessageBroker)).ImplementationFactory!;
                s.Replace(ServiceDescriptor.Singleton<IMessageBroker>(sp => new OutageBroker((IMessageBroker)broker(sp), this)));
            });
        });

    /// <summary>The fixture's clock, <paramref name="skew"/> ahead.</summary>
    private sealed class SkewedClock(TimeProvider clock, TimeSpan skew) : TimeProvider
    {
        public override DateTimeOffset GetUtcNow() => clock.GetUtcNow() + skew;
    }

    /// <summary>
    /// While true, the message service refuses every send of every instance (503, as in a Service Bus outage while
    /// table storage is up); receiving still works.
    /// </summary>
    public bool MessageSendsRefused { get; set; }

    /// <summary>The app's real broker (storage queues on Azurite), refusing sends while <see cref="MessageSendsRefused"/>.</summary>
    private sealed class OutageBroker(IMessageBroker inner, MarketFixture market) : IMessageBroker
    {
        public IMessageSender GetQueue(string name) => new Sender(inner.GetQueue(name), market);

        private sealed class Sender(IMessageSender inner, MarketFixture market) : IMessageSender
        {
            public string Name => inner.Name;
            public Task SendAsync(OutgoingMessage message, CancellationToken cancellationToken = default) => market.MessageSendsRefused
                ? throw new Azure.RequestFailedException(503, "message service unavailable (test outage)", "ServiceUnavailable", null)
                : inner.SendAsync(message, cancellationToken);
        }
    }

    public Task<System.Numerics.BigInteger> TokenBalanceAsync(EthAddress holder) => TokenBalanceAsync(Web3, Token, holder);

    /// <summary>
    /// A new wallet with gas money and <paramref name="units"/> test euros (from the funded DSO), approving the escrow for
    /// them; returns it with its own token client (to change its allowance later).
    /// </summary>
    public async Task<(Wallet Wallet, Nethereum.Contracts.Standards.ERC20.ERC20ContractService Token)> FundedWalletAsync(System.Numerics.BigInteger units)
    {
        var wallet = new Wallet("0x" + Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)));
        await Web3.Client.SendRequestAsync<object>("hardhat_setBalance", null, wallet.Address.ToString(), "0xDE0B6B3A7640000");
        var funder = new Web3(new Nethereum.Web3.Accounts.Account(DsoKey.Key.GetPrivateKey(), (long)HardhatNodeFixture.ChainId), Chain.RpcUri.AbsoluteUri);
        await funder.Eth.ERC20.GetContractService(Token.ToString()).TransferRequestAndWaitForReceiptAsync(wallet.Address.ToString(), units);
        var token = new Web3(new Nethereum.Web3.Accounts.Account(wallet.Key.GetPrivateKey(), (long)HardhatNodeFixture.ChainId), Chain.RpcUri.AbsoluteUri)
            .Eth.ERC20.GetContractService(Token.ToString());
        await token.ApproveRequestAndWaitForReceiptAsync(Settlement.ToString(), units);
        return (wallet, token);
    }

    /// <summary>The <paramref name="token"/> balance of <paramref name="holder"/>, read from the chain.</summary>
    public static Task<System.Numerics.BigInteger> TokenBalanceAsync(IWeb3 web3, EthAddress token, EthAddress holder) =>
        web3.Eth.ERC20.GetContractService(token.ToString()).BalanceOfQueryAsync(holder.ToString());

    /// <summary>The escrow's <typeparamref name="TEvent"/> logs from <paramref name="fromBlock"/>, with the given indexed topics (null for any).</summary>
    public Task<IReadOnlyList<FilterLog>> LogsAsync<TEvent>(ulong fromBlock, params Hash32?[] indexed) where TEvent : Nethereum.ABI.FunctionEncoding.Attributes.IEventDTO =>
        LogsAsync<TEvent>(Web3, Settlement, fromBlock, indexed);

    /// <summary>The <typeparamref name="TEvent"/> logs of <paramref name="escrow"/> from <paramref name="fromBlock"/>.</summary>
    public static Task<IReadOnlyList<FilterLog>> LogsAsync<TEvent>(IWeb3 web3, EthAddress escrow, ulong fromBlock, params Hash32?[] indexed)
        where TEvent : Nethereum.ABI.FunctionEncoding.Attributes.IEventDTO =>
        web3.GetLogsAsync(escrow, [EscrowTopics.Of<TEvent>().ToString(), .. indexed.Select(t => t?.ToString())], fromBlock, null, 1_000, CancellationToken.None);

    public async Task DisposeAsync()
    {
        Client?.Dispose();
        if (_factory is not null) await _factory.DisposeAsync();
        await _chain.DisposeAsync();
        await _azurite.DisposeAsync();
    }

    private static DateTimeOffset StartOfNextHour(DateTimeOffset t) =>
        new DateTimeOffset(t.Year, t.Month, t.Day, t.Hour, 0, 0, TimeSpan.Zero).AddHours(1);

    /// <summary>Runs contracts-sol/scripts/deploy.js against the node, as the run command does (a token of <paramref name="tokenDecimals"/>: 6 or 18).</summary>
    internal static async Task<JsonElement> DeployAsync(Uri rpc, int tokenDecimals = 6)
    {
        var file = Path.Combine(Path.GetTempPath(), $"flexchain-deploy-{Guid.NewGuid():N}.json");
        var info = new ProcessStartInfo(RepoPaths.NodeBin(RepoPaths.Contracts, "hardhat"))
        {
            WorkingDirectory = RepoPaths.Contracts,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            ArgumentList = { "run", "scripts/deploy.js", "--network", "localhost" },
            Environment =
            {
                ["FLEXCHAIN_RPC_URL"] = rpc.ToString(), ["FLEXCHAIN_DEPLOYMENT_FILE"] = file,
                ["FLEXCHAIN_TOKEN_DECIMALS"] = tokenDecimals.ToString(System.Globalization.CultureInfo.InvariantCulture),
            },
        };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0) throw new InvalidOperationException($"deploy failed: {await stdout}\n{await stderr}");
        try { return JsonDocument.Parse(await File.ReadAllTextAsync(file)).RootElement.Clone(); }
        finally { File.Delete(file); }
    }
}

/// <summary>A test wallet (one of Hardhat's public development keys): its address, and EIP-191 signatures as a wallet app makes them.</summary>
public sealed class Wallet(string privateKey)
{
    private readonly EthECKey _key = new(privateKey);

    /// <summary>The wallet's key, for typed-data (EIP-712) signatures.</summary>
    public EthECKey Key => _key;

    public EthAddress Address { get; } = EthAddress.Parse(new EthECKey(privateKey).GetPublicAddress());

    /// <summary>personal_sign of the UTF-8 message: 0x and 65 bytes r || s || v.</summary>
    public string Sign(string message) => new EthereumMessageSigner().EncodeUTF8AndSign(message, _key);
}
