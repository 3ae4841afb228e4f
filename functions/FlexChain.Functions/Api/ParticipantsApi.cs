using FlexChain.Domain;
using FlexChain.Functions.Auth;
using FlexChain.Functions.Storage;
using FluentValidation;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FlexChain.Functions.Api;

/// <summary>Registration of DSOs and CPOs. Registration is open locally; the API key is returned once.</summary>
public static class ParticipantsApi
{
    public static RouteGroupBuilder MapParticipantsApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/participants").WithTags("Participants");
        group.MapPost("/", Register).Validate<RegisterParticipantRequest>().AllowAnonymous();
        group.MapGet("/me", Me).RequireAuthorization();
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
        return TypedResults.Created($"/v1/participants/{id}", new RegisteredParticipantResponse(ToResponse(participant), key));
    }

    public static async Task<Results<Ok<ParticipantResponse>, NotFound>> Me(HttpContext http, MarketStore store, CancellationToken cancellationToken)
    {
        var found = await store.GetParticipantAsync(http.User.ParticipantId(), cancellationToken);
        return found is null ? TypedResults.NotFound() : TypedResults.Ok(ToResponse(found.Value.Participant));
    }

    private static ParticipantResponse ToResponse(Participant p) =>
        new(p.Id, p.Role.ToString(), p.LegalName, p.Contact, p.Wallet.Value, p.RegisteredAt);

    public sealed class Validator : AbstractValidator<RegisterParticipantRequest>
    {
        public Validator()
        {
            RuleFor(x => x.Role).NotEmpty().Must(r => r is not null && (r.Equals("Dso", StringComparison.OrdinalIgnoreCase) || r.Equals("Cpo", StringComparison.OrdinalIgnoreCase)))
                .WithMessage("'Role' must be 'Dso' or 'Cpo'.");
            RuleFor(x => x.LegalName).NotEmpty().MaximumLength(200);
            RuleFor(x => x.Contact).NotEmpty().MaximumLength(200);
            RuleFor(x => x.WalletAddress).NotEmpty().Matches("^0x[0-9a-fA-F]{40}$").WithMessage("'Wallet Address' must be a 0x-prefixed 20-byte hex address.")
                .Must(a => a is null || !a.Substring(2).All(c => c == '0')).WithMessage("'Wallet Address' must not be the zero address.");
        }
    }
}

/// <summary>Ids: a type prefix and a time-ordered GUID (version 7), e.g. <c>req_0197...</c>.</summary>
public static class Ids
{
    public static string New(string prefix, TimeProvider clock) => $"{prefix}_{Guid.CreateVersion7(clock.GetUtcNow()):N}";
}
