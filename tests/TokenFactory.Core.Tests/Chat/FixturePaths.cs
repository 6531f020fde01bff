namespace TokenFactory.Tests.Chat;

/// <summary>Locates <c>../shared/fixtures/chat-templates</c> relative to the repository root.</summary>
internal static class FixturePaths
{
    public static string? ChatTemplates { get; } = Find();

    private static string? Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (!File.Exists(Path.Combine(dir.FullName, "TokenFactory.sln"))) continue;
            var path = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "fixtures", "chat-templates"));
            return Directory.Exists(path) ? path : null;
        }
        return null;
    }
}
