namespace TokenFactory.Engine;

/// <summary>
/// One machine's wall clock and energy meter, shared by the passes that run on it at once. A decoder that also serves
/// embeddings runs its generation steps and its embedding passes on threads of their own, over the same cores: had each read
/// the meter around its own pass, both would be charged the whole machine for the time they overlap (machine-seconds and
/// joules counted twice). Here every interval between one pass starting or ending and the next is split evenly among the
/// passes running in it, since the operating system time-slices the cores between their threads; a lone pass is charged
/// exactly its wall time and the meter's difference, as before. An interval whose meter reading failed charges no energy
/// (as <see cref="EnergyReadings.Between"/>: unknown, not guessed). Thread-safe; a pass allocates nothing.
/// </summary>
public sealed class MeterSharing(IEnergyMeter? meter, TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly Lock _lock = new();
    private readonly List<MeteredPass> _running = [];
    private long _lastTimestamp;
    private double _lastJoules;

    /// <summary>Starts charging <paramref name="pass"/> (one object per engine thread, reused pass after pass).</summary>
    public void Begin(MeteredPass pass)
    {
        lock (_lock)
        {
            if (pass.Running)
                throw new InvalidOperationException("This pass is already metered; end it before beginning it again.");
            Advance();
            pass.Seconds = pass.Joules = 0;
            pass.Running = true;
            _running.Add(pass);
        }
    }

    /// <summary>Stops charging <paramref name="pass"/> and returns its share since <see cref="Begin"/>.</summary>
    public (double Seconds, double Joules) End(MeteredPass pass)
    {
        lock (_lock)
        {
            if (!pass.Running)
                throw new InvalidOperationException("This pass was not begun.");
            Advance();
            _running.Remove(pass);
            pass.Running = false;
            return (pass.Seconds, pass.Joules);
        }
    }

    /// <summary>Charges the interval since the last start or end to the passes running in it, in equal parts.</summary>
    private void Advance()
    {
        long now = _time.GetTimestamp();
        double joules = EnergyReadings.Read(meter);
        if (_running.Count > 0)
        {
            double seconds = _time.GetElapsedTime(_lastTimestamp, now).TotalSeconds / _running.Count;
            double energy = EnergyReadings.Between(_lastJoules, joules) / _running.Count;
            foreach (var pass in _running)
            {
                pass.Seconds += seconds;
                pass.Joules += energy;
            }
        }
        _lastTimestamp = now;
        _lastJoules = joules;
    }
}

/// <summary>A pass's running share of a <see cref="MeterSharing"/>; written under its lock only.</summary>
public sealed class MeteredPass
{
    internal bool Running;
    internal double Seconds, Joules;
}
