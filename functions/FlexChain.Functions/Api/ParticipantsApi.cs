using System.Security.Cryptography;
using FlexChain.Domain;
using FlexChain.Ethereum;
using FlexChain.Functions.Auth;
using FlexChain.Functions.Hosting;
using FlexChain.Functions.Settlement;
using FlexChain.Functions.Storage;
using FluentValidation;
using Microsoft.AspNetCore.Http.HttpResults;
using Nethereum.Signer;

namespace FlexChain.Functions.Api;

/// <summary>
/// Registration of DSOs and CPOs (the market operator is seeded from configuration, never registered), the caller's
/// profile, wallet ownership proof by an EIP-191 signature of a server challenge, and the operator's participant list.
/// </summary>
public static partial class ParticipantsApi
{
    /// <summary>How long a wallet challenge can be answered.</summary>
    public static readonly TimeSpan ChallengeLifetime = TimeSpan.FromMinutes(10);

    public static RouteGroupBuilder MapParticipantsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/participants").WithTags("Participants");
        group.MapPost("/", Register).Validate<RegisterParticipantRequest>().Idempotent<RegisterParticipantRequest>().AllowAnonymous()
            .RequireRateLimiting(Hosting.RateLimits.Registration).CarriesSecret();
        group.MapGet("/", List).RequireAuthorization(Policies.Operator);
        group.MapGet("/me", Me).RequireAuthorization();
        group.MapPut("/me", UpdateProfile).Validate<ProfileRequest>().RequireAuthorization();
        group.MapGet("/{id}", Get).RequireAuthorization();
        group.MapPost("/me/wallet-challenge", IssueWalletChallenge).RequireAuthorization();
        group.MapPost("/me/wallet-proof", ProveWallet).Validate<WalletProofRequest>().RequireAuthorization();
        group.MapPost("/me/api-key", RotateApiKey).Validate<RotateApiKeyRequest>().RequireAuthorization().CarriesSecret();
        group.MapPost("/me/api-key/revoke-others", RevokeOtherApiKeys).RequireAuthorization();
        return group;
    }

    public static async Task<Created<RegisteredParticipantResponse>> Register(
        RegisterParticipantRequest body, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var role = Enum.Parse<Role>(body.Role!, ignoreCase: true);
        var id = Ids.New(role.ToString().ToLowerInvariant(), clock);
        var participant = new Participant(id, role, body.LegalName!, body.Contact!, WalletAddress.Parse(body.WalletAddress), clock.GetUtcNow());
        var (key, hash) = ApiKeys.Issue(id);
        await store.AddParticipantAsync(participant, hash, cancellationToken);
        return TypedResults.Created($"/v1/participants/{id}", new RegisteredParticipantResponse(ParticipantResponse.From(participant), key));
    }

    public static async Task<Results<Ok<ParticipantResponse>, NotFound>> Me(HttpContext http, MarketStore store, CancellationToken cancellationToken) =>
        await store.GetParticipantAsync(http.User.ParticipantId(), cancellationToken) is { } found
            ? TypedResults.Ok(ParticipantResponse.From(found.Participant)) : TypedResults.NotFound();

    /// <summary>
    /// Replaces the caller's legal name and contact. The role and the wallet never change (a new wallet is a new
    /// participant: payments and proofs are tied to it); the operator's profile comes from configuration.
    /// </summary>
    public static async Task<Ok<ParticipantResponse>> UpdateProfile(
        ProfileRequest body, HttpContext http, MarketStore store, CancellationToken cancellationToken)
    {
        if (http.User.Role() == Role.Operator)
            throw new ApiProblemException(409, "role", "operator-configured", "The market operator's profile is set in configuration (Market:OperatorName, Market:OperatorContact).");
        var (record, etag) = (await store.GetParticipantForUpdateAsync(http.User.ParticipantId(), cancellationToken))!.Value;
        var updated = record with { Participant = record.Participant with { LegalName = body.LegalName!, Contact = body.Contact! } };
        if (!await store.TryReplaceParticipantAsync(updated, etag, cancellationToken))
            throw new ApiProblemException(409, "id", "concurrent-update", "Your profile changed while this update ran; read it again.");
        return TypedResults.Ok(ParticipantResponse.From(updated.Participant));
    }

    /// <summary>A participant's public profile: the operator sees everyone, others see only themselves (counterparties are named by id in results).</summary>
    public static async Task<Results<Ok<ParticipantResponse>, NotFound>> Get(string id, HttpContext http, MarketStore store, CancellationToken cancellationToken)
    {
        if (http.User.ParticipantId() != id && http.User.Role() != Role.Operator) return TypedResults.NotFound();
        return await store.GetParticipantAsync(id, cancellationToken) is { } found ? TypedResults.Ok(ParticipantResponse.From(found.Participant)) : TypedResults.NotFound();
    }

    public static async Task<Ok<ListResponse<ParticipantResponse>>> List(
        string? role, int? limit, string? cursor, MarketStore store, CancellationToken cancellationToken) =>
        TypedResults.Ok((await store.ListParticipantsAsync(ApiConventions.EnumFilter<Role>(role, "role"), ApiConventions.Limit(limit), cursor, cancellationToken))
            .ToResponse(ParticipantResponse.From));

    /// <summary>
    /// Issues a one-time challenge naming the participant, its wallet, a random nonce and an expiry. Only the latest
    /// challenge can be answered; answering consumes it, so a signature can never be replayed.
    /// </summary>
    public static async Task<Ok<WalletChallengeResponse>> IssueWalletChallenge(
        HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        var participant = (await store.GetParticipantAsync(http.User.ParticipantId(), cancellationToken))!.Value.Participant;
        var wallet = EthAddress.Parse(participant.Wallet.Value).ToString();
        var now = clock.GetUtcNow();
        var expires = now + ChallengeLifetime;
        var message = $"FlexChain wallet proof\nParticipant: {participant.Id}\nWallet: {wallet}\nNonce: {Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16))}\n" +
                      $"Issued: {now:yyyy-MM-ddTHH:mm:ssZ}\nExpires: {expires:yyyy-MM-ddTHH:mm:ssZ}";
        await store.PutWalletChallengeAsync(participant.Id, new WalletChallenge(message, now, expires), cancellationToken);
        return TypedResults.Ok(new WalletChallengeResponse(message, wallet, expires));
    }

    /// <summary>
    /// Checks the EIP-191 signature of the open challenge and records the wallet as proven. A CPO's proven wallet is
    /// then listed as a payee on the escrow (the registrar's transaction, journalled before it is broadcast); if that
    /// fails the proof stands, and the wallet is listed before the first lock that pays it.
    /// </summary>
    public static async Task<Ok<ParticipantResponse>> ProveWallet(
        WalletProofRequest body, HttpContext http, MarketStore store, SettlementLedger ledger, TimeProvider clock, ILoggerFactory logs,
        CancellationToken cancellationToken)
    {
        var id = http.User.ParticipantId();
        var (record, etag) = (await store.GetParticipantForUpdateAsync(id, cancellationToken))!.Value;
        var challenge = await store.GetWalletChallengeAsync(id, cancellationToken)
            ?? throw new DomainException("signature", "challenge-missing", "There is no open wallet challenge: POST /v1/participants/me/wallet-challenge first.");
        if (clock.GetUtcNow() >= challenge.Value.ExpiresAt)
            throw new DomainException("signature", "challenge-expired", "The wallet challenge expired: request a new one.");
        EthAddress signer;
        try
        {
            signer = EthAddress.Parse(new EthereumMessageSigner().EncodeUTF8AndEcRecover(challenge.Value.Message, body.Signature!));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new DomainException("signature", "signature", "The signature is not a valid secp256k1 signature (65 bytes r || s || v).");
        }
        if (signer != EthAddress.Parse(record.Participant.Wallet.Value))
        {
            LogProofRejected(logs.CreateLogger(typeof(ParticipantsApi)), id);
            throw new DomainException("signature", "wallet-mismatch", "The signature was not made by the registered wallet's key.");
        }
        var verified = record.Participant with { WalletVerifiedAt = clock.GetUtcNow() };
        if (!await store.TryMarkWalletVerifiedAsync(record with { Participant = verified }, etag, challenge.ETag, cancellationToken))
            throw new DomainException("signature", "challenge-missing", "The challenge was already answered or replaced (or your profile changed meanwhile): request a new one.");
        var log = logs.CreateLogger(typeof(ParticipantsApi));
        LogWalletProven(log, id);
        if (verified.Role == Role.Cpo)
        {
            try
            {
                await ledger.RegisterPayeesAsync([signer], cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogPayeeDeferred(log, id, e);
            }
        }
        return TypedResults.Ok(ParticipantResponse.From(verified));
    }

    /// <summary>
    /// Issues a new API key (shown once, like at registration). Only the current key rotates: a previous key still in
    /// its grace period cannot, so a leaked old key can never replace the key just issued. The key this call was made
    /// with keeps working for <c>previousKeyValidMinutes</c> (default <see cref="DefaultPreviousKeyMinutes"/>, 0 revokes
    /// it at once, at most <see cref="MaxPreviousKeyMinutes"/>) so that clients can switch over; any earlier key stops
    /// working now. The operator's key comes from configuration (Key Vault) and is rotated there.
    /// </summary>
    public static async Task<Ok<RotatedApiKeyResponse>> RotateApiKey(
        RotateApiKeyRequest body, HttpContext http, MarketStore store, TimeProvider clock, ILoggerFactory logs, CancellationToken cancellationToken)
    {
        var (id, record, etag) = await CurrentKeyHolderAsync(http, store, cancellationToken);
        var now = clock.GetUtcNow();
        var grace = TimeSpan.FromMinutes(body.PreviousKeyValidMinutes ?? DefaultPreviousKeyMinutes);
        var (key, hash) = ApiKeys.Issue(id);
        var rotated = record with
        {
            ApiKeyHash = hash,
            PreviousApiKeyHash = grace > TimeSpan.Zero ? record.ApiKeyHash : null,
            PreviousKeyExpiresAt = grace > TimeSpan.Zero ? now + grace : null,
        };
        if (!await store.TryReplaceParticipantAsync(rotated, etag, cancellationToken))
            throw new ApiProblemException(409, "apiKey", "concurrent-update", "Your profile changed while the key was rotated (another rotation?); try again.");
        LogKeyRotated(logs.CreateLogger(typeof(ParticipantsApi)), id, rotated.PreviousKeyExpiresAt);
        return TypedResults.Ok(new RotatedApiKeyResponse(key, rotated.PreviousKeyExpiresAt));
    }

    /// <summary>Revokes every key but the current one (the one this call is made with) at once: after a leak, or once clients switched over.</summary>
    public static async Task<NoContent> RevokeOtherApiKeys(HttpContext http, MarketStore store, ILoggerFactory logs, CancellationToken cancellationToken)
    {
        var (id, record, etag) = await CurrentKeyHolderAsync(http, store, cancellationToken);
        if (record.PreviousApiKeyHash is not null
            && !await store.TryReplaceParticipantAsync(record with { PreviousApiKeyHash = null, PreviousKeyExpiresAt = null }, etag, cancellationToken))
            throw new ApiProblemException(409, "apiKey", "concurrent-update", "Your profile changed meanwhile (a rotation?); try again.");
        LogOtherKeysRevoked(logs.CreateLogger(typeof(ParticipantsApi)), id);
        return TypedResults.NoContent();
    }

    /// <summary>The caller's record, when it called with its current key (not the operator, not a previous key in its grace period).</summary>
    private static async Task<(string Id, ParticipantRecord Record, Azure.ETag ETag)> CurrentKeyHolderAsync(HttpContext http, MarketStore store, CancellationToken cancellationToken)
    {
        var id = http.User.ParticipantId();
        if (http.User.Role() == Role.Operator)
            throw new ApiProblemException(409, "role", "operator-key-configured", "The market operator's key is set in configuration (Market:OperatorApiKeyHash); rotate it there.");
        var (record, etag) = (await store.GetParticipantForUpdateAsync(id, cancellationToken))!.Value;
        ApiKeys.TryParse(http.Request.Headers[ApiKeys.Header].ToString(), out _, out var callerSecret);
        if (!ApiKeys.Matches(callerSecret, record.ApiKeyHash))
            throw new ApiProblemException(403, "X-Api-Key", "current-key-required", "Only your current API key can rotate or revoke keys; this one was replaced and works only until its grace period ends.");
        return (id, record, etag);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Participant {ParticipantId} rotated its API key; the previous key works until {PreviousKeyExpiresAt}")]
    private static partial void LogKeyRotated(ILogger logger, string participantId, DateTimeOffset? previousKeyExpiresAt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Participant {ParticipantId} revoked every API key but its current one")]
    private static partial void LogOtherKeysRevoked(ILogger logger, string participantId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Participant {ParticipantId} proved its wallet")]
    private static partial void LogWalletProven(ILogger logger, string participantId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Participant {ParticipantId}: proven wallet not listed as a payee yet (listed before its first lock)")]
    private static partial void LogPayeeDeferred(ILogger logger, string participantId, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Participant {ParticipantId}: wallet proof signed by another key")]
    private static partial void LogProofRejected(ILogger logger, string participantId);

    public sealed class Validator : AbstractValidator<RegisterParticipantRequest>
    {
        private static readonly string[] Registrable = [nameof(Role.Dso), nameof(Role.Cpo), nameof(Role.Tso)];

        public Validator()
        {
            RuleFor(x => x.Role).NotEmpty().Must(r => r is null || Registrable.Any(n => n.Equals(r, StringComparison.OrdinalIgnoreCase)))
                .WithMessage("'Role' must be 'Dso', 'Cpo' or 'Tso' (the market operator is configured, not registered).").WithErrorCode("enum");
            RuleFor(x => x.LegalName).Text(200);
            RuleFor(x => x.Contact).Text(200);
            RuleFor(x => x.WalletAddress).NotEmpty().Matches("^0x[0-9a-fA-F]{40}$").WithMessage("'Wallet Address' must be a 0x-prefixed 20-byte hex address.").WithErrorCode("address")
                .Must(a => a is null || !a.Substring(2).All(c => c == '0')).WithMessage("'Wallet Address' must not be the zero address.").WithErrorCode("address")
                .Must(a => a is null || EthAddress.TryParse(a, out _)).WithMessage("'Wallet Address' has a wrong EIP-55 checksum (mixed case must match).").WithErrorCode("checksum");
        }
    }

    public sealed class ProfileValidator : AbstractValidator<ProfileRequest>
    {
        public ProfileValidator()
        {
            RuleFor(x => x.LegalName).Text(200);
            RuleFor(x => x.Contact).Text(200);
        }
    }

    public sealed class RotateValidator : AbstractValidator<RotateApiKeyRequest>
    {
        public RotateValidator()
        {
            RuleFor(x => x.PreviousKeyValidMinutes).InclusiveBetween(0, MaxPreviousKeyMinutes).WithErrorCode("range");
        }
    }

    /// <summary>The grace period of a replaced key when the rotation names none: 15 minutes.</summary>
    public const int DefaultPreviousKeyMinutes = 15;

    /// <summary>The longest grace period of a replaced key: 24 hours.</summary>
    public const int MaxPreviousKeyMinutes = 24 * 60;

    public sealed class ProofValidator : AbstractValidator<WalletProofRequest>
    {
        public ProofValidator()
        {
            RuleFor(x => x.Signature).NotEmpty().Matches("^0x[0-9a-fA-F]{130}$").WithMessage("'Signature' must be 0x and 65 bytes of hex (r || s || v).").WithErrorCode("signature");
        }
    }
}

/// <summary>Ids: a type prefix and a time-ordered GUID (version 7), e.g. <c>req_0197...</c>.</summary>
public static class Ids
{
    public static string New(string prefix, TimeProvider clock) => $"{prefix}_{Guid.CreateVersion7(clock.GetUtcNow()):N}";
}

public static class Policies
{
    public const string Dso = "dso";
    public const string Cpo = "cpo";
    public const string Operator = "operator";

    /// <summary>A grid operator: a DSO or a TSO (they own grid nodes).</summary>
    public const string GridOperator = "grid-operator";
}
