using System.Globalization;
using FlexChain.Ethereum;
using Nethereum.Contracts;
using Nethereum.JsonRpc.Client;
using Nethereum.Web3;

namespace FlexChain.Verification.Cli;

/// <summary>A command line that cannot be run; the message says what is wrong.</summary>
public sealed class UsageException(string message) : Exception(message);

/// <summary>What to verify, and where: the node and escrow (trusted: the holder's choice) and FlexChain's API (only a source of records).</summary>
/// <param name="FromBlock">First block searched for the wallet's payments (and for the events of an award).</param>
/// <param name="ChainId">The chain the node must be on (refused otherwise); null trusts whatever chain the node is on.</param>
public sealed record VerifyArguments(Uri Rpc, EthAddress Escrow, Uri Api, Hash32? Award, Hash32? Transaction, EthAddress? Wallet, ulong FromBlock, ulong? ChainId = null)
{
    public const string Usage =
        "usage: flexchain-verify --rpc <node url> --escrow <0x address> --api <FlexChain API url>\n" +
        "                        (--award <0x award id> | --tx <0x transaction hash> | --wallet <0x address> [--from-block <n>])\n" +
        "                        [--chain-id <n>: refuse a node on another chain]\n" +
        "Checks FlexChain payments on the chain itself against the records FlexChain publishes.\n" +
        "Exit code: 0 every payment verified, 1 a payment did not verify (or the check could not run), 2 usage error.";

    /// <summary>Parses <c>--name value</c> pairs (also <c>--name=value</c>).</summary>
    /// <exception cref="UsageException">An unknown, repeated, missing or malformed option.</exception>
    public static VerifyArguments Parse(IReadOnlyList<string> args)
    {
        ArgumentNullException.ThrowIfNull(args);
        var options = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal)) throw new UsageException($"unexpected argument '{arg}'");
            var (name, value) = arg.IndexOf('=') is var eq and > 0 ? (arg[2..eq], arg[(eq + 1)..])
                : i + 1 < args.Count ? (arg[2..], args[++i]) : throw new UsageException($"{arg} needs a value");
            if (name is not ("rpc" or "escrow" or "api" or "award" or "tx" or "wallet" or "from-block" or "chain-id")) throw new UsageException($"unknown option --{name}");
            if (!options.TryAdd(name, value)) throw new UsageException($"--{name} is given twice");
        }

        var targets = new[] { "award", "tx", "wallet" }.Where(options.ContainsKey).ToList();
        if (targets.Count != 1) throw new UsageException("give exactly one of --award, --tx or --wallet");
        if (options.ContainsKey("from-block") && targets[0] != "wallet") throw new UsageException("--from-block goes with --wallet");
        return new VerifyArguments(
            Url(options, "rpc"), Parse(options, "escrow", EthAddress.Parse), WithSlash(Url(options, "api")),
            options.ContainsKey("award") ? Parse(options, "award", Hash32Of) : null,
            options.ContainsKey("tx") ? Parse(options, "tx", Hash32Of) : null,
            options.ContainsKey("wallet") ? Parse(options, "wallet", EthAddress.Parse) : null,
            options.ContainsKey("from-block") ? Parse(options, "from-block", s => ulong.Parse(s, NumberStyles.None, CultureInfo.InvariantCulture)) : 0,
            options.ContainsKey("chain-id") ? Parse(options, "chain-id", s => ulong.Parse(s, NumberStyles.None, CultureInfo.InvariantCulture)) : null);
    }

    private static Hash32 Hash32Of(string s) => s.Length == 66 ? Hash32.Parse(s) : throw new FormatException("expected 0x and 64 hex digits");

    private static Uri Url(Dictionary<string, string> options, string name) =>
        Parse(options, name, s => Uri.TryCreate(s, UriKind.Absolute, out var u) && u.Scheme is "http" or "https" ? u : throw new FormatException("expected an http(s) URL"));

    private static Uri WithSlash(Uri u) => u.AbsoluteUri.EndsWith('/') ? u : new Uri(u.AbsoluteUri + "/");

    private static T Parse<T>(Dictionary<string, string> options, string name, Func<string, T> parse)
    {
        if (!options.TryGetValue(name, out var text)) throw new UsageException($"--{name} is required");
        try
        {
            return parse(text);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or OverflowException)
        {
            throw new UsageException($"--{name} '{text}' is malformed: {e.Message}");
        }
    }
}

/// <summary>
/// <c>flexchain-verify</c>: fetches FlexChain's published records over HTTP, reads the escrow's events and state from
/// the given node, and prints one verdict per payment (amounts in token units).
/// </summary>
public static class VerifyCommand
{
    public const int AllVerified = 0;
    public const int NotVerified = 1;
    public const int UsageError = 2;

    /// <summary>Runs the command.</summary>
    /// <param name="api">The HTTP client for FlexChain's API; null creates one (tests pass one that reaches an in-process app).</param>
    /// <returns>0 when every payment verified, 1 when one did not or the check could not run, 2 for a usage error.</returns>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, HttpClient? api, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
        if (args.Count == 1 && args[0] is "--help" or "-h")
        {
            await output.WriteLineAsync(VerifyArguments.Usage).ConfigureAwait(false);
            return AllVerified;
        }
        VerifyArguments a;
        try
        {
            a = VerifyArguments.Parse(args);
        }
        catch (UsageException e)
        {
            await error.WriteLineAsync($"error: {e.Message}\n{VerifyArguments.Usage}").ConfigureAwait(false);
            return UsageError;
        }

        using var ownHttp = api is null ? new HttpClient() : null;
        try
        {
            var web3 = new Web3(a.Rpc.AbsoluteUri);
            if (a.ChainId is { } chainId) await web3.RequireChainIdAsync(chainId, cancellationToken).ConfigureAwait(false);
            var chain = new JsonRpcEscrowChain(web3, a.Escrow);
            var token = await chain.GetTokenAsync(cancellationToken).ConfigureAwait(false);
            var verifier = new PaymentVerifier(chain, new HttpPublishedRecords(api ?? ownHttp!, a.Api)) { SearchFromBlock = a.FromBlock };
            var verdicts = a switch
            {
                { Award: { } award } => await verifier.VerifyAwardAsync(award, cancellationToken).ConfigureAwait(false),
                { Transaction: { } tx } => await verifier.VerifyTransactionAsync(tx, cancellationToken).ConfigureAwait(false),
                _ => await verifier.VerifyWalletAsync(a.Wallet!.Value, a.FromBlock, cancellationToken).ConfigureAwait(false),
            };
            foreach (var v in verdicts) await output.WriteLineAsync(v.Describe(token.Decimals)).ConfigureAwait(false);
            var verified = verdicts.Count(v => v.Verified);
            await output.WriteLineAsync(verdicts.Count == 0
                ? $"no payments to or from {a.Wallet} on escrow {a.Escrow} since block {a.FromBlock}"
                : $"{verified} of {verdicts.Count} payment(s) verified (token {token.Address}, {token.Decimals} decimals)").ConfigureAwait(false);
            return verified == verdicts.Count ? AllVerified : NotVerified;
        }
        catch (Exception e) when (e is ChainMismatchException or HttpRequestException or RpcResponseException or RpcClientUnknownException or RpcClientTimeoutException
                                  or Nethereum.ABI.FunctionEncoding.SmartContractRevertException or SmartContractCustomErrorRevertException or FormatException or InvalidCastException
                                  || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // The check could not run (node unreachable, not an escrow at that address): that is not a verified payment.
            await error.WriteLineAsync($"error: could not verify: {e.Message}").ConfigureAwait(false);
            return NotVerified;
        }
    }
}
