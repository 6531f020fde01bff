using System.CommandLine;
using TokenFactory.Planning;

namespace TokenFactory.Cli.Planning;

/// <summary>
/// <c>plan published</c>: the planner's prediction for each published result in its catalog (MLPerf Inference rows:
/// same model, devices, precision, lengths, and the server scenario's latency limits) beside the published figure.
/// </summary>
internal static class PlanPublishedCommand
{
    public static Command Create()
    {
        var cmd = new Command("published", "Predict the published results in the catalog (MLPerf rows) and print the errors");
        cmd.SetAction(_ =>
        {
            Console.WriteLine("| row | model | hardware × devices | precision | ISL/OSL | published tok/s/GPU | predicted | error | chosen TP(×EP), batch |");
            Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
            var errors = new List<double>();
            foreach (var row in PublishedResult.All())
            {
                var p = row.Predict();
                double error = p.TokensPerSecondPerDevice / row.TokensPerSecondPerDevice - 1;
                if (p.TensorParallel > 0)
                    errors.Add(Math.Abs(error));
                Console.WriteLine($"| {row.Id} | {row.Model} | {row.Hardware} × {row.Devices} | {row.Precision} | {row.Isl}/{row.Osl} | {row.TokensPerSecondPerDevice:N0} | " +
                    (p.TensorParallel > 0 ? $"{p.TokensPerSecondPerDevice:N0} | {error:+0%;-0%;0%} | TP{p.TensorParallel}{(p.ExpertParallel > 1 ? $"×EP{p.ExpertParallel}" : "")}, {p.Concurrency} |" : $"— | — | {p.Why} |"));
            }
            Console.WriteLine($"within 25 %: {errors.Count(e => e <= 0.25)} of {errors.Count}; median |error| {errors.Order().ElementAt(errors.Count / 2):P0}");
            return 0;
        });
        return cmd;
    }
}
