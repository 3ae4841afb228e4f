using System.Diagnostics;
using System.Reflection;
using System.Text.RegularExpressions;
using FlexChain.Testing;

namespace FlexChain.Deployment.Tests;

/// <summary>The Bicep compiler from the Azure.Bicep.CommandLine package, and the templates' text.</summary>
public static partial class Bicep
{
    public static string Folder => Path.Combine(RepoPaths.Root, "infra-bicep");

    /// <summary>The function app module, which holds every app setting.</summary>
    public static string FunctionApp => File.ReadAllText(Path.Combine(Folder, "modules", "functionapp.bicep"));

    /// <summary>The parameter file of each environment.</summary>
    public static TheoryData<string> Environments => new() { "dev", "prod" };

    private static string Executable =>
        typeof(Bicep).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "BicepPath").Value!.Replace('\\', '/');

    /// <summary>Runs the compiler; returns its exit code, standard output and standard error.</summary>
    public static async Task<(int Exit, string Output, string Errors)> RunAsync(params string[] arguments)
    {
        var info = new ProcessStartInfo(Executable) { WorkingDirectory = Folder, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await errors);
    }

    /// <summary>The app settings of the function app module: name and the Bicep expression of its value.</summary>
    public static IReadOnlyDictionary<string, string> AppSettings()
    {
        var text = FunctionApp;
        var start = text.IndexOf("var appSettings = {\n", StringComparison.Ordinal);
        Assert.True(start >= 0, "functionapp.bicep has no 'var appSettings = {' block");
        var end = text.IndexOf("\n}\n", start, StringComparison.Ordinal);
        return SettingLine().Matches(text[start..end]).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value.Trim(), StringComparer.Ordinal);
    }

    [GeneratedRegex(@"^\s+([A-Za-z_][A-Za-z0-9_]*): (.+)$", RegexOptions.Multiline)]
    private static partial Regex SettingLine();
}
