using System.Diagnostics;

namespace FiberRuntime.Cli.Measure;

/// <summary>Elapsed nanoseconds from the monotonic high-resolution clock.</summary>
internal readonly struct Clock
{
    private readonly long _start;

    private Clock(long start) => _start = start;

    public static Clock Start() => new(Stopwatch.GetTimestamp());

    public double ElapsedNs => (Stopwatch.GetTimestamp() - _start) * (1e9 / Stopwatch.Frequency);
}
