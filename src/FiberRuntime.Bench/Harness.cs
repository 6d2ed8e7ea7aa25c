using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Runtime;
using System.Runtime.InteropServices;

namespace FiberRuntime.Bench;

/// <summary>How a figure is set against its reference.</summary>
public enum Comparison
{
    /// <summary>No reference.</summary>
    None,
    /// <summary>Reference time / this time: above 1 means this one does more operations per second.</summary>
    Speedup,
    /// <summary>This time minus the reference time: the cost an operation adds to a baseline.</summary>
    Overhead,
}

/// <summary>One workload: <see cref="Run"/> performs a given number of operations and returns a checksum.</summary>
/// <param name="Id">Short stable name (for --filter, JSON and references).</param>
/// <param name="Description">What one operation is, for the table.</param>
/// <param name="Run">Performs exactly that many operations (a multiple of <paramref name="Granularity"/>).</param>
/// <param name="Expected">The checksum <paramref name="Run"/> must return for a count, or null to skip the check.</param>
/// <param name="Reference">Id of the figure this one is compared with.</param>
/// <param name="Granularity">Operations come in batches of this many (spawn 10,000 then join them).</param>
public sealed record Benchmark(
    string Id,
    string Description,
    Func<long, long> Run,
    Func<long, long>? Expected = null,
    string? Reference = null,
    Comparison Comparison = Comparison.None,
    long Granularity = 1);

/// <summary>The figures of one benchmark: medians over the measured runs.</summary>
public sealed record Result(
    string Group,
    string Id,
    string Description,
    long OperationsPerRun,
    int Runs,
    double MedianNs,
    double MinNs,
    double MaxNs,
    double CpuNsPerOp,
    double VoluntarySwitchesPerOp,
    double InvoluntarySwitchesPerOp,
    string? Reference,
    Comparison Comparison)
{
    public double OperationsPerSecond => 1e9 / MedianNs;
}

/// <summary>Runs benchmarks: warm-up and calibration, then timed runs of a fixed operation count.</summary>
public sealed class Harness
{
    private readonly Settings _settings;
    private readonly Action<string> _progress;

    public Harness(Settings settings, Action<string> progress)
    {
        _settings = settings;
        _progress = progress;
    }

    public Result Measure(string group, Benchmark b)
    {
        // Garbage left by the previous benchmark should not be collected on this one's clock.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();

        long ops = Calibrate(b);
        var perOp = new double[_settings.Runs];
        var cpuPerOp = new double[_settings.Runs];
        var switchesPerOp = new double[_settings.Runs];
        var preemptionsPerOp = new double[_settings.Runs];
        for (int r = 0; r < _settings.Runs; r++)
        {
            Usage before = Usage.Now();
            long start = Stopwatch.GetTimestamp();
            long checksum = b.Run(ops);
            long elapsed = Stopwatch.GetTimestamp() - start;
            Usage after = Usage.Now();
            Check(b, ops, checksum);
            perOp[r] = Nanoseconds(elapsed) / ops;
            cpuPerOp[r] = (after.CpuNs - before.CpuNs) / ops;
            switchesPerOp[r] = (double)(after.VoluntarySwitches - before.VoluntarySwitches) / ops;
            preemptionsPerOp[r] = (double)(after.InvoluntarySwitches - before.InvoluntarySwitches) / ops;
        }
        var result = new Result(group, b.Id, b.Description, ops, _settings.Runs, Median(perOp), perOp.Min(), perOp.Max(),
                                Median(cpuPerOp), Median(switchesPerOp), Median(preemptionsPerOp), b.Reference, b.Comparison);
        _progress($"  {b.Id,-34} {result.MedianNs,12:N1} ns/op  ({ops:N0} ops x {_settings.Runs})");
        return result;
    }

    /// <summary>
    /// Runs the workload with growing counts until the warm-up time is spent, one run lasted long enough to
    /// time, and the JIT compiled nothing during the last run (tiered compilation recompiles hot methods in
    /// the background: measuring before that ends would time tier-0 code); returns the count that fills one
    /// measured run. A workload that keeps the JIT busy is measured anyway after a bounded wait.
    /// </summary>
    private long Calibrate(Benchmark b)
    {
        long ops = b.Granularity;
        double spentNs = 0, lastNs;
        double warmupNs = _settings.WarmupMs * 1e6, targetNs = _settings.TargetMs * 1e6;
        double giveUpNs = Math.Max(1e9, 8 * warmupNs);
        while (true)
        {
            long compiled = JitInfo.GetCompiledMethodCount();
            long start = Stopwatch.GetTimestamp();
            long checksum = b.Run(ops);
            lastNs = Nanoseconds(Stopwatch.GetTimestamp() - start);
            bool jitQuiet = JitInfo.GetCompiledMethodCount() == compiled;
            Check(b, ops, checksum);
            spentNs += lastNs;
            if ((spentNs >= warmupNs && lastNs >= targetNs / 10 && jitQuiet) || spentNs >= giveUpNs)
                break;
            if (lastNs < targetNs / 4)
                ops = RoundUp(Math.Min(ops * 4, (long)(ops * (targetNs / 4) / Math.Max(lastNs, 1)) + 1), b.Granularity);
        }
        long wanted = (long)(ops * (targetNs / Math.Max(lastNs, 1)));
        return Math.Max(b.Granularity, RoundUp(wanted, b.Granularity));
    }

    private static void Check(Benchmark b, long ops, long checksum)
    {
        if (b.Expected is { } expected && expected(ops) != checksum)
            throw new InvalidOperationException($"{b.Id}: {ops} operations gave checksum {checksum}, expected {expected(ops)}");
    }

    private static long RoundUp(long value, long multiple) => Math.Max(multiple, (value + multiple - 1) / multiple * multiple);

    private static double Nanoseconds(long ticks) => ticks * (1e9 / Stopwatch.Frequency);

    internal static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        int mid = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
    }
}

/// <summary>
/// The whole process's CPU time and context switches (all threads): CPU time above wall time shows spinning
/// threads; voluntary switches count sleeps in the kernel (futex waits), the expensive wake-ups; involuntary
/// ones count threads preempted because more wanted to run than there are CPUs (spinners crowding workers).
/// </summary>
internal readonly partial record struct Usage(double CpuNs, long VoluntarySwitches, long InvoluntarySwitches)
{
    public static unsafe Usage Now()
    {
        if (!OperatingSystem.IsLinux())
            return new Usage(double.NaN, 0, 0);
        RUsage u;
        if (getrusage(0 /* RUSAGE_SELF */, &u) != 0)
            return new Usage(double.NaN, 0, 0);
        double cpu = (u.UserSeconds + u.SystemSeconds) * 1e9 + (u.UserMicroseconds + u.SystemMicroseconds) * 1e3;
        return new Usage(cpu, u.VoluntarySwitches, u.InvoluntarySwitches);
    }

    /// <summary>struct rusage on 64-bit Linux: two timevals, then fourteen longs.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct RUsage
    {
        public long UserSeconds, UserMicroseconds, SystemSeconds, SystemMicroseconds;
        public long MaxRss, IxRss, IdRss, IsRss, MinFlt, MajFlt, NSwap, InBlock, OuBlock, MsgSnd, MsgRcv, NSignals;
        public long VoluntarySwitches, InvoluntarySwitches;
    }

    [LibraryImport("libc", EntryPoint = "getrusage")]
    private static unsafe partial int getrusage(int who, RUsage* usage);
}
