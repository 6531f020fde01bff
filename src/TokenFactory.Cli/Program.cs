using System.CommandLine;
using TokenFactory.Cli.Commands;
using TokenFactory.Cli.Floor;

namespace TokenFactory.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("TokenFactory: run open-weights GGUF models on your own machines.")
        {
            RunCommand.Create(),
            InspectCommand.Create(),
            TokenizeCommand.Create(),
            SynthCommand.Create(),
            ServeCommand.Create(),
            TeamsCommand.Create(),
            KeysCommand.Create(),
            BudgetsCommand.Create(),
            UsageCommand.Create(),
            BenchCommand.Create(BenchServeCommand.Create(), BenchEngineCommand.Create(), BenchModelCommand.Create("model"), BenchFloorCommand.Create()),
        };
        return root.Parse(args).Invoke();
    }
}
