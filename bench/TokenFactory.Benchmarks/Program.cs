using BenchmarkDotNet.Running;

namespace TokenFactory.Benchmarks;

public static class Program
{
    public static void Main(string[] args)
    {
        if (args is ["tiles", ..])
        {
            TileProbe.Run(args);
            return;
        }
        if (args is ["experts"])
        {
            ExpertDecodeProbe.Run();
            return;
        }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
