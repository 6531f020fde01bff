using System.CommandLine;
using TokenFactory.Cli.Commands;
using TokenFactory.Cli.Fleet;
using TokenFactory.Cli.Floor;
using TokenFactory.Platform;

namespace TokenFactory.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        // Before any command loads a model or runs a kernel: they read these once, and then they are fixed.
        try
        {
            KernelOptions.Apply(KernelSettings.FromEnvironment());
        }
        catch (TokenFactoryException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 1;
        }
        return CreateRootCommand().Parse(args).Invoke();
    }

    /// <summary>Every command and option; tests parse deployment manifests' command lines with it.</summary>
    public static RootCommand CreateRootCommand() =>
        new("TokenFactory: run open-weights GGUF models on your own machines.")
        {
            RunCommand.Create(),
            InspectCommand.Create(),
            TokenizeCommand.Create(),
            SynthCommand.Create(),
            PlanCommand.Create(),
            ServeCommand.Create(),
            RouteCommand.Create(),
            TeamsCommand.Create(),
            KeysCommand.Create(),
            BudgetsCommand.Create(),
            UsageCommand.Create(),
            BenchCommand.Create(BenchServeCommand.Create(), BenchEngineCommand.Create(), BenchModelCommand.Create("model"), BenchFloorCommand.Create(), BenchFleetCommand.Create(), BenchStructuredCommand.Create(), BenchEmbeddingsCommand.Create(), Planning.PlanCheckCommand.Create("planner")),
            FactoryCommand.Create(),
        };
}
