namespace TokenFactory.Floor.Identity;

/// <summary>
/// The service classes a fleet schedules by, each with its own latency targets: <c>interactive</c> (people waiting),
/// <c>standard</c> (the default) and <c>batch</c> (fills what the others leave). A key or team is assigned one; a
/// request may ask for a lower one, never a higher.
/// </summary>
public static class PriorityClasses
{
    public const string Interactive = "interactive";
    public const string Standard = "standard";
    public const string Batch = "batch";

    /// <summary>Highest first.</summary>
    public static readonly IReadOnlyList<string> All = [Interactive, Standard, Batch];

    public static bool IsKnown(string? name) => name is not null && All.Contains(name);

    /// <summary>0 for the highest class.</summary>
    public static int Rank(string name) => All.IndexOf(name) is var i and >= 0 ? i : throw new ArgumentException($"unknown priority class '{name}'", nameof(name));

    /// <summary>The class a caller is entitled to: its key's, else its team's, else standard.</summary>
    public static string Of(Caller caller) => caller.Key?.Priority ?? caller.Team?.Priority ?? Standard;

    private static int IndexOf(this IReadOnlyList<string> list, string name)
    {
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i] == name)
                return i;
        }
        return -1;
    }
}
