namespace TokenFactory.Server.Tests.Infrastructure;

/// <summary>Locates the repository and the read-only ../shared folder beside it (same idea as the core tests' TestPaths).</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRoot();

    public static string Shared => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    public static string Stories260K => Path.Combine(Shared, "models", "stories260K.gguf");

    public static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "tokenfactory-server-tests", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "TokenFactory.sln")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Cannot find TokenFactory.sln above " + AppContext.BaseDirectory);
    }
}
