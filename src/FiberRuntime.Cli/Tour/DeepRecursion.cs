using System;
using System.Threading;
using FiberRuntime.Cli.Measure;
using FiberRuntime.Cli.Native;
using FiberRuntime.Cli.Output;

namespace FiberRuntime.Cli.Tour;

/// <summary>
/// Deep recursion on stacks that grow on demand: many fibers each recurse to a random depth at the same
/// time, their stacks committing memory only as deep as they go, and every frame is checked on the way
/// back. The same recursion on OS threads (each with the full stack the OS reserves for it) for comparison.
/// </summary>
internal static class DeepRecursion
{
    public static (Comparison Row, DiveBatchResult Fibers, long ThreadsCorrupted) Run(TourContext ctx)
    {
        long dives = ctx.Settings.Dives;
        IPhase phase = ctx.Board.Begin($"{dives:N0} fibers recursing at once", dives);
        DiveBatchResult fibers = DiveBatch.Run(ctx.Scheduler, dives, ctx.Settings.MaxDepthKib, seed: 2026, phase, ctx.Cancel);
        phase.Finish();
        long threadCount = Math.Min(dives, 500);
        long threadCorrupt = 0;
        double threadNs = ctx.Cancel.IsCancellationRequested ? double.NaN : Threads(threadCount, ctx.Settings.MaxDepthKib, out threadCorrupt);
        var row = new Comparison("deep_recursion", $"recursion to 1-{ctx.Settings.MaxDepthKib} KiB, per dive", "ns",
            fibers.ElapsedNs / Math.Max(fibers.Finished, 1), threadNs, null, HigherIsBetter: false,
            Note: $"{fibers.Finished:N0} fibers at once ({fibers.GrowthFaults:N0} growth faults, peak {fibers.PeakCommitted >> 20} MiB committed, " +
                  $"{fibers.CorruptedFibers} corrupted); {threadCount:N0} threads at once");
        return (row, fibers, threadCorrupt);
    }

    private static double Threads(long count, int maxDepthKib, out long corrupted)
    {
        var random = new Random(2026);
        var depths = new long[count];
        for (long i = 0; i < count; i++)
            depths[i] = random.Next(1, maxDepthKib + 1);
        long bad = 0;
        var threads = new Thread[count];
        var clock = Clock.Start();
        for (long i = 0; i < count; i++)
        {
            long index = i;
            threads[i] = new Thread(() =>
            {
                if (Workloads.DiveOnThread(depths[index], (ulong)index) != depths[index] + 1)
                    Interlocked.Increment(ref bad);
            }) { IsBackground = true };
            threads[i].Start();
        }
        foreach (Thread t in threads)
            t.Join();
        corrupted = bad;
        return clock.ElapsedNs / count;
    }
}
