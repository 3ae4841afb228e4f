namespace FlexChain.Storage;

/// <summary>The parts of a storage connection string that the Table client (and FlexChain.Messaging's queue client) need.</summary>
internal sealed record TableConnectionString(Uri TableEndpoint, string AccountName, string AccountKey)
{
    /// <summary>The Queue service endpoint: <c>QueueEndpoint</c>, or derived like the table endpoint (Azurite: port 10001).</summary>
    internal Uri QueueEndpoint { get; init; } = null!;

    internal const string DevelopmentAccountName = "devstoreaccount1";

    // Azurite's well-known development key; public and documented by Microsoft.
    internal const string DevelopmentAccountKey =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    /// <summary>Parses <c>UseDevelopmentStorage=true</c> or an account-key connection string.</summary>
    /// <exception cref="FormatException">The string is malformed, has no account key, or uses a SAS.</exception>
    internal static TableConnectionString Parse(string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        var parts = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var segment in connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = segment.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
                throw new FormatException("Connection string segments must look like Name=Value.");
            // Values (account keys) may contain '=' padding: split at the first '=' only.
            parts[segment[..eq].Trim()] = segment[(eq + 1)..].Trim();
        }

        if (parts.TryGetValue("UseDevelopmentStorage", out var dev) && dev.Equals("true", StringComparison.OrdinalIgnoreCase))
        {
            var proxy = parts.TryGetValue("DevelopmentStorageProxyUri", out var p) ? new Uri(p) : new Uri("http://127.0.0.1");
            return new TableConnectionString(
                new Uri($"{proxy.Scheme}://{proxy.Host}:10002/{DevelopmentAccountName}"), DevelopmentAccountName, DevelopmentAccountKey)
            {
                QueueEndpoint = new Uri($"{proxy.Scheme}://{proxy.Host}:10001/{DevelopmentAccountName}"),
            };
        }

        if (parts.ContainsKey("SharedAccessSignature"))
            throw new FormatException("SAS connection strings are not supported; use an account key or a TokenCredential.");
        if (!parts.TryGetValue("AccountName", out var account) || account.Length == 0)
            throw new FormatException("The connection string has no AccountName.");
        if (!parts.TryGetValue("AccountKey", out var key) || key.Length == 0)
            throw new FormatException("The connection string has no AccountKey.");

        return new TableConnectionString(Endpoint(parts, "Table", account), account, key) { QueueEndpoint = Endpoint(parts, "Queue", account) };
    }

    /// <summary>The explicit <c>{service}Endpoint</c>, or <c>{protocol}://{account}.{service}.{suffix}</c>.</summary>
    private static Uri Endpoint(Dictionary<string, string> parts, string service, string account)
    {
        if (parts.TryGetValue(service + "Endpoint", out var explicitEndpoint) && explicitEndpoint.Length > 0)
        {
            return Uri.TryCreate(explicitEndpoint, UriKind.Absolute, out var endpoint)
                ? endpoint
                : throw new FormatException($"{service}Endpoint is not an absolute URI.");
        }
        var scheme = parts.TryGetValue("DefaultEndpointsProtocol", out var s) ? s : "https";
        var suffix = parts.TryGetValue("EndpointSuffix", out var x) ? x : "core.windows.net";
        return new Uri($"{scheme}://{account}.{service.ToLowerInvariant()}.{suffix}");
    }
}
