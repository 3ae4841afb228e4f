namespace FlexChain.Functions.Hosting;

/// <summary>
/// Headers on every response: no content-type sniffing, a content security policy that lets nothing load or frame
/// the API's answers (the dashboard's pages get <see cref="Dashboard.ContentSecurityPolicy"/>), and <c>Cache-Control: no-store</c> on
/// the answers of endpoints marked <see cref="SecurityHeaderExtensions.CarriesSecret"/> (an API key or a webhook secret).
/// Kestrel's <c>Server</c> header is switched off in Program.
/// </summary>
public sealed class SecurityHeadersMiddleware(RequestDelegate next)
{
    public const string ContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

    public Task InvokeAsync(HttpContext context)
    {
        context.Response.OnStarting(() =>
        {
            var headers = context.Response.Headers;
            headers.XContentTypeOptions = "nosniff";
            headers.ContentSecurityPolicy = Dashboard.IsDashboard(context.Request) ? Dashboard.ContentSecurityPolicy : ContentSecurityPolicy;
            headers.Remove("Server");
            if (context.GetEndpoint()?.Metadata.GetMetadata<CarriesSecretMarker>() is not null) headers.CacheControl = "no-store";
            return Task.CompletedTask;
        });
        return next(context);
    }
}

/// <summary>Endpoint metadata: the answer carries a key or secret and must never be cached.</summary>
public sealed class CarriesSecretMarker;

public static class SecurityHeaderExtensions
{
    /// <summary>Marks an endpoint whose answer carries a key or secret: it is sent with <c>Cache-Control: no-store</c>.</summary>
    public static RouteHandlerBuilder CarriesSecret(this RouteHandlerBuilder builder) => builder.WithMetadata(new CarriesSecretMarker());
}

/// <summary>
/// Refuses route values that can never name a resource: the characters Azure Table storage forbids in keys
/// (<c>/ \ # ?</c> and control characters) and format characters. Such an id is a 404 like any unknown id, answered
/// before it reaches storage (whose refusal would otherwise surface as a 500).
/// </summary>
public sealed class RouteValueGuardMiddleware(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
    {
        foreach (var (name, value) in context.Request.RouteValues)
            if (value is string s && !IsSafeKey(s))
                throw new Api.ApiProblemException(404, name, "not-found", $"No such resource: '{name}' contains characters no FlexChain id has.");
        return next(context);
    }

    /// <summary>Whether <paramref name="value"/> can be a storage key: no <c>/ \ # ?</c>, control or format characters, at most 256 characters.</summary>
    public static bool IsSafeKey(string value) =>
        value.Length <= 256 && !value.Any(c => c is '/' or '\\' or '#' or '?' || char.IsControl(c)
            || char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.Format);
}
