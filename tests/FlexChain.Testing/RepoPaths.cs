namespace FlexChain.Testing;

/// <summary>Locates the repository so tests can find the npm tools and the contracts project.</summary>
public static class RepoPaths
{
    /// <summary>The folder holding FlexChain.sln.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The Hardhat project.</summary>
    public static string Contracts => Path.Combine(Root, "contracts-sol");

    /// <summary>
    /// The app's own build output (functions/FlexChain.Functions/bin/{configuration}/net10.0/FlexChain.Functions.dll) in
    /// the configuration the tests were built in, for tests that run it as a real process.
    /// </summary>
    public static string AppDll
    {
        get
        {
            var framework = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            var path = Path.Combine(Root, "functions", "FlexChain.Functions", "bin", framework.Parent!.Name, framework.Name, "FlexChain.Functions.dll");
            return File.Exists(path) ? path : throw new InvalidOperationException($"{path} is missing: build the solution first.");
        }
    }

    /// <summary>An npm-installed executable, failing with a clear message when the test command was not used.</summary>
    public static string NodeBin(string folder, string tool)
    {
        var path = Path.Combine(folder, "node_modules", ".bin", tool);
        if (!File.Exists(path))
            throw new InvalidOperationException($"{path} is missing: run the test command from README.md (it installs the npm tools).");
        return path;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "FlexChain.sln")))
                return dir.FullName;
        throw new InvalidOperationException("FlexChain.sln not found above " + AppContext.BaseDirectory);
    }
}
