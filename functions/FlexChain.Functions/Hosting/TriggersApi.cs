using System.Text.Json;
using System.Text.Json.Serialization;
using FlexChain.Functions.Gates;

namespace FlexChain.Functions.Hosting;

/// <summary>The Azure Functions custom-handler invocation request: binding data by binding name, and trigger metadata.</summary>
public sealed record InvocationRequest(
    [property: JsonPropertyName("Data")] IReadOnlyDictionary<string, JsonElement>? Data,
    [property: JsonPropertyName("Metadata")] IReadOnlyDictionary<string, JsonElement>? Metadata);

/// <summary>The custom-handler invocation response: output bindings, log lines for the host, and the return value.</summary>
public sealed record InvocationResponse(
    [property: JsonPropertyName("Outputs")] IReadOnlyDictionary<string, object?> Outputs,
    [property: JsonPropertyName("Logs")] IReadOnlyList<string> Logs,
    [property: JsonPropertyName("ReturnValue")] object? ReturnValue);

/// <summary>
/// Non-HTTP triggers. In Azure the Functions host posts each invocation to <c>/{FunctionName}</c>; these paths are
/// outside the forwarded public route (<c>v1/{*route}</c>), so only the host reaches them. Locally,
/// <see cref="LocalTriggerDriver"/> calls the same handlers on the schedules in the function.json files.
/// </summary>
public static class TriggersApi
{
    /// <summary>Trigger handlers by function name; each returns the log lines it wants the host to record.</summary>
    public static readonly IReadOnlyDictionary<string, Func<IServiceProvider, InvocationRequest, CancellationToken, Task<IReadOnlyList<string>>>> Handlers =
        new Dictionary<string, Func<IServiceProvider, InvocationRequest, CancellationToken, Task<IReadOnlyList<string>>>>
        {
            ["GateTick"] = GateTickAsync,
            ["RequestEvents"] = RequestEventsAsync,
            ["Retention"] = RetentionAsync,
        };

    /// <summary>The binding name of the message in a queue trigger's invocation (<c>"name"</c> in its function.json).</summary>
    public const string MessageBinding = "msg";

    public static IEndpointRouteBuilder MapTriggersApi(this IEndpointRouteBuilder app)
    {
        foreach (var (name, handler) in Handlers)
            app.MapPost("/" + name, async (InvocationRequest invocation, HttpContext http, CancellationToken cancellationToken) =>
                TypedResults.Ok(new InvocationResponse(new Dictionary<string, object?>(), await handler(http.RequestServices, invocation, cancellationToken), null)))
                .ExcludeFromDescription();
        return app;
    }

    /// <summary>The invocation a queue trigger makes for a message: its body under <see cref="MessageBinding"/>, as the host sends it (a JSON string).</summary>
    public static InvocationRequest ForMessage(string body) =>
        new(new Dictionary<string, JsonElement> { [MessageBinding] = JsonSerializer.SerializeToElement(body) }, null);

    private static async Task<IReadOnlyList<string>> RequestEventsAsync(IServiceProvider services, InvocationRequest invocation, CancellationToken cancellationToken)
    {
        var body = invocation.Data?.GetValueOrDefault(MessageBinding) is { ValueKind: not JsonValueKind.Undefined } msg
            ? msg.ValueKind == JsonValueKind.String ? msg.GetString()! : msg.GetRawText()
            : throw new FormatException($"the invocation carries no '{MessageBinding}' binding");
        return [await services.GetRequiredService<RequestEvents>().HandleAsync(body, cancellationToken)];
    }

    private static async Task<IReadOnlyList<string>> RetentionAsync(IServiceProvider services, InvocationRequest invocation, CancellationToken cancellationToken) =>
        [$"retention: {await services.GetRequiredService<Retention.RetentionSweeper>().SweepAsync(cancellationToken)}"];

    private static async Task<IReadOnlyList<string>> GateTickAsync(IServiceProvider services, InvocationRequest invocation, CancellationToken cancellationToken)
    {
        var now = services.GetRequiredService<TimeProvider>().GetUtcNow();
        var unfinished = await services.GetRequiredService<GateCycleRunner>().EnsureOrchestrationsAsync(now, cancellationToken);
        var availability = await services.GetRequiredService<AvailabilityGate>().TickAsync(now, cancellationToken);
        return [$"gate tick at {now:O}: {unfinished} unfinished gate cycle(s), each with its orchestration; {availability} availability request(s) cleared"];
    }
}
