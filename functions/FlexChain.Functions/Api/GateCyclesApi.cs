using FlexChain.Domain;
using FlexChain.Functions.Storage;
using FlexChain.Verification;
using Microsoft.AspNetCore.Http.HttpResults;

namespace FlexChain.Functions.Api;

/// <summary>
/// Gate cycles as the market sees them: state, the history of every transition and checkpoint with its time and
/// cause, the member requests, and the escrow batches with their on-chain ids and transactions. Readable by every
/// participant: a cycle holds no offer (offers stay sealed on their requests), and its batches are public on chain.
/// </summary>
public static class GateCyclesApi
{
    public static RouteGroupBuilder MapGateCyclesApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/v1").WithTags("Gate cycles").RequireAuthorization();
        group.MapGet("/gate-cycles/{id}", GetGateCycle);
        group.MapPost("/gate-cycles/{id}/resume", ResumeGateCycle).RequireAuthorization(Policies.Operator);
        return group;
    }

    /// <summary>One gate cycle (its id is <c>gc-yyyyMMddTHHmmssZ</c> of its closing time; a request names its cycle in <c>gateCycleId</c>).</summary>
    public static async Task<Results<Ok<GateCycleResponse>, NotFound>> GetGateCycle(
        string id, MarketStore store, Gates.GateCycleHub hub, CancellationToken cancellationToken)
    {
        if (!GateCycle.IsCycleId(id) || await store.GetGateCycleAsync(id, cancellationToken) is not { } stored) return TypedResults.NotFound();
        return TypedResults.Ok(await ResponseAsync(stored.Value, store, hub, cancellationToken));
    }

    /// <summary>
    /// The market operator resumes a gate cycle that stopped because a step kept failing (<c>needsAttention</c>): its
    /// step is tried again at once. 409 <c>not-needs-attention</c> when the cycle is running.
    /// </summary>
    public static async Task<Results<Ok<GateCycleResponse>, NotFound>> ResumeGateCycle(
        string id, MarketStore store, Gates.GateCycleRunner runner, Gates.GateCycleHub hub, TimeProvider clock, CancellationToken cancellationToken)
    {
        if (!GateCycle.IsCycleId(id) || await runner.ResumeAsync(id, clock.GetUtcNow(), cancellationToken) is not { } cycle) return TypedResults.NotFound();
        return TypedResults.Ok(await ResponseAsync(cycle, store, hub, cancellationToken));
    }

    private static async Task<GateCycleResponse> ResponseAsync(GateCycle c, MarketStore store, Gates.GateCycleHub hub, CancellationToken cancellationToken)
    {
        var orchestration = await hub.GetStateAsync(c.Id);
        return new GateCycleResponse(c.Id, c.ClosesAt, c.State.ToString(),
            await store.GetGateCycleMembersAsync(c.Id, cancellationToken),
            c.Batches.Select(b => new EscrowBatchResponse(b.Number, b.Key, EscrowIds.Cycle(b.Key).ToString(), b.DsoId, b.DeliveryEnd, b.Awards.Count,
                b.LockTransaction, b.SettleTransaction, b.FundingFailure, b.Unpaid)).ToList(),
            c.History.Select(e => new GateCycleEventResponse(e.At, e.From.ToString(), e.To.ToString(), e.Cause)).ToList(),
            c.Attention is { } a ? new NeedsAttentionResponse(a.Step, a.Reason, a.Since) : null,
            orchestration is null ? null : new OrchestrationResponse(orchestration.OrchestrationStatus.ToString(),
                new DateTimeOffset(DateTime.SpecifyKind(orchestration.CreatedTime, DateTimeKind.Utc)),
                new DateTimeOffset(DateTime.SpecifyKind(orchestration.LastUpdatedTime, DateTimeKind.Utc))));
    }
}

/// <summary>
/// A gate cycle: closing time, state, member requests, escrow batches, history (oldest first), why it waits for the
/// market operator (if it does) and its orchestration's runtime status.
/// </summary>
public sealed record GateCycleResponse(
    string Id, DateTimeOffset ClosesAt, string State, IReadOnlyList<string> RequestIds, IReadOnlyList<EscrowBatchResponse> EscrowBatches,
    IReadOnlyList<GateCycleEventResponse> History, NeedsAttentionResponse? NeedsAttention, OrchestrationResponse? Orchestration);

/// <summary>Why a gate cycle stopped: the step that kept failing, its last failure and since when.</summary>
public sealed record NeedsAttentionResponse(string Step, string Reason, DateTimeOffset Since);

/// <summary>The cycle's durable orchestration as the Durable Task Framework reports it.</summary>
public sealed record OrchestrationResponse(string RuntimeStatus, DateTimeOffset CreatedAt, DateTimeOffset LastUpdatedAt);

/// <summary>
/// An escrow batch: its key, the escrow cycle id derived from it, the DSO, the delivery end, the award count, the chain
/// transactions, and why it was not funded or not paid (if so).
/// </summary>
public sealed record EscrowBatchResponse(
    int Number, string Key, string EscrowCycleId, string DsoId, DateTimeOffset DeliveryEnd, int AwardCount, string? LockTransactionHash,
    string? SettleTransactionHash, string? FundingFailure, string? Unpaid);

/// <summary>One transition (from differs from to) or checkpoint (they are equal) with its time and cause.</summary>
public sealed record GateCycleEventResponse(DateTimeOffset At, string From, string To, string Cause);
