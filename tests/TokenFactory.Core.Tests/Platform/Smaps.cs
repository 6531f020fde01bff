namespace TokenFactory.Tests.Platform;

/// <summary>What Linux says of this process's mappings (/proc/self/smaps).</summary>
internal static class Smaps
{
    /// <summary>The <c>VmFlags</c> of the mapping in /proc/self/smaps that holds <paramref name="address"/>.</summary>
    public static string[] VmFlags(long address)
    {
        bool inside = false;
        foreach (string line in File.ReadLines("/proc/self/smaps"))
        {
            int dash = line.IndexOf('-');
            int space = line.IndexOf(' ');
            if (dash > 0 && space > dash && long.TryParse(line.AsSpan(0, dash), System.Globalization.NumberStyles.HexNumber, null, out long start)
                && long.TryParse(line.AsSpan(dash + 1, space - dash - 1), System.Globalization.NumberStyles.HexNumber, null, out long end))
                inside = address >= start && address < end;
            else if (inside && line.StartsWith("VmFlags:", StringComparison.Ordinal))
                return line["VmFlags:".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        }
        throw new InvalidOperationException($"No mapping holds 0x{address:x}.");
    }
}
