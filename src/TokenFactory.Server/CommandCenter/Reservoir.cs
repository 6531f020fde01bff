namespace TokenFactory.Server.CommandCenter;

/// <summary>
/// A uniform sample of at most <see cref="Capacity"/> observations out of however many were offered (Vitter's
/// algorithm R): percentiles of a busy second or minute come from all of it, not from its first requests. Not
/// thread-safe; its owner locks.
/// </summary>
public sealed class Reservoir(int capacity)
{
    private readonly List<double> _values = [];

    public int Capacity { get; } = capacity;

    /// <summary>Observations offered, kept or not.</summary>
    public long Seen { get; private set; }

    /// <summary>The kept observations (in no particular order; <see cref="Percentiles.Of"/> sorts them).</summary>
    public List<double> Values => _values;

    public void Add(double value)
    {
        Seen++;
        if (_values.Count < Capacity)
            _values.Add(value);
        else if (Random.Shared.NextInt64(Seen) is var slot && slot < Capacity)
            _values[(int)slot] = value;
    }

    public void AddRange(List<double> values)
    {
        foreach (double v in values)
            Add(v);
    }

    public void Clear()
    {
        _values.Clear();
        Seen = 0;
    }
}
