using System;
using System.Threading;
using FiberRuntime.Cli.Measure;
using FiberRuntime.Cli.Output;

namespace FiberRuntime.Cli.Native;

/// <summary>What a batch of dives did.</summary>
internal sealed record DiveBatchResult(
    long Fibers,
    long Finished,
    long CorruptedFibers,
    long CorruptedFrames,
    long DeepestFrames,
    long GrowthFaults,
    long LargestCommitted,
    long PeakCommitted,
    long PeakResident,
    double ElapsedNs,
    long Migrated);

/// <summary>
/// Runs many dives (native/workloads/dive.c) at once on the scheduler: each fiber recurses to its own
/// random depth, yielding every 16 frames so that all of them are mid-recursion together, growing their
/// stacks on fault, and checks every frame on the way back. The stress command and the tour share it.
/// </summary>
internal static class DiveBatch
{
    /// <summary>A stack limit with room for <paramref name="maxDepthKib"/> frames and their overhead.</summary>
    public static long StackLimitFor(int maxDepthKib) =>
        Math.Max(1L << 20, ((long)maxDepthKib * 5 / 4 + 64) * 1024);

    public static unsafe DiveBatchResult Run(FiberScheduler scheduler, long fibers, int maxDepthKib, ulong seed,
                                             IPhase? phase, CancellationToken cancel)
    {
        using var dives = new NativeArray<DiveData>(fibers);
        using var done = new WaitGroup();
        var options = new FiberOptions { StackSize = StackLimitFor(maxDepthKib) };
        var random = new Random(unchecked((int)seed));
        long peakCommitted = 0, peakResident = 0;
        var clock = Clock.Start();
        long spawned = 0;
        for (; spawned < fibers && !cancel.IsCancellationRequested; spawned++)
        {
            ref DiveData d = ref dives[spawned];
            d.Depth = random.Next(1, maxDepthKib + 1);
            d.Seed = seed * 0x9E3779B97F4A7C15UL + (ulong)spawned;
            d.YieldEvery = 16;
            d.Done = done.NativeHandle;
            done.Add(1);
            try
            {
                scheduler.SpawnDetached(Workloads.Dive, dives.Address(spawned), options);
            }
            catch
            {
                done.Add(-1);
                throw;
            }
        }
        // Polling only feeds the progress bar and the peaks; completion itself is the wait group's.
        while (!done.Wait(TimeSpan.FromMilliseconds(50)))
        {
            peakCommitted = Math.Max(peakCommitted, Runtime.GetStats().BytesCommitted);
            peakResident = Math.Max(peakResident, ProcessMemory.ResidentBytes());
            phase?.Report(spawned - done.Count);
        }
        double elapsed = clock.ElapsedNs;
        peakCommitted = Math.Max(peakCommitted, Runtime.GetStats().BytesCommitted);

        long corruptedFibers = 0, corruptedFrames = 0, deepest = 0, faults = 0, largest = 0, migrated = 0;
        for (long i = 0; i < spawned; i++)
        {
            DiveData d = dives[i];
            if (!d.Intact)
                corruptedFibers++;
            corruptedFrames += d.CorruptedFrames;
            deepest = Math.Max(deepest, d.Depth);
            faults += (long)d.GrowthFaults;
            largest = Math.Max(largest, (long)d.CommittedBytes);
            if (d.WorkersSeen > 1)
                migrated++;
        }
        return new DiveBatchResult(fibers, spawned, corruptedFibers, corruptedFrames, deepest, faults, largest,
                                   peakCommitted, peakResident, elapsed, migrated);
    }
}
