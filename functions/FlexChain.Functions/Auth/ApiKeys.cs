using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using FlexChain.Domain;
using FlexChain.Functions.Storage;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace FlexChain.Functions.Auth;

/// <summary>
/// API keys have the form <c>fck_{participantId}_{secret}</c>: the participant id finds the stored SHA-256 hash of the
/// secret in one point read, and the secret is compared in constant time. The key itself is never stored or logged.
/// A participant rotates its key with <c>POST /v1/participants/me/api-key</c>; the key it called with keeps working
/// for a grace period it chooses, so a lost response never locks it out.
/// </summary>
public static class ApiKeys
{
    public const string Scheme = "ApiKey";
    public const string Header = "X-Api-Key";

    public static (string Key, string Hash) Issue(string participantId)
    {
        var secret = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));
        return ($"fck_{participantId}_{secret}", Hash(secret));
    }

    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    public static bool TryParse(string key, out string participantId, out string secret)
    {
        participantId = secret = "";
        // The exact shape, checked before the id reaches storage (whose keys refuse characters like / \ # ?).
        var parts = key.Split('_');
        if (parts.Length != 4 || parts[0] != "fck" || parts[1].Length is 0 or > 16 || !parts[1].All(char.IsAsciiLetterLower)
            || parts[2].Length != 32 || !parts[2].All(char.IsAsciiHexDigitLower) || parts[3].Length != 64 || !parts[3].All(char.IsAsciiHexDigitLower))
            return false;
        participantId = parts[1] + "_" + parts[2];
        secret = parts[3];
        return true;
    }

    public static bool Matches(string secret, string storedHash) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Hash(secret)), Encoding.ASCII.GetBytes(storedHash));
}

/// <summary>Authenticates the <c>X-Api-Key</c> header; the principal carries the participant id and role.</summary>
public sealed class ApiKeyHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, MarketStore store, TimeProvider clock)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!Request.Headers.TryGetValue(ApiKeys.Header, out var values)) return AuthenticateResult.NoResult();
        if (!ApiKeys.TryParse(values.ToString(), out var id, out var secret)) return AuthenticateResult.Fail("malformed API key");
        var found = await store.GetParticipantAsync(id, Context.RequestAborted);
        if (found is null || !found.Value.Accepts(secret, clock.GetUtcNow())) return AuthenticateResult.Fail("unknown API key");
        var identity = new ClaimsIdentity(
            [new Claim(ClaimTypes.NameIdentifier, id), new Claim(ClaimTypes.Role, found.Value.Participant.Role.ToString())], ApiKeys.Scheme);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), ApiKeys.Scheme));
    }
}

public static class CallerExtensions
{
    public static string ParticipantId(this ClaimsPrincipal user) =>
        user.FindFirstValue(ClaimTypes.NameIdentifier) ?? throw new InvalidOperationException("unauthenticated");

    public static Role Role(this ClaimsPrincipal user) => Enum.Parse<Role>(user.FindFirstValue(ClaimTypes.Role)!);
}

/// <summary>Settings of the market (section <c>Market</c>).</summary>
public sealed class MarketOptions
{
    /// <summary>
    /// SHA-256 (lower-case hex) of the operator's API key secret. The operator never registers: it is seeded at start-up
    /// from this hash, so its key exists only where it was generated (Key Vault in Azure). Unset: no operator account.
    /// The key is <c>fck_{OperatorId}_{secret}</c> with a 64-hex-digit secret.
    /// </summary>
    public string? OperatorApiKeyHash { get; set; }

    /// <summary>The operator's participant id.</summary>
    public string OperatorId { get; set; } = "operator_00000000000000000000000000000001";

    public string OperatorName { get; set; } = "FlexChain market operator";

    public string OperatorContact { get; set; } = "operator@flexchain.example";
}

/// <summary>Seeds (or re-seeds after a key rotation) the market operator from configuration.</summary>
public static class OperatorSeed
{
    /// <param name="wallet">The operator's wallet: the chain signer's address, proven by holding its key.</param>
    public static async Task RunAsync(MarketOptions options, MarketStore store, WalletAddress wallet, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(options.OperatorApiKeyHash)) return;
        if (options.OperatorApiKeyHash.Length != 64 || !options.OperatorApiKeyHash.All(char.IsAsciiHexDigitLower))
            throw new InvalidOperationException("Market:OperatorApiKeyHash must be 64 lower-case hex digits (SHA-256 of the key's secret).");
        if (!ApiKeys.TryParse($"fck_{options.OperatorId}_{new string('0', 64)}", out _, out _) || !options.OperatorId.StartsWith("operator_", StringComparison.Ordinal))
            throw new InvalidOperationException("Market:OperatorId must look like operator_ followed by 32 hex digits.");
        var now = clock.GetUtcNow();
        var existing = await store.GetParticipantAsync(options.OperatorId, cancellationToken);
        var profile = new Participant(options.OperatorId, Role.Operator, options.OperatorName, options.OperatorContact, wallet,
            existing?.Participant.RegisteredAt ?? now) { WalletVerifiedAt = existing?.Participant.WalletVerifiedAt ?? now };
        await store.UpsertOperatorAsync(profile, options.OperatorApiKeyHash, cancellationToken);
    }
}
