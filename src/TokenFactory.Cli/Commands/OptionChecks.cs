using System.CommandLine;

namespace TokenFactory.Cli.Commands;

/// <summary>
/// Checks System.CommandLine runs while it parses, so a bad value is one line naming the option before anything starts,
/// instead of an exception from deep inside (a port Kestrel rejects) or an error after minutes of work (a results file
/// that cannot be written once a benchmark has run).
/// </summary>
internal static class OptionChecks
{
    /// <summary>A TCP port: 0 to 65535 (0: any free port, which tests and scripts use).</summary>
    public static T Port<T>(this T option) where T : Option<int?>
    {
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int?>() is int port && port is < 0 or > 65535)
                result.AddError($"{option.Name} must be a port from 0 to 65535 (0: any free one), got {port}.");
        });
        return option;
    }

    /// <summary>At least <paramref name="min"/>.</summary>
    public static Option<int> AtLeast(this Option<int> option, int min)
    {
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < min)
                result.AddError($"{option.Name} must be at least {min}, got {result.GetValueOrDefault<int>()}.");
        });
        return option;
    }

    /// <summary>A file the command will write: not a directory, in a folder that exists.</summary>
    public static Option<string?> WritableFile(this Option<string?> option)
    {
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string?>() is not { Length: > 0 } path)
                return;
            if (Directory.Exists(path))
                result.AddError($"{option.Name} {path} is a directory; give a file name.");
            else if (Path.GetDirectoryName(Path.GetFullPath(path)) is { } folder && !Directory.Exists(folder))
                result.AddError($"{option.Name} {path}: the folder {folder} does not exist.");
        });
        return option;
    }
}
