using System.CommandLine;

namespace TokenFactory.Cli.Commands;

/// <summary><c>tokenfactory bench</c>: the parent of the benchmark commands; each adds itself with <see cref="Add"/>.</summary>
internal static class BenchCommand
{
    public static Command Create(params Command[] subcommands)
    {
        var cmd = new Command("bench", "Benchmarks: serving throughput and latency, and the engine itself");
        foreach (var sub in subcommands)
            Add(cmd, sub);
        return cmd;
    }

    public static Command Add(Command bench, Command subcommand)
    {
        bench.Subcommands.Add(subcommand);
        return bench;
    }
}
