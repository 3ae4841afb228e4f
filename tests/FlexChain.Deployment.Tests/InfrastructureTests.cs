using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;
using FlexChain.Functions.Gates;
using FlexChain.Functions.Hosting;
using FlexChain.Testing;

namespace FlexChain.Deployment.Tests;

/// <summary>
/// The Bicep templates in infra-bicep/ against the code: they compile and lint clean for every environment, define
/// every setting the app reads (and none it does not), hold no secret, use no account keys, create every Service Bus
/// queue the functions use, and grant the app's identity exactly the data-plane roles its calls need.
/// </summary>
public sealed partial class InfrastructureTests
{
    /// <summary>Options the app binds that do not apply under the Functions host, each with the reason.</summary>
    private static readonly IReadOnlyDictionary<string, string> NotForAzure = new Dictionary<string, string>
    {
        ["LocalTriggers"] = "the local trigger driver: Program.cs turns it off under the Functions host, which runs the triggers",
        ["DurableTask__WorkerId"] = "per instance: unset, each instance uses its WEBSITE_INSTANCE_ID (one id for all would share queues)",
        ["FaultInjection"] = "crash points and the clock offset for the crash tests only: unset, the app never exits on purpose and keeps the system clock",
    };

    /// <summary>What AzureClients reads in Azure: the identity and the endpoints (its connection-string form is local only).</summary>
    private static readonly string[] IdentityConnections =
        ["AzureClientId", "Storage__AccountName", "ServiceBusConnection__fullyQualifiedNamespace"];

    /// <summary>Settings read by the Functions platform or host, not by the app's code.</summary>
    private static readonly Regex PlatformSetting = PlatformSettingPattern();

    /// <summary>Settings whose values are secrets: only Key Vault references may supply them.</summary>
    private static readonly string[] Secrets = ["Chain__OperatorKey", "Chain__RegistrarKey", "Notifications__SecretKey", "Market__OperatorApiKeyHash"];

    [Fact]
    public async Task Templates_CompileAndLintWithoutAnyDiagnostic()
    {
        // The linter reports warnings (unused parameters, hard-coded URLs, ...) with exit code 0: any output fails.
        var lint = await Bicep.RunAsync("lint", "--pattern", "**/*.bicep");
        Assert.True(lint.Exit == 0 && lint.Output + lint.Errors == "", $"bicep lint: {lint.Output}{lint.Errors}");
        var build = await Bicep.RunAsync("build", "main.bicep", "--stdout");
        Assert.True(build.Exit == 0 && build.Errors == "", build.Errors);
        Assert.Equal(["functionapp", "identity", "keyvault", "monitoring", "servicebus", "storage"],
            JsonDocument.Parse(build.Output).RootElement.GetProperty("resources").EnumerateArray()
                .Where(r => r.GetProperty("type").GetString() == "Microsoft.Resources/deployments")
                .Select(r => r.GetProperty("name").GetString()!).Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Bicep.Environments), MemberType = typeof(Bicep))]
    public async Task ParameterFile_GivesEveryRequiredParameter(string environment)
    {
        // build-params refuses a file that misses a parameter without a default or gives one of the wrong type.
        var build = await Bicep.RunAsync("build-params", $"{environment}.bicepparam", "--stdout");

        Assert.True(build.Exit == 0 && build.Errors == "", build.Errors);
        var parameters = JsonDocument.Parse(JsonDocument.Parse(build.Output).RootElement.GetProperty("parametersJson").GetString()!)
            .RootElement.GetProperty("parameters");
        Assert.Equal(environment, parameters.GetProperty("environmentName").GetProperty("value").GetString());
    }

    [Fact]
    public void AppSettings_DefineEverySettingTheAppReads()
    {
        var defined = Bicep.AppSettings().Keys.ToHashSet(StringComparer.Ordinal);

        var missing = SettingsTheAppReads().Where(s => !defined.Contains(s)).ToList();

        Assert.True(missing.Count == 0, "not in modules/functionapp.bicep: " + string.Join(", ", missing));
    }

    [Fact]
    public void AppSettings_DefineNothingTheAppDoesNotRead()
    {
        var read = SettingsTheAppReads().ToHashSet(StringComparer.Ordinal);

        var unknown = Bicep.AppSettings().Keys.Where(s => !read.Contains(s) && !PlatformSetting.IsMatch(s)).ToList();

        Assert.True(unknown.Count == 0, "read by nothing: " + string.Join(", ", unknown));
    }

    [Fact]
    public void SettingsTheAppReads_IncludeEachOptionsSectionAndTheChainSettings()
    {
        // Guards the derivation below: a pattern that found nothing would make the coverage tests pass vacuously.
        var read = SettingsTheAppReads();

        Assert.Contains("Chain__RpcUrl", read);
        Assert.Contains("Chain__ChainId", read);
        Assert.Contains("Chain__SettlementContract", read);
        Assert.Contains("Chain__Confirmations", read);
        Assert.Contains("Notifications__SecretKey", read);
        foreach (var section in new[] { "Market", "GateCycle", "DurableTask", "Limits", "Retention" })
            Assert.Contains(read, s => s.StartsWith(section + "__", StringComparison.Ordinal));
        Assert.DoesNotContain(read, s => s.StartsWith("LocalTriggers__", StringComparison.Ordinal));
    }

    [Fact]
    public void Secrets_AreKeyVaultReferencesOnly()
    {
        var settings = Bicep.AppSettings();
        var secretVar = Regex.Match(Bicep.FunctionApp, @"var secret = \{(.*?)\n\}", RegexOptions.Singleline).Groups[1].Value;

        foreach (var name in Secrets)
        {
            var value = Regex.Match(settings[name], @"^secret\.(\w+)$");
            Assert.True(value.Success, $"{name} = {settings[name]}: not a Key Vault reference");
            Assert.Matches($@"\b{value.Groups[1].Value}: '@Microsoft\.KeyVault\(VaultName=\$\{{keyVaultName\}};SecretName=[a-z0-9-]+\)'", secretVar);
        }
        Assert.True(Secrets.All(SettingsTheAppReads().Contains));
    }

    [Fact]
    public void Templates_HoldNoSecretValueAndNoAccountKey()
    {
        string[] forbidden = ["AccountKey=", "SharedAccessKey", "listKeys(", "listConnectionStrings(", "InstrumentationKey=", "Storage__ConnectionString", "AzureWebJobsStorage:"];
        foreach (var file in Directory.GetFiles(Bicep.Folder, "*", SearchOption.AllDirectories).Where(f => !f.EndsWith(".md", StringComparison.Ordinal)))
        {
            var text = File.ReadAllText(file);
            foreach (var word in forbidden) Assert.False(text.Contains(word, StringComparison.OrdinalIgnoreCase), $"{file} contains {word}");
            Assert.False(SecretShaped().IsMatch(text), $"{file} holds a private key or key-shaped value: {SecretShaped().Match(text).Value}");
        }
        var text2 = Bicep.FunctionApp + File.ReadAllText(Path.Combine(Bicep.Folder, "modules", "storage.bicep"))
            + File.ReadAllText(Path.Combine(Bicep.Folder, "modules", "servicebus.bicep")) + File.ReadAllText(Path.Combine(Bicep.Folder, "modules", "monitoring.bicep"));
        Assert.Contains("allowSharedKeyAccess: false", text2);
        Assert.Contains("disableLocalAuth: true", text2);
        Assert.Contains("DisableLocalAuth: true", text2);
    }

    [Fact]
    public void ServiceBusQueues_AreEveryQueueTheAppUses()
    {
        var main = File.ReadAllText(Path.Combine(Bicep.Folder, "main.bicep"));
        var declared = Regex.Matches(Regex.Match(main, @"queues: \[(.*?)\]").Groups[1].Value, "'([^']+)'").Select(m => m.Groups[1].Value);

        // The app creates its tables, blob containers, storage queues and task hub itself (it holds the Data Contributor
        // roles); Service Bus queues it cannot create (Data Sender/Receiver only), so the template must.
        var used = LocalTriggerDriver.QueueTriggers().Select(q => q.Queue).Append(RequestEvents.Queue).Distinct();
        Assert.Equal(used.Order(StringComparer.Ordinal), declared.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task RoleAssignments_AreExactlyTheDataRolesTheAppsCallsNeed()
    {
        var build = await Bicep.RunAsync("build", "main.bicep", "--stdout");
        var granted = RoleId().Matches(build.Output).Select(m => m.Groups[1].Value).ToHashSet(StringComparer.Ordinal);

        // Each data-plane client the app (AzureClients) or the platform uses as the identity, and the least role for it.
        var needed = new Dictionary<string, string>
        {
            ["0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"] = "Storage Table Data Contributor: market tables, task hub tables (created at start)",
            ["974c5e8b-45b9-4653-ba55-5f855dd0fb88"] = "Storage Queue Data Contributor: task hub queues, storage queues",
            ["ba92f5b4-2d11-453d-a403-e96b0029c9fe"] = "Storage Blob Data Contributor: signer lease and journal, documents, task hub leases, host state, the package",
            ["69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"] = "Azure Service Bus Data Sender: the outbox sends request events",
            ["4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"] = "Azure Service Bus Data Receiver: the RequestEvents trigger",
            ["4633458b-17de-408a-b874-0445c86b69e6"] = "Key Vault Secrets User: the Key Vault references",
            ["3913510d-42f4-4e42-8a64-420c390055eb"] = "Monitoring Metrics Publisher: telemetry with Entra ID",
        };
        Assert.Equal(needed.Keys.Order(StringComparer.Ordinal), granted.Order(StringComparer.Ordinal));
    }

    /// <summary>
    /// Every setting the app reads, as an app setting name: each property of each options class the app binds
    /// (<c>AddOptions&lt;T&gt;().BindConfiguration("Section")</c> in functions/), and the identity-based connections.
    /// </summary>
    private static IReadOnlyList<string> SettingsTheAppReads()
    {
        var assembly = typeof(TriggersApi).Assembly;
        var settings = new List<string>(IdentityConnections);
        foreach (var file in Directory.GetFiles(Path.Combine(RepoPaths.Root, "functions"), "*.cs", SearchOption.AllDirectories)
                     .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)))
            foreach (Match m in OptionsBinding().Matches(File.ReadAllText(file)))
            {
                var section = m.Groups[2].Value;
                if (NotForAzure.ContainsKey(section)) continue;
                var type = assembly.GetTypes().Single(t => t.Name == m.Groups[1].Value);
                settings.AddRange(type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.SetMethod?.IsPublic == true)
                    .Select(p => $"{section}__{p.Name}").Where(s => !NotForAzure.ContainsKey(s)));
            }
        return settings.Distinct().ToList();
    }

    [GeneratedRegex(@"AddOptions<(\w+)>\(\)\s*\.BindConfiguration\(""(\w+)""\)")]
    private static partial Regex OptionsBinding();

    [GeneratedRegex(@"^(FUNCTIONS_|WEBSITE_|APPLICATIONINSIGHTS_|AzureWebJobsStorage__|ServiceBusConnection__(credential|clientId)$)")]
    private static partial Regex PlatformSettingPattern();

    /// <summary>A literal GUID: in the compiled templates only role definition ids are (names come from guid()).</summary>
    [GeneratedRegex(@"\b([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")]
    private static partial Regex RoleId();

    /// <summary>A 32-byte hex private key (with or without 0x), or a padded base64 key of 32 bytes or more (storage, SAS, webhook keys).</summary>
    [GeneratedRegex(@"(?<![0-9a-fA-F])(0x)?[0-9a-fA-F]{64}(?![0-9a-fA-F])|[A-Za-z0-9+/]{42,}[A-Za-z0-9+/=]=")]
    private static partial Regex SecretShaped();
}
