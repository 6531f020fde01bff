namespace TokenFactory.Tests;

/// <summary>Locates the repository and the read-only ../shared folder beside it.</summary>
public static class TestPaths
{
    public static string RepoRoot { get; } = FindRoot();

    public static string Shared => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared"));

    public static string Models => Path.Combine(Shared, "models");

    public static string Stories260K => Path.Combine(Models, "stories260K.gguf");

    public static string TinyRandomLlama => Path.Combine(Models, "llama-2-tiny-random.gguf");

    public static string TokenizerFixtures => Path.Combine(Shared, "fixtures", "tokenizers");

    public static string Vocab(string name) => Path.Combine(TokenizerFixtures, $"ggml-vocab-{name}.gguf");

    /// <summary>Fixtures committed with the tests (copied next to the test assembly).</summary>
    public static string Fixture(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "Fixtures", .. parts]);

    /// <summary>A scratch directory for files a test writes; removed by the OS tmp cleaner, unique per call.</summary>
    public static string TempDir()
    {
        var dir = Path.Combine(Path.GetTempPath(), "tokenfactory-tests", Guid.NewGuid().ToString("N")[..12]);
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
