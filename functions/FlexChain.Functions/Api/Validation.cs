using FlexChain.Domain;
using FluentValidation;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace FlexChain.Functions.Api;

/// <summary>Runs the request type's FluentValidation validator and answers 400 with a validation problem naming each field.</summary>
public sealed class ValidationFilter<T>(IValidator<T> validator) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var body = context.Arguments.OfType<T>().FirstOrDefault();
        if (body is null)
            return TypedResults.Problem(statusCode: 400, title: "A JSON body is required.");
        var result = await validator.ValidateAsync(body, context.HttpContext.RequestAborted);
        if (!result.IsValid)
            return TypedResults.ValidationProblem(result.ToDictionary(), title: "The request is invalid.");
        return await next(context);
    }
}

public static class ValidationExtensions
{
    public static RouteHandlerBuilder Validate<T>(this RouteHandlerBuilder builder) => builder.AddEndpointFilter<ValidationFilter<T>>();

    /// <summary>Decimal with at most <paramref name="scale"/> decimals, greater than zero and at most <paramref name="max"/>.</summary>
    public static IRuleBuilderOptions<T, decimal?> PositiveQuantity<T>(this IRuleBuilder<T, decimal?> rule, int scale, decimal max) =>
        rule.NotNull().GreaterThan(0m).LessThanOrEqualTo(max).PrecisionScale(18, scale, ignoreTrailingZeros: true);

    public static IRuleBuilderOptions<T, DateTimeOffset?> Utc<T>(this IRuleBuilder<T, DateTimeOffset?> rule) =>
        rule.NotNull().Must(t => t!.Value.Offset == TimeSpan.Zero).WithMessage("'{PropertyName}' must be a UTC time (ending in Z or +00:00).")
            .Must(t => t!.Value.Year is >= 2000 and <= 2200).WithMessage("'{PropertyName}' must be between the years 2000 and 2200.");

    public static IRuleBuilderOptions<T, string?> Id<T>(this IRuleBuilder<T, string?> rule) =>
        rule.NotEmpty().MaximumLength(64).Matches("^[a-z]+_[0-9a-f]{32}$").WithMessage("'{PropertyName}' is not a FlexChain id.");
}

/// <summary>Maps market-rule violations and malformed bodies to RFC 7807 problems; anything else stays a 500.</summary>
public sealed class ProblemExceptionHandler(IProblemDetailsService problems) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
    {
        ProblemDetails? problem = exception switch
        {
            DomainException d => new ProblemDetails
            {
                Status = d.Rule is "illegal-transition" or "gate-closed" ? 409 : 422,
                Title = "The request breaks a market rule.",
                Detail = d.Message,
                Extensions = { ["field"] = d.Field, ["rule"] = d.Rule },
            },
            BadHttpRequestException b => new ProblemDetails
            {
                Status = b.StatusCode,
                Title = "The request body could not be read.",
                Detail = (b.InnerException as System.Text.Json.JsonException)?.Message ?? b.Message,
                Extensions = { ["field"] = (b.InnerException as System.Text.Json.JsonException)?.Path ?? "body", ["rule"] = "json" },
            },
            _ => null,
        };
        if (problem is null) return false;
        context.Response.StatusCode = problem.Status!.Value;
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem, Exception = exception });
    }
}
