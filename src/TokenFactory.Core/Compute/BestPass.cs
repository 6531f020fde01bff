namespace TokenFactory.Compute;

/// <summary>
/// The best of several timed passes of a probe, as a rate: on a shared machine a pass runs slow for reasons of its own
/// (neighbours, the first passes after other work), never fast, so the fastest is the reading.
/// </summary>
internal static class BestPass
{
    public static double Of(int passes, Func<double> pass)
    {
        double best = 0;
        for (int p = 0; p < passes; p++)
            best = Math.Max(best, pass());
        return best;
    }
}
