using System;
using System.Collections.Generic;
using System.Threading;
using System.Threading.Tasks;
using FiberRuntime.Cli.Measure;
using FiberRuntime.Cli.Native;
using FiberRuntime.Cli.Output;

namespace FiberRuntime.Cli.Tour;

/// <summary>
/// How many can be alive at once, and what each costs while it waits: parked fibers, OS threads blocked
/// on an event, and async Tasks awaiting one. Each side starts up to its bound (or until the system says
/// no), everything is confirmed started and waiting, resident memory is read, then all are released.
/// </summary>
internal static class AliveAtOnce
{
    public sealed record Side(long Alive, double ResidentPerItem, double StartNsPerItem, long NewMappings, string StoppedBy);

    public static (Comparison Count, Comparison Memory, Side Fibers, Side Threads, Side Tasks) Run(TourContext ctx)
    {
        Side fibers = Fibers(ctx);
        Side tasks = ctx.Cancel.IsCancellationRequested ? Empty : Tasks(ctx);
        Side threads = ctx.Cancel.IsCancellationRequested ? Empty : Threads(ctx);
        var count = new Comparison("alive_at_once", "alive at once (up to the bound)", "count",
            fibers.Alive, threads.Alive, tasks.Alive, HigherIsBetter: true,
            Note: Stops(fibers, threads));
        var memory = new Comparison("resident_per_parked", "resident memory per parked one", "bytes",
            fibers.ResidentPerItem, threads.ResidentPerItem, tasks.ResidentPerItem, HigherIsBetter: false,
            Note: $"fibers added {fibers.NewMappings} mappings, threads {threads.NewMappings}");
        return (count, memory, fibers, threads, tasks);
    }

    private static readonly Side Empty = new(0, double.NaN, double.NaN, 0, "interrupted");

    private static string Stops(Side fibers, Side threads)
    {
        var parts = new List<string>();
        if (fibers.StoppedBy.Length > 0)
            parts.Add("fibers stopped by: " + fibers.StoppedBy);
        if (threads.StoppedBy.Length > 0)
            parts.Add("threads stopped by: " + threads.StoppedBy);
        return parts.Count == 0 ? "both reached the bound (raise it with --fibers / --threads)" : string.Join("; ", parts);
    }

    private static unsafe Side Fibers(TourContext ctx)
    {
        long bound = ctx.Settings.Fibers;
        IPhase phase = ctx.Board.Begin($"{bound:N0} parked fibers", bound);
        using var started = new WaitGroup();
        using var release = new Channel<byte>(0);
        using var group = new NativeArray<ParkGroup>(1);
        group[0] = new ParkGroup { Started = started.NativeHandle, Release = release.NativeHandle };
        var handles = new List<Fiber>((int)Math.Min(bound, int.MaxValue));

        long rssBefore = ProcessMemory.ResidentBytes();
        long mapsBefore = ProcessMemory.Mappings();
        var clock = Clock.Start();
        string stoppedBy = "";
        while (handles.Count < bound)
        {
            if (ctx.Cancel.IsCancellationRequested) { stoppedBy = "interrupted"; break; }
            started.Add(1);
            try
            {
                handles.Add(ctx.Scheduler.Spawn(Workloads.Park, group.Address(0)));
            }
            catch (Exception e) when (e is OutOfMemoryException or InvalidOperationException)
            {
                started.Add(-1);
                stoppedBy = e.Message;
                break;
            }
            if ((handles.Count & 4095) == 0)
                phase.Report(handles.Count);
        }
        // Every fiber has run up to its park: what is resident now is what parked fibers cost.
        started.Wait();
        double elapsed = clock.ElapsedNs;
        long rssAfter = ProcessMemory.ResidentBytes();
        long mapsAfter = ProcessMemory.Mappings();
        release.Close();
        foreach (Fiber f in handles)
            f.Join();
        phase.Finish();
        long alive = handles.Count;
        return new Side(alive, PerItem(rssAfter - rssBefore, alive), elapsed / Math.Max(alive, 1), mapsAfter - mapsBefore, stoppedBy);
    }

    private static Side Threads(TourContext ctx)
    {
        long bound = ctx.Settings.Threads;
        IPhase phase = ctx.Board.Begin($"{bound:N0} blocked OS threads", bound);
        using var gate = new ManualResetEventSlim(false, spinCount: 0);
        using var running = new CountdownEvent(1);
        var threads = new List<Thread>();
        long rssBefore = ProcessMemory.ResidentBytes();
        long mapsBefore = ProcessMemory.Mappings();
        var clock = Clock.Start();
        string stoppedBy = "";
        while (threads.Count < bound)
        {
            if (ctx.Cancel.IsCancellationRequested) { stoppedBy = "interrupted"; break; }
            running.AddCount();
            var t = new Thread(() =>
            {
                running.Signal();
                gate.Wait();
            }) { IsBackground = true };
            try
            {
                t.Start();
            }
            catch (Exception e) when (e is OutOfMemoryException or ThreadStartException or InvalidOperationException)
            {
                running.Signal();
                stoppedBy = e.Message;
                break;
            }
            threads.Add(t);
            if ((threads.Count & 255) == 0)
                phase.Report(threads.Count);
        }
        running.Signal();
        running.Wait();
        double elapsed = clock.ElapsedNs;
        long rssAfter = ProcessMemory.ResidentBytes();
        long mapsAfter = ProcessMemory.Mappings();
        gate.Set();
        foreach (Thread t in threads)
            t.Join();
        phase.Finish();
        long alive = threads.Count;
        return new Side(alive, PerItem(rssAfter - rssBefore, alive), elapsed / Math.Max(alive, 1), mapsAfter - mapsBefore, stoppedBy);
    }

    private static Side Tasks(TourContext ctx)
    {
        long bound = ctx.Settings.Fibers;
        IPhase phase = ctx.Board.Begin($"{bound:N0} awaiting async Tasks", bound);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var tasks = new List<Task>((int)Math.Min(bound, int.MaxValue));
        long rssBefore = ProcessMemory.ResidentBytes();
        var clock = Clock.Start();
        string stoppedBy = "";
        while (tasks.Count < bound)
        {
            if (ctx.Cancel.IsCancellationRequested) { stoppedBy = "interrupted"; break; }
            tasks.Add(Await(gate.Task));
            if ((tasks.Count & 4095) == 0)
                phase.Report(tasks.Count);
        }
        // An async method that awaits an incomplete task has returned to its caller with its state boxed
        // on the heap: that box is all a waiting Task holds.
        double elapsed = clock.ElapsedNs;
        long rssAfter = ProcessMemory.ResidentBytes();
        gate.SetResult();
        Task.WaitAll(tasks);
        phase.Finish();
        long alive = tasks.Count;
        return new Side(alive, PerItem(rssAfter - rssBefore, alive), elapsed / Math.Max(alive, 1), 0, stoppedBy);
    }

    private static async Task Await(Task gate) => await gate.ConfigureAwait(false);

    private static double PerItem(long bytes, long count) => count > 0 && bytes >= 0 ? (double)bytes / count : double.NaN;
}
