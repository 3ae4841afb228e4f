using FlexChain.Domain;
using FlexChain.Functions.Auth;
using FlexChain.Functions.Storage;
using FluentValidation;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FlexChain.Functions.Api;

/// <summary>
/// TSO-DSO coordination: the coordination model of a market area (the grid below a top HV/MV substation), which decides
/// whether the DSOs' or the TSO's requests of one gate cycle clear first (DOMAIN.md section 7).
/// </summary>
public static class TsoApi
{
    public static RouteGroupBuilder MapTsoApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1/grid/nodes/{id}/coordination").WithTags("Grid").RequireAuthorization();
        group.MapPut("/", PutCoordination).Validate<PutCoordinationRequest>().RequireAuthorization(Policies.GridOperator);
        group.MapGet("/", GetCoordination);
        return group;
    }

    /// <summary>Sets the model of the area below the caller's top node; gate cycles clearing from then on follow it.</summary>
    public static async Task<Results<Ok<CoordinationResponse>, NotFound>> PutCoordination(
        string id, PutCoordinationRequest body, HttpContext http, MarketStore store, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (await store.GetGridNodeAsync(id, cancellationToken) is not { } node) return TypedResults.NotFound();
        CoordinationArea.RequireSettable(node, http.User.ParticipantId());
        var setting = new CoordinationSetting(node.Id, Enum.Parse<CoordinationModel>(body.Model!, ignoreCase: true), http.User.ParticipantId(), clock.GetUtcNow());
        await store.PutCoordinationAsync(setting, cancellationToken);
        return TypedResults.Ok(CoordinationResponse.From(setting));
    }

    /// <summary>The model of the market area below a top node (<c>Separate</c>, with no <c>updatedAt</c>, until its owner sets one).</summary>
    public static async Task<Results<Ok<CoordinationResponse>, NotFound>> GetCoordination(string id, MarketStore store, CancellationToken cancellationToken)
    {
        if (await store.GetGridNodeAsync(id, cancellationToken) is not { } node) return TypedResults.NotFound();
        var setting = await store.GetCoordinationAsync(node.Id, cancellationToken);
        return TypedResults.Ok(setting is null ? new CoordinationResponse(node.Id, nameof(CoordinationModel.Separate), null) : CoordinationResponse.From(setting));
    }

    public sealed class CoordinationValidator : AbstractValidator<PutCoordinationRequest>
    {
        public CoordinationValidator() => RuleFor(x => x.Model).NotEmpty().EnumName<PutCoordinationRequest, CoordinationModel>();
    }
}

public sealed record PutCoordinationRequest(string? Model);

public sealed record CoordinationResponse(string NodeId, string Model, DateTimeOffset? UpdatedAt)
{
    public static CoordinationResponse From(CoordinationSetting s) => new(s.NodeId, s.Model.ToString(), s.UpdatedAt);
}
