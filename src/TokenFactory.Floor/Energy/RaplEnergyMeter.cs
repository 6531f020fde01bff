using System.Globalization;
using Microsoft.Win32.SafeHandles;
using TokenFactory.Engine;

namespace TokenFactory.Floor.Energy;

/// <summary>
/// Linux RAPL package counters (<c>/sys/class/powercap/intel-rapl:N/energy_uj</c>; AMD's driver uses the
/// same names). Only top-level packages are summed: their sub-zones (cores, dram) are parts of them. Each
/// counter wraps at <c>max_energy_range_uj</c>, so readings accumulate deltas and add the range on a wrap.
/// </summary>
public sealed class RaplEnergyMeter : IEnergyMeter, IDisposable
{
    private readonly Zone[] _zones;
    private readonly Lock _lock = new();
    private double _joules;

    private RaplEnergyMeter(Zone[] zones) => _zones = zones;

    public bool IsEstimated => false;
    public string Source => "rapl";
    public int ZoneCount => _zones.Length;

    /// <summary>The meter, or null when no package counter is readable (absent, or root-only as on most kernels since 2020).</summary>
    public static RaplEnergyMeter? TryOpen(string root = "/sys/class/powercap")
    {
        if (!Directory.Exists(root))
            return null;
        var zones = new List<Zone>();
        foreach (string dir in Directory.EnumerateDirectories(root, "intel-rapl:*").Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(dir);
            if (name.Count(c => c == ':') != 1)
                continue; // a sub-zone such as intel-rapl:0:0
            try
            {
                var handle = File.OpenHandle(Path.Combine(dir, "energy_uj"));
                long range = long.Parse(File.ReadAllText(Path.Combine(dir, "max_energy_range_uj")).Trim(), CultureInfo.InvariantCulture);
                var zone = new Zone(handle, range);
                zone.Last = zone.Read();
                zones.Add(zone);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
            {
                // unreadable zone: skip it
            }
        }
        if (zones.Count == 0)
            return null;
        return new RaplEnergyMeter([.. zones]);
    }

    public double ReadJoules()
    {
        lock (_lock)
        {
            foreach (var zone in _zones)
            {
                long now = zone.Read();
                long delta = now - zone.Last;
                if (delta < 0)
                    delta += zone.Range; // wrapped
                zone.Last = now;
                _joules += delta / 1e6;
            }
            return _joules;
        }
    }

    public void Dispose()
    {
        foreach (var zone in _zones)
            zone.Handle.Dispose();
    }

    private sealed class Zone(SafeFileHandle handle, long range)
    {
        private readonly byte[] _buffer = new byte[32];
        public SafeFileHandle Handle { get; } = handle;
        public long Range { get; } = range;
        public long Last { get; set; }

        /// <summary>pread at offset 0 re-reads a sysfs attribute without reopening it (a few microseconds).</summary>
        public long Read()
        {
            int n = RandomAccess.Read(Handle, _buffer, 0);
            return long.Parse(System.Text.Encoding.ASCII.GetString(_buffer, 0, n).Trim(), CultureInfo.InvariantCulture);
        }
    }
}
