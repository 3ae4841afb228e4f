using Microsoft.Extensions.FileProviders;

namespace FlexChain.Functions.Hosting;

/// <summary>
/// The web dashboard: the static files web/build.mjs bundles into the app's <c>dashboard</c> folder, served at
/// <c>/app/</c> (the <c>Dashboard</c> function's route under the Functions host) with their content types, ETags and
/// <c>Cache-Control: no-cache</c> (revalidated on every load, so a deployment is seen at once), under
/// <see cref="ContentSecurityPolicy"/>. The dashboard uses only the public API, like any other client.
/// </summary>
public static class Dashboard
{
    /// <summary>The path the dashboard is served under.</summary>
    public const string Path = "/app";

    /// <summary>
    /// The dashboard's policy: its own scripts and styles only (no inline script, nothing from other origins), and
    /// connections to this app and to any http(s) node the wallet holder chooses to verify payments against (the
    /// verification's point is to trust a node of the holder's choice, not ours). The API keeps its stricter policy.
    /// </summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' http: https:; " +
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

    /// <summary>Whether a request is for the dashboard.</summary>
    public static bool IsDashboard(HttpRequest request) => request.Path.StartsWithSegments(Path);

    /// <summary>Serves the bundle from <c>{app folder}/dashboard</c>; without a bundle (web/build.mjs not run) <c>/app/</c> is a 404 problem like any unknown path.</summary>
    public static void UseDashboard(this WebApplication app)
    {
        var root = System.IO.Path.Combine(AppContext.BaseDirectory, "dashboard");
        if (!Directory.Exists(root)) return;
        var files = new PhysicalFileProvider(root);
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = files, RequestPath = Path });
        app.UseStaticFiles(new StaticFileOptions
        {
            FileProvider = files, RequestPath = Path,
            OnPrepareResponse = file => file.Context.Response.Headers.CacheControl = "no-cache",
        });
    }
}
