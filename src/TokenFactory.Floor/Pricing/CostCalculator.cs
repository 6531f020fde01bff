using TokenFactory.Engine;

namespace TokenFactory.Floor.Pricing;

/// <summary>
/// Prices a request. Measured: the machine's hourly cost for the engine time it used plus its energy at
/// the electricity price, scaled by PUE. Listed (the model has prices configured): per million tokens.
/// </summary>
public sealed class CostCalculator(PricingOptions options)
{
    private const double JoulesPerKwh = 3.6e6;

    public (double InputUsd, double OutputUsd) Cost(string model, long promptTokens, long cachedPromptTokens, long completionTokens, WorkShare work)
    {
        if (options.Models.TryGetValue(model, out var price))
        {
            long uncached = Math.Max(0, promptTokens - cachedPromptTokens);
            double cachedPrice = price.CachedInputUsdPerMillion ?? price.InputUsdPerMillion;
            return ((uncached * price.InputUsdPerMillion + cachedPromptTokens * cachedPrice) / 1e6, completionTokens * price.OutputUsdPerMillion / 1e6);
        }
        return (Measured(work.PrefillSeconds, work.PrefillJoules), Measured(work.DecodeSeconds, work.DecodeJoules));
    }

    private double Measured(double seconds, double joules) =>
        seconds * options.MachineUsdPerHour / 3600 + joules / JoulesPerKwh * options.UsdPerKwh * options.Pue;

    /// <summary>The most a request can cost: exact for listed prices, the configured reserve rate when measured.</summary>
    public double WorstCase(string model, long promptTokens, long completionTokens)
    {
        if (options.Models.TryGetValue(model, out var price))
            return (promptTokens * price.InputUsdPerMillion + completionTokens * price.OutputUsdPerMillion) / 1e6;
        return (promptTokens + completionTokens) * options.ReserveUsdPerMillionTokens / 1e6;
    }
}
