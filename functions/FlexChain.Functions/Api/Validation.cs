using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using FlexChain.Domain;
using FluentValidation;
using FluentValidation.Results;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace FlexChain.Functions.Api;

/// <summary>
/// Runs the request type's FluentValidation validator and answers 400 with a validation problem: <c>errors</c> by
/// field (camelCase JSON paths such as <c>readings[0].energyKwh</c>), and <c>field</c> and <c>rule</c> of the first
/// violation, so every rejection names a field and a rule.
/// </summary>
public sealed class ValidationFilter<T>(IValidator<T> validator) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var body = context.Arguments.OfType<T>().FirstOrDefault();
        if (body is null)
            return Problems.Create(400, "body", "required", Problems.BodyRequired);
        var result = await validator.ValidateAsync(body, context.HttpContext.RequestAborted);
        return result.IsValid ? await next(context) : Problems.Validation(result.Errors);
    }
}

/// <summary>RFC 7807 problem bodies with the <c>field</c> and <c>rule</c> extensions every rejection carries.</summary>
public static partial class Problems
{
    /// <summary>The detail of a missing body (none, or JSON <c>null</c>): field <c>body</c>, rule <c>required</c>.</summary>
    public const string BodyRequired = "The body must be a JSON object; none was sent (or it was null).";

    public static ProblemHttpResult Create(int status, string field, string rule, string detail, string? title = null) =>
        TypedResults.Problem(statusCode: status, title: title ?? TitleFor(status), detail: detail,
            extensions: new Dictionary<string, object?> { ["field"] = field, ["rule"] = rule });

    public static ValidationProblem Validation(IEnumerable<ValidationFailure> failures)
    {
        var list = failures.ToList();
        var errors = list.GroupBy(f => JsonPath(f.PropertyName)).ToDictionary(g => g.Key, g => g.Select(f => f.ErrorMessage).ToArray());
        var first = list[0];
        return TypedResults.ValidationProblem(errors, title: "The request is invalid.", extensions: new Dictionary<string, object?>
        {
            ["field"] = JsonPath(first.PropertyName),
            ["rule"] = Rule(first.ErrorCode),
            ["violations"] = list.Select(f => new { field = JsonPath(f.PropertyName), rule = Rule(f.ErrorCode), message = f.ErrorMessage }).ToList(),
        });
    }

    public static string TitleFor(int status) => status switch
    {
        400 => "The request is invalid.",
        401 => "Authentication is required.",
        403 => "Your role may not do this.",
        404 => "Not found.",
        409 => "The request conflicts with the current state.",
        412 => "The resource changed since you read it.",
        413 => "The request body is too large.",
        415 => "Unsupported content type.",
        422 => "The request breaks a market rule.",
        429 => "Too many requests.",
        _ => "The request failed.",
    };

    /// <summary>Adds <c>field</c> and <c>rule</c> to problems written by the framework (authentication, authorization, routing).</summary>
    public static void CompleteFrameworkProblem(ProblemDetailsContext context)
    {
        var extensions = context.ProblemDetails.Extensions;
        if (extensions.ContainsKey("field")) return;
        var (field, rule, detail) = context.ProblemDetails.Status switch
        {
            401 => ("X-Api-Key", "authentication", "Send a valid API key in the X-Api-Key header."),
            403 => ("X-Api-Key", "role", "Your role may not call this endpoint."),
            404 => ("path", "not-found", "No such resource, or it is not visible to you."),
            405 => ("method", "method", "This HTTP method is not supported here."),
            413 => ("body", "body-size", "The request body, decompressed if it was compressed, is larger than this endpoint's limit."),
            _ => ("body", "invalid", context.ProblemDetails.Detail),
        };
        extensions["field"] = field;
        extensions["rule"] = rule;
        context.ProblemDetails.Title ??= TitleFor(context.ProblemDetails.Status ?? 400);
        context.ProblemDetails.Detail ??= detail;
    }

    /// <summary><c>Readings[0].EnergyKwh</c> -> <c>readings[0].energyKwh</c>: the field as it appears in the JSON body.</summary>
    public static string JsonPath(string propertyName) =>
        string.Join('.', propertyName.Split('.').Select(p => p.Length == 0 ? p : char.ToLowerInvariant(p[0]) + p[1..]));

    /// <summary>A FluentValidation error code as a rule name: <c>GreaterThanValidator</c> -> <c>greater-than</c>; custom codes pass through.</summary>
    public static string Rule(string? errorCode)
    {
        if (string.IsNullOrEmpty(errorCode)) return "invalid";
        if (!errorCode.EndsWith("Validator", StringComparison.Ordinal)) return errorCode;
        var name = errorCode[..^"Validator".Length] switch { "Predicate" or "AsyncPredicate" => "invalid", var n => n };
        return Kebab().Replace(name, "$1-$2").ToLowerInvariant();
    }

    [GeneratedRegex("([a-z])([A-Z])")]
    private static partial Regex Kebab();
}

public static partial class ValidationExtensions
{
    public static RouteHandlerBuilder Validate<T>(this RouteHandlerBuilder builder) => builder.AddEndpointFilter<ValidationFilter<T>>();

    /// <summary>Decimal with at most <paramref name="scale"/> decimals, greater than zero and at most <paramref name="max"/>.</summary>
    public static IRuleBuilderOptions<T, decimal?> PositiveQuantity<T>(this IRuleBuilder<T, decimal?> rule, int scale, decimal max) =>
        rule.NotNull().GreaterThan(0m).LessThanOrEqualTo(max).PrecisionScale(18, scale, ignoreTrailingZeros: true);

    /// <summary>The most values a profile may have: a day (the longest window) of 1-minute intervals.</summary>
    public const int MaxProfileValues = 1440;

    /// <summary>A profile (kW per market interval), when given: not empty, at most <see cref="MaxProfileValues"/> values.</summary>
    public static IRuleBuilderOptions<T, IReadOnlyList<decimal>?> Profile<T>(this IRuleBuilder<T, IReadOnlyList<decimal>?> rule) =>
        rule.Must(p => p is null || p.Count is > 0 and <= MaxProfileValues)
            .WithMessage($"'Profile Kw' must have one value per market interval of the window (1 to {MaxProfileValues}).").WithErrorCode("profile");

    /// <summary>One profile value: kW, zero or more, at most 100,000, to the watt.</summary>
    public static IRuleBuilderOptions<T, decimal> ProfileValue<T>(this IRuleBuilder<T, decimal> rule) =>
        rule.GreaterThanOrEqualTo(0m).LessThanOrEqualTo(100_000m).PrecisionScale(18, 3, ignoreTrailingZeros: true);

    /// <summary>Decimal with at most <paramref name="scale"/> decimals, zero or more and at most <paramref name="max"/>.</summary>
    public static IRuleBuilderOptions<T, decimal?> NonNegativeQuantity<T>(this IRuleBuilder<T, decimal?> rule, int scale, decimal max) =>
        rule.NotNull().GreaterThanOrEqualTo(0m).LessThanOrEqualTo(max).PrecisionScale(18, scale, ignoreTrailingZeros: true);

    /// <summary>A required time between the years 2000 and 2200 (that it was written as UTC the body's <see cref="UtcTimeConverter"/> checks).</summary>
    public static IRuleBuilderOptions<T, DateTimeOffset?> Utc<T>(this IRuleBuilder<T, DateTimeOffset?> rule) =>
        rule.NotNull().Must(t => t!.Value.Year is >= 2000 and <= 2200).WithMessage("'{PropertyName}' must be between the years 2000 and 2200.").WithErrorCode("time-range");

    public static IRuleBuilderOptions<T, string?> Id<T>(this IRuleBuilder<T, string?> rule) =>
        rule.NotEmpty().MaximumLength(64).Matches("^[a-z]+_[0-9a-f]{32}$").WithMessage("'{PropertyName}' is not a FlexChain id.").WithErrorCode("id");

    /// <summary>
    /// Printable text, 1 to <paramref name="max"/> characters, without control or format characters: bidirectional
    /// overrides and zero-width characters (Unicode category Cf) make a name display as another one.
    /// </summary>
    public static IRuleBuilderOptions<T, string?> Text<T>(this IRuleBuilder<T, string?> rule, int max) =>
        rule.NotEmpty().MaximumLength(max)
            .Must(s => s is null || !s.Any(c => char.IsControl(c) || char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.Format))
            .WithMessage("'{PropertyName}' must not contain control, bidirectional-override or zero-width characters.").WithErrorCode("text");

    /// <summary>A required point on the earth: latitude -90..90 and longitude -180..180 degrees, at most 7 decimals.</summary>
    public static IRuleBuilderOptions<T, LocationItem?> Location<T>(this IRuleBuilder<T, LocationItem?> rule) =>
        rule.NotNull().ChildRules(l =>
        {
            l.RuleFor(x => x!.Latitude).NotNull().InclusiveBetween(-90m, 90m).PrecisionScale(12, 7, true);
            l.RuleFor(x => x!.Longitude).NotNull().InclusiveBetween(-180m, 180m).PrecisionScale(12, 7, true);
        });

    /// <summary>An enum given by name (never by number), or null when optional.</summary>
    public static IRuleBuilderOptions<T, string?> EnumName<T, TEnum>(this IRuleBuilder<T, string?> rule) where TEnum : struct, Enum =>
        rule.Must(v => v is null || Enum.TryParse<TEnum>(v, true, out var e) && Enum.IsDefined(e) && !v.Any(char.IsDigit))
            .WithMessage($"'{{PropertyName}}' must be one of {string.Join(", ", Enum.GetNames<TEnum>())}.").WithErrorCode("enum");

    public static TEnum ParseEnum<TEnum>(string? value, TEnum fallback) where TEnum : struct, Enum =>
        value is null ? fallback : Enum.Parse<TEnum>(value, ignoreCase: true);
}

/// <summary>
/// Reads every time of a request body as UTC written as such, ISO 8601 ending in <c>Z</c> or <c>+00:00</c>, whatever the
/// host's time zone: a time without an offset would be taken in the host's zone (one body, different instants on
/// different hosts), so it is refused like any other offset, with <see cref="UtcTimeException"/> (400, rule <c>utc</c>).
/// Writes times as the serializer does by default.
/// </summary>
public sealed class UtcTimeConverter : JsonConverter<DateTimeOffset>
{
    public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        var time = reader.GetDateTimeOffset();
        return time.Offset == TimeSpan.Zero && IsWrittenWithOffset(reader.GetString()!) ? time : throw new UtcTimeException();
    }

    public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) => writer.WriteStringValue(value);

    /// <summary>Whether ISO 8601 <paramref name="text"/> carries its offset (<c>Z</c> or <c>±hh:mm</c>) instead of leaving it to the host's time zone.</summary>
    public static bool IsWrittenWithOffset(string text) =>
        DateTime.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var t) && t.Kind != DateTimeKind.Unspecified;
}

/// <summary>A body's time that is not written as UTC (see <see cref="UtcTimeConverter"/>).</summary>
public sealed class UtcTimeException() : JsonException("A time must be UTC: ISO 8601 ending in Z or +00:00.");

/// <summary>Maps market-rule violations, bad inputs and malformed bodies to RFC 7807 problems; anything else stays a 500.</summary>
public sealed partial class ProblemExceptionHandler(IProblemDetailsService problems) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        ProblemDetails? problem = exception switch
        {
            // Acting on another participant's resource (own-transformer, own-station, own-request) is forbidden, not invalid.
            DomainException d => Build(d.Rule switch
            {
                "illegal-transition" or "gate-closed" or "not-needs-attention" => 409,
                _ when d.Rule.StartsWith("own-", StringComparison.Ordinal) => 403,
                _ => 422,
            }, d.Field, d.Rule, d.Message),
            ApiProblemException a => Build(a.Status, a.Field, a.Rule, a.Message),
            // A record too large for Azure Table storage: refused whole before anything was written.
            FlexChain.Storage.TableLimitException t => Build(413, "body", "storage-limit", "The record is too large to store: " + t.Message),
            BadHttpRequestException { InnerException: UtcTimeException u } b =>
                Build(b.StatusCode, JsonField(u), "utc", $"'{JsonField(u)}' must be a UTC time (ending in Z or +00:00).", "The request body could not be read."),
            BadHttpRequestException { InnerException: JsonException j } b =>
                Build(b.StatusCode, JsonField(j), "json", j.Message, "The request body could not be read."),
            // The framework's own words for an empty or null body are a developer's hint; say what the client must send.
            BadHttpRequestException b when NoBody().IsMatch(b.Message) => Build(400, "body", "required", Problems.BodyRequired),
            BadHttpRequestException b => Build(b.StatusCode, BoundField(b.Message), b.StatusCode switch
            {
                413 => "body-size",
                415 => "content-type",
                _ => BoundField(b.Message) == "body" ? "json" : "binding",
            }, b.Message),
            // Not connected to the chain yet (or refused: another chain id); /v1/health says which.
            FlexChain.Functions.Settlement.ChainUnavailableException c => Build(503, "chain", "chain-unavailable", c.Message, "Service unavailable."),
            // Storage or chain unreachable (after the client's own retries): the request may be retried as it is.
            _ when IsUnavailable(exception) => Build(503, "service", "unavailable",
                "Storage or the chain node is unreachable right now. Retry shortly; with the same Idempotency-Key a retry never creates a duplicate.",
                "Service unavailable."),
            _ => null,
        };
        if (problem is null) return false;
        context.Response.StatusCode = problem.Status!.Value;
        if (problem.Status == 503) context.Response.Headers.RetryAfter = "5";
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem, Exception = exception });
    }

    /// <summary>Whether <paramref name="e"/> says a backing service could not be reached or failed on its side (Azure.Core
    /// throws an AggregateException of the attempts once its retries are spent).</summary>
    private static bool IsUnavailable(Exception e) => e switch
    {
        Azure.RequestFailedException r => r.Status is 0 or >= 500,
        HttpRequestException => true,
        AggregateException a => a.InnerExceptions.Count > 0 && a.InnerExceptions.All(IsUnavailable),
        _ => false,
    };

    private static ProblemDetails Build(int status, string field, string rule, string detail, string? title = null) => new()
    {
        Status = status,
        Title = title ?? Problems.TitleFor(status),
        Detail = detail,
        Extensions = { ["field"] = field, ["rule"] = rule },
    };

    /// <summary>The body's field a JSON error is at (<c>$.readings[0].start</c> -> <c>readings[0].start</c>), or <c>body</c>.</summary>
    private static string JsonField(JsonException j) => string.IsNullOrEmpty(j.Path) || j.Path == "$" ? "body" : j.Path.TrimStart('$', '.');

    /// <summary>The parameter named in a binding failure (<c>Failed to bind parameter "int? limit" from "x".</c>), else <c>body</c>.</summary>
    private static string BoundField(string message) => BoundParameter().Match(message) is { Success: true } m ? m.Groups[1].Value : "body";

    [GeneratedRegex("parameter \"(?:[^\"]* )?([A-Za-z0-9_]+)\"")]
    private static partial Regex BoundParameter();

    /// <summary>ASP.NET's messages for a body parameter with no body (<c>Implicit body inferred for parameter "body" but no body
    /// was provided</c>, <c>Required parameter "T body" was not provided from body</c>).</summary>
    [GeneratedRegex("no body was provided|was not provided from body")]
    private static partial Regex NoBody();
}
