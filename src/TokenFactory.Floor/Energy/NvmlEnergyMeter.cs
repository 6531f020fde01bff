using System.Runtime.InteropServices;
using TokenFactory.Engine;

namespace TokenFactory.Floor.Energy;

/// <summary>
/// NVIDIA GPUs' total energy counters (millijoules since driver load, Volta and newer) through NVML,
/// loaded at run time from <c>libnvidia-ml.so.1</c> so machines without a driver simply have no meter.
/// </summary>
public sealed unsafe class NvmlEnergyMeter : IEnergyMeter
{
    private const int Success = 0;
    private readonly delegate* unmanaged<nint, ulong*, int> _getEnergy;
    private readonly nint[] _devices;
    private readonly ulong[] _start;

    private NvmlEnergyMeter(delegate* unmanaged<nint, ulong*, int> getEnergy, nint[] devices, ulong[] start)
    {
        _getEnergy = getEnergy;
        _devices = devices;
        _start = start;
    }

    public bool IsEstimated => false;
    public string Source => "nvml";
    public int DeviceCount => _devices.Length;

    /// <summary>The meter over every GPU that reports energy, or null (no library, no GPU, or an older GPU).</summary>
    public static NvmlEnergyMeter? TryOpen()
    {
        if (!NativeLibrary.TryLoad("libnvidia-ml.so.1", out var lib))
            return null;
        if (!NativeLibrary.TryGetExport(lib, "nvmlInit_v2", out var init)
            || !NativeLibrary.TryGetExport(lib, "nvmlDeviceGetCount_v2", out var count)
            || !NativeLibrary.TryGetExport(lib, "nvmlDeviceGetHandleByIndex_v2", out var byIndex)
            || !NativeLibrary.TryGetExport(lib, "nvmlDeviceGetTotalEnergyConsumption", out var energy))
            return null;
        if (((delegate* unmanaged<int>)init)() != Success)
            return null;
        uint n;
        if (((delegate* unmanaged<uint*, int>)count)(&n) != Success || n == 0)
            return null;
        var getEnergy = (delegate* unmanaged<nint, ulong*, int>)energy;
        var devices = new List<nint>();
        var start = new List<ulong>();
        for (uint i = 0; i < n; i++)
        {
            nint device;
            ulong mj;
            if (((delegate* unmanaged<uint, nint*, int>)byIndex)(i, &device) == Success && getEnergy(device, &mj) == Success)
            {
                devices.Add(device);
                start.Add(mj);
            }
        }
        return devices.Count == 0 ? null : new NvmlEnergyMeter(getEnergy, [.. devices], [.. start]);
    }

    public double ReadJoules()
    {
        double joules = 0;
        for (int i = 0; i < _devices.Length; i++)
        {
            ulong mj;
            if (_getEnergy(_devices[i], &mj) == Success && mj >= _start[i])
                joules += (mj - _start[i]) / 1000.0;
        }
        return joules;
    }
}
