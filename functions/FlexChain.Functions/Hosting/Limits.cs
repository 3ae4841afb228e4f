using System.Security.Claims;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;

namespace FlexChain.Functions.Hosting;

/// <summary>
/// The market's limits (section <c>Limits</c>). Each is a setting with the default below; docs/SECURITY.md lists them.
/// Windows are fixed one-minute (registrations: one-hour) windows per partition, answered with 429 and Retry-After.
/// </summary>
public sealed class LimitOptions
{
    /// <summary>Requests per authenticated participant (its API key) per minute.</summary>
    public int RequestsPerParticipantPerMinute { get; set; } = 600;

    /// <summary>Requests per client address per minute, authenticated or not.</summary>
    public int RequestsPerAddressPerMinute { get; set; } = 1200;

    /// <summary>Requests with an API key that does not authenticate, per client address per minute (guessing keys).</summary>
    public int FailedKeysPerAddressPerMinute { get; set; } = 10;

    /// <summary>Anonymous registrations per client address per hour.</summary>
    public int RegistrationsPerAddressPerHour { get; set; } = 10;

    /// <summary>Open event streams (<c>GET /v1/events</c>) per participant at once.</summary>
    public int EventStreamsPerParticipant { get; set; } = 3;

    /// <summary>Stations one bulk registration carries.</summary>
    public int StationsPerCall { get; set; } = 500;

    /// <summary>Blocks one <c>/v1/verify</c> call may scan (from <c>fromBlock</c> to the latest block).</summary>
    public ulong VerifyMaxBlockRange { get; set; } = 100_000;
}

/// <summary>The ASP.NET Core rate limiter with the market's limits: a global chain per address, per participant and per wrong key, and two endpoint policies.</summary>
public static class RateLimits
{
    public const string Registration = "registration";
    public const string EventStream = "event-stream";

    public static IServiceCollection AddMarketRateLimits(this IServiceCollection services)
    {
        services.AddOptions<LimitOptions>().BindConfiguration("Limits")
            .Validate(o => o.RequestsPerParticipantPerMinute > 0 && o.RequestsPerAddressPerMinute > 0 && o.FailedKeysPerAddressPerMinute > 0
                && o.RegistrationsPerAddressPerHour > 0 && o.EventStreamsPerParticipant > 0 && o.StationsPerCall > 0
                && o.VerifyMaxBlockRange > 0, "Every Limits setting must be positive.")
            .ValidateOnStart();
        services.AddRateLimiter(_ => { });
        services.AddOptions<RateLimiterOptions>().Configure<Microsoft.Extensions.Options.IOptions<LimitOptions>>((o, limits) =>
        {
            var l = limits.Value;
            o.GlobalLimiter = PartitionedRateLimiter.CreateChained(
                PartitionedRateLimiter.Create<HttpContext, string>(http => Window("address:" + Address(http), l.RequestsPerAddressPerMinute, TimeSpan.FromMinutes(1))),
                PartitionedRateLimiter.Create<HttpContext, string>(http => Participant(http) is { } id
                    ? Window("participant:" + id, l.RequestsPerParticipantPerMinute, TimeSpan.FromMinutes(1))
                    : RateLimitPartition.GetNoLimiter("anonymous")),
                // A key was sent but did not authenticate: someone guessing keys (or a client with a revoked one).
                PartitionedRateLimiter.Create<HttpContext, string>(http => http.Request.Headers.ContainsKey(Auth.ApiKeys.Header) && Participant(http) is null
                    ? Window("badkey:" + Address(http), l.FailedKeysPerAddressPerMinute, TimeSpan.FromMinutes(1))
                    : RateLimitPartition.GetNoLimiter("key-ok")));
            o.AddPolicy(Registration, http => Window("registration:" + Address(http), l.RegistrationsPerAddressPerHour, TimeSpan.FromHours(1)));
            o.AddPolicy(EventStream, http => RateLimitPartition.GetConcurrencyLimiter(Participant(http) ?? "anonymous",
                _ => new ConcurrencyLimiterOptions { PermitLimit = l.EventStreamsPerParticipant, QueueLimit = 0 }));
            o.OnRejected = RejectAsync;
        });
        return services;
    }

    private static RateLimitPartition<string> Window(string key, int permits, TimeSpan window) =>
        RateLimitPartition.GetFixedWindowLimiter(key, _ => new FixedWindowRateLimiterOptions { PermitLimit = permits, Window = window, QueueLimit = 0 });

    private static string? Participant(HttpContext http) => http.User.Identity?.IsAuthenticated == true ? http.User.FindFirstValue(ClaimTypes.NameIdentifier) : null;

    /// <summary>The client's address (under the Functions host, the one its front end forwarded; see Program).</summary>
    private static string Address(HttpContext http) => http.Connection.RemoteIpAddress?.ToString() ?? "unknown";

    private static async ValueTask RejectAsync(OnRejectedContext context, CancellationToken cancellationToken)
    {
        var http = context.HttpContext;
        // Concurrency limits (event streams) carry no retry time: a stream slot frees when a stream closes.
        var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)) : 5;
        http.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        http.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var field = Participant(http) is null ? "client" : Auth.ApiKeys.Header;
        await http.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            ProblemDetails = new Microsoft.AspNetCore.Mvc.ProblemDetails
            {
                Status = 429, Title = Api.Problems.TitleFor(429),
                Detail = $"A rate limit was reached; retry after {retryAfter} s. The limits are listed in docs/SECURITY.md.",
                Extensions = { ["field"] = field, ["rule"] = "rate-limit" },
            },
        });
    }
}
