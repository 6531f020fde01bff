namespace TokenFactory.Server.Hosting;

/// <summary>What the server serves: the file, the id clients use, and how it was chosen (for the startup log).</summary>
public sealed record ModelSource(string Path, string Name, string Description)
{
    /// <summary>
    /// Whether <paramref name="requested"/> names this model: the served name, the file name, or the file name
    /// without its extension, ignoring case (clients often copy the file name).
    /// </summary>
    public bool Matches(string requested) =>
        string.Equals(requested, Name, StringComparison.OrdinalIgnoreCase)
        || string.Equals(requested, System.IO.Path.GetFileName(Path), StringComparison.OrdinalIgnoreCase)
        || string.Equals(requested, System.IO.Path.GetFileNameWithoutExtension(Path), StringComparison.OrdinalIgnoreCase);
}
